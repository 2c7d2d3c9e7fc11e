// The seam between the console and the service: everything the page knows arrives through one
// object with these methods, so the page runs on the service (LiveSource, the default) or on a
// recorded fixture (FakeSource, ?source=fake) without changing anything else.
//
//   connect(onEvent)              -> Promise<close()>  delivers {seq, type, data} events
//   login(party, official, signer) -> Promise<{party, official}>
//       signer = {sign(bytes: Uint8Array) -> Promise<Uint8Array>, publicKey: raw 32 bytes}: the
//       official's Ed25519 key. The source signs the service's challenge with it, and keeps it
//       for the session's statements (acknowledgements, messages), which the service records as
//       signed by their author.
//   acknowledge(kind, id, text)   -> Promise<void>      kind: "alert" | "hotline"
//   send(message)                 -> Promise<string>    {to_party, priority, body, alert_id}; its id
//   receipt(kind, id)             -> Promise<object>    proof that the statement is in the record
//   now()                         -> number             the picture's clock (s, UTC epoch)
//
// Events, whichever the source: "track" and "track_gone" (seq null when live: the service
// sends the whole picture every cycle and keeps none of it), "alert", "hotline", "tree_head",
// "parties" and "airspace" in the shapes the README beside this file lists, and "connection".
// The page never changes its own state on a call: the effect of an acknowledgement or a
// message comes back as an event, so there is one way for state to change.

import { ReplaySource } from "./replay.js";
import { b64, canonicalize, signStatement, unb64 } from "./statements.js";

const LOGIN_CONTEXT = new TextEncoder().encode("detente login v1\0");
const RECONNECT_MS = 1000;
const RENEW_RETRY_MS = 5000;
const COLUMNS = ["t", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps"];
const FAKE_PARTIES = [{ id: "TUR", name: "Türkiye" }, { id: "RUS", name: "Russian Federation" },
                      { id: "COA", name: "Coalition" }];

/**
 * The source named by the page's query string: none (or ?source=live) is the service that
 * serves the page; ?source=fake replays the bundled fixture, at once, or one event every
 * `step_ms` milliseconds (?source=fake&step_ms=500) to watch it unfold.
 */
export function openSource(params) {
  const name = params.get("source") ?? "live";
  if (name === "live") return new LiveSource(new URL("/", location.href));
  if (name === "replay") return new ReplaySource(new URL("/", location.href), params);
  if (name === "fake") {
    return new FakeSource(new URL("fake/hatay.json", import.meta.url),
                          { stepMs: Number(params.get("step_ms") ?? 0) });
  }
  throw new Error(`no data source "${name}": use ?source=live (the default) or ?source=fake`);
}

/**
 * The service: its REST API for calls, its WebSocket stream for events, translated into the
 * page's event shapes here and nowhere else. `base` is the service's origin.
 */
export class LiveSource {
  constructor(base) {
    this.base = base;
    this.token = null;
    this.session = null;
    this.signer = null;
    this.registered = null;     // Promise: the official's key is in the record
    this.clock = null;          // {time, at, rate}: the service's clock, from the stream's hello
    this.lastSeq = 0;           // the last durable event seen; a reconnection resumes after it
    this.tracks = new Set();    // "party/id" of the tracks in the last picture frame
    this.messages = new Map();  // hotline id -> the service's message, for its record index
    this.onEvent = null;
    this.socket = null;
    this.renewal = null;        // the timer that signs in again before the token runs out
  }

  /** The service's clock, which a compressed demo runs faster than the wall clock. */
  now() {
    const wall = Date.now() / 1000;
    const c = this.clock;
    return c ? c.time + (wall - c.at) * c.rate : wall;
  }

  async login(party, official, signer) {
    const { challenge } = await this.#call("POST", "v1/auth/challenge", { party, official });
    const bytes = unb64(challenge);
    const message = new Uint8Array(LOGIN_CONTEXT.length + bytes.length);
    message.set(LOGIN_CONTEXT);
    message.set(bytes, LOGIN_CONTEXT.length);
    const signature = b64(await signer.sign(message));
    const session = await this.#call("POST", "v1/auth/token", { challenge, signature });
    this.token = session.token;
    this.signer = signer;
    this.session = { party: session.party, official: session.official };
    this.#renewBefore(session.expires_in_s);
    return this.session;
  }

  /** A token lasts minutes, a watch hours: sign in again before it runs out (by the service's
   *  count of its life, whatever this computer's clock says), and hand the new token to the
   *  open stream, which then lives on without a reconnection. */
  #renewBefore(lifeS) {
    clearTimeout(this.renewal);
    if (!(lifeS > 0)) return;
    const margin = Math.min(60, lifeS / 2);
    this.renewal = setTimeout(() => this.#renew(), (lifeS - margin) * 1000);
  }

  async #renew() {
    try {
      await this.#relogin();
      if (this.socket?.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ type: "renew", token: this.token }));
      }
    } catch (error) {
      // The stream closes with 4401 when the token runs out, and that signs in again too.
      this.#status("reconnecting", `the session could not be renewed: ${error.message}`);
      clearTimeout(this.renewal);
      this.renewal = setTimeout(() => this.#renew(), RENEW_RETRY_MS);
    }
  }

  /** Resolves once the stream said hello; the stream's own backlog then brings the history. */
  async connect(onEvent) {
    this.onEvent = onEvent;
    // The parties' fixed colours first, so that nothing is drawn in a colour it then changes.
    await this.#parties().catch((error) => console.warn(`no party colours: ${error.message}`));
    await this.#open();
    this.#airspaces().catch((error) => this.#status("connected", `no airspaces: ${error.message}`));
    return () => { this.onEvent = null; clearTimeout(this.renewal); this.socket?.close(); };
  }

  async acknowledge(kind, id, text) {
    if (kind === "alert") {
      await this.#call("POST", `v1/alerts/${encodeURIComponent(id)}/ack`);
    } else if (kind === "hotline") {
      const message = this.#message(id);
      const body = { message_id: id, ...(text ? { reply: text } : {}) };
      const entry = await this.#statement("hotline.ack", body, message.record_index);
      await this.#call("POST", `v1/hotline/messages/${encodeURIComponent(id)}/ack`, entry);
    } else {
      throw new Error(`cannot acknowledge a "${kind}"; expected "alert" or "hotline"`);
    }
  }

  async send({ to_party, priority, body, alert_id = null }) {
    // The id is chosen here and signed: the service takes a retry with it for the same message.
    const id = [...crypto.getRandomValues(new Uint8Array(16))]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const statement = { id, to_party, priority, body, ...(alert_id ? { alert_id } : {}) };
    await this.#call("POST", "v1/hotline/messages",
                     await this.#statement("hotline.message", statement, null));
    return id;
  }

  async receipt(kind, id) {
    if (kind !== "hotline") {
      throw new Error("the service does not say where an alert is in the record: " +
                      "select a hotline message for a receipt");
    }
    const index = this.#message(id).record_index;
    return this.#call("GET", `v1/record/receipts/${index}`);
  }

  // --- the stream ------------------------------------------------------------------------------

  #open() {
    const url = new URL(`v1/stream?token=${encodeURIComponent(this.token)}&since=${this.lastSeq}`,
                        this.base);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = this.socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      socket.onmessage = (message) => {
        const event = JSON.parse(message.data);
        if (event.type === "hello") {
          // What the party was told before this page signed in, its witness has receipted:
          // the page receipts what it is told from now on.
          this.liveFrom ??= event.data.seq;
          const { time, rate } = event.data;
          this.clock = { time, rate, at: Date.now() / 1000 };
          this.#status("connected", "");
          resolve();
        } else {
          this.#receive(event);
        }
      };
      socket.onclose = (close) => {
        reject(new Error(`the service's stream closed (${close.code} ${close.reason})`));
        if (!this.onEvent || socket !== this.socket) return;
        if (close.code === 4401) {
          // The token ran out unrenewed (the service was out of reach when it was due): the
          // official's key is still in hand, so sign in again and resume after lastSeq.
          this.#status("reconnecting", "the session expired: signing in again");
          this.#signInAndReopen();
        } else {
          this.#status("reconnecting", close.reason);
          setTimeout(() => this.onEvent && this.#open().catch(() => {}), RECONNECT_MS);
        }
      };
    });
  }

  #signInAndReopen() {
    // Once signed in, the new socket's own close handler takes over (hence its catch).
    this.#relogin().then(() => this.onEvent && this.#open().catch(() => {})).catch((error) => {
      this.#status("reconnecting", `the session expired; signing in again: ${error.message}`);
      setTimeout(() => this.onEvent && this.#signInAndReopen(), RENEW_RETRY_MS);
    });
  }

  #receive({ seq, type, data }) {
    if (seq !== null) {
      if (seq <= this.lastSeq) return;
      this.lastSeq = seq;
    }
    switch (type) {
      case "picture": return this.#picture(data);
      case "alert": return this.#emit(seq, "alert", this.#alert(data));
      case "hotline":
        this.messages.set(data.id, data);
        return this.#emit(seq, "hotline", hotlineView(data));
      case "tree_head": return this.#emit(seq, "tree_head", {
        size: data.size, root_hash: data.head.root, time: data.head.time,
        signature: data.head.signature, cosigned_by: data.cosigned_by, settled: data.settled });
      case "entry": return this.#deliveryReceipt(seq, data).catch((error) =>
        console.warn(`no delivery receipt for entry ${data.index}: ${error.message}`));
      case "service": return this.#emit(seq, "service", data);  // the disk, say
      case "links": return this.#emit(null, "links", data);  // a mesh node's, each second
      case "renewed": return undefined;  // the stream took the new token: it lives on
      case "problem": return console.warn(`the service's stream: ${data.detail}`);
      default: console.warn(`unknown event type from the service: "${type}"`);
    }
  }

  /** A picture frame holds every track the party may see now, in columns per owning party
   *  (see service/frames.py): the tracks not in it are gone. */
  #picture({ groups }) {
    const now = new Set();
    for (const g of groups) {
      for (let k = 0; k < g.id.length; k++) {
        const t = { party: g.party, id: g.id[k], precision_m: g.precision_m };
        for (const c of COLUMNS) t[c] = g[c][k];
        now.add(`${t.party}/${t.id}`);
        this.#emit(null, "track", t);
      }
    }
    for (const key of this.tracks) {
      if (!now.has(key)) {
        const [party, ...id] = key.split("/");
        this.#emit(null, "track_gone", { party, id: id.join("/") });
      }
    }
    this.tracks = now;
  }

  /** The page counts an alert's time to go from the event's arrival: age it to now. The
   *  service's t_to_go_s holds at updated_at, and the backlog brings old announcements. */
  #alert(a) {
    const age = a.updated_at == null ? 0 : Math.max(0, this.now() - a.updated_at);
    return { ...a, t_to_go_s: Math.max(0, a.t_to_go_s - age) };
  }

  /** The parties this one may know of, with their colours from the configuration. */
  async #parties() {
    const { parties } = await this.#call("GET", "v1/console");
    this.#emit(null, "parties", { parties });
  }

  async #airspaces() {
    const collection = await this.#call("GET", "v1/airspaces");
    for (const feature of collection.features) this.#emit(null, "airspace", feature);
  }

  #emit(seq, type, data) {
    this.onEvent?.({ seq, type, data });
  }

  #status(state, detail) {
    this.#emit(null, "connection", { state, detail });
  }

  // --- calls -------------------------------------------------------------------------------------

  /** A statement of this official's, signed here; its key is registered in the record first. */
  /** An entry of the record addressed to this party (an alert, a hotline message), shown
   *  to this official: answer it with a delivery receipt signed by the official's key, naming
   *  the entry's RFC 9162 leaf hash, SHA-256(0x00 || its canonical bytes), salt included.
   *  The log refuses a hash that is not the entry's. */
  async #deliveryReceipt(seq, { index, entry }) {
    if (this.liveFrom === undefined || seq <= this.liveFrom) return;
    const leaf = new TextEncoder().encode(canonicalize(entry));
    const hashed = new Uint8Array(leaf.length + 1);
    hashed.set(leaf, 1);
    const leafHash = new Uint8Array(await crypto.subtle.digest("SHA-256", hashed));
    const receipt = await this.#statement("delivery.receipt", { leaf_hash: b64(leafHash) }, index);
    await this.#call("POST", "v1/record/statements", { statements: [receipt] });
    this.receipted = (this.receipted ?? 0) + 1;
  }

  async #statement(kind, body, ref) {
    this.registered ??= this.#register().catch((error) => {
      this.registered = null;
      throw error;
    });
    await this.registered;
    return signStatement(this.signer, { kind, author: this.#author(), time: this.now(), body, ref });
  }

  async #register() {
    const author = this.#author();
    const { key } = await this.#call("GET", `v1/record/keys/${author}`);
    const mine = b64(this.signer.publicKey);
    if (key?.public_key === mine) return;
    const entry = await signStatement(this.signer, {
      kind: "key.register", author, time: this.now(), body: { public_key: mine }, ref: null });
    await this.#call("POST", "v1/record/statements", { statements: [entry] });
  }

  #author() {
    if (!this.session) throw new Error("log in first");
    return `${this.session.party}/${this.session.official}`;
  }

  #message(id) {
    const message = this.messages.get(id);
    if (!message) throw new Error(`no hotline message "${id}"`);
    return message;
  }

  /** Sign in again with the key given at login: a token lasts minutes, a watch hours. */
  async #relogin() {
    if (!this.signer || !this.session) throw new Error("not logged in");
    await this.login(this.session.party, this.session.official, this.signer);
  }

  /** A call to the API; a problem document (RFC 9457) becomes an Error with its detail. An
   *  expired session is renewed once, then the call made again. */
  async #call(method, path, body, renewed = false) {
    const headers = { ...(this.token && { Authorization: `Bearer ${this.token}` }),
                      ...(body !== undefined && { "Content-Type": "application/json" }) };
    const response = await fetch(new URL(path, this.base), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401 && !renewed && this.signer && !path.startsWith("v1/auth/")) {
      await this.#relogin();
      return this.#call(method, path, body, true);
    }
    const reply = response.headers.get("content-type")?.includes("json")
      ? await response.json() : await response.text();
    if (!response.ok) {
      throw new Error(`${method} /${path}: ${response.status} ${reply?.detail ?? reply}`);
    }
    return reply;
  }
}

/** A message as the page shows it: its acknowledgement as {party, official, time, text}. */
function hotlineView(m) {
  const ack = m.ack && { party: m.to_party, official: m.ack.by, time: m.ack.at,
                         text: m.ack.reply ?? "" };
  return { ...m, ack };
}

/**
 * Replays a static fixture {t0, events: [...]}. Every time in it is moved by (now - t0), so
 * deadlines and timestamps count down on the page's clock as live ones would. Accepts any login
 * (it has no keys to check) but does sign the challenge, and keeps it in `lastLogin` for tests.
 */
export class FakeSource {
  label = "FakeSource: a recorded fixture, a reconstruction from public reports";

  constructor(url, { now = () => Date.now() / 1000, stepMs = 0 } = {}) {
    this.url = url;
    this.now = now;
    this.stepMs = stepMs;
    this.session = null;
    this.lastLogin = null;
    this.hotline = new Map(); // id -> latest hotline data, to answer acknowledge()
    this.alerts = new Map();
    this.alertSent = new Map(); // id -> when it was last sent, to age its t_to_go_s
    this.treeHead = null;
    this.onEvent = null;
    this.seq = 0;
    this.sent = 0;
  }

  async connect(onEvent) {
    const response = await fetch(this.url);
    if (!response.ok) throw new Error(`fixture ${this.url}: HTTP ${response.status}`);
    const fixture = await response.json();
    const shift = this.now() - fixture.t0;
    this.onEvent = onEvent;
    // The fixture's parties, in the order of the demo's configuration (their colours follow).
    onEvent({ seq: null, type: "parties", data: { parties: FAKE_PARTIES } });
    // Without a step this runs to the end before connect() returns; with one, in the background
    // until the fixture ends or close() is called.
    (async () => {
      for (const event of fixture.events) {
        if (this.stepMs) await new Promise((resolve) => setTimeout(resolve, this.stepMs));
        if (!this.onEvent) return;
        this.#emit(event.type, rebase(event.type, event.data, shift));
      }
    })();
    return () => { this.onEvent = null; };
  }

  async login(party, official, signer) {
    const challenge = crypto.getRandomValues(new Uint8Array(32));
    const signature = await signer.sign(challenge);
    this.lastLogin = { party, official, challenge: b64(challenge), signature: b64(signature) };
    this.session = { party, official };
    return this.session;
  }

  async acknowledge(kind, id, text) {
    const by = this.#requireSession();
    const ack = { party: by.party, official: by.official, time: this.now(), text };
    if (kind === "hotline") {
      const message = this.#find(this.hotline, kind, id);
      this.#emit("hotline", { ...message, state: "acknowledged", ack });
    } else if (kind === "alert") {
      // As the service would, send the time to go as it is now, not as it was last sent.
      const alert = this.#find(this.alerts, kind, id);
      const t_to_go_s = Math.max(0, alert.t_to_go_s - (this.now() - this.alertSent.get(id)));
      this.#emit("alert", { ...alert, t_to_go_s, state: "acknowledged",
                            acknowledged_by: [...(alert.acknowledged_by ?? []), by.party] });
    } else {
      throw new Error(`cannot acknowledge a "${kind}"; expected "alert" or "hotline"`);
    }
  }

  async send(message) {
    const by = this.#requireSession();
    const id = `H-${by.party}-${++this.sent}`;
    this.#emit("hotline", {
      id, from_party: by.party, from_official: by.official, to_party: message.to_party,
      priority: message.priority, body: message.body, alert_id: message.alert_id ?? null,
      created_at: this.now(), deadline: this.now() + 120, level: 1, state: "sent", ack: null,
      automatic: false,
    });
    return id;
  }

  async receipt(kind, id) {
    const table = kind === "hotline" ? this.hotline : this.alerts;
    return { fake: true, kind, statement: this.#find(table, kind, id), tree_head: this.treeHead,
             inclusion_proof: null, note: "FakeSource: no record behind it, nothing to prove" };
  }

  #emit(type, data) {
    if (type === "hotline") this.hotline.set(data.id, data);
    if (type === "alert") {
      this.alerts.set(data.id, data);
      this.alertSent.set(data.id, this.now());
    }
    if (type === "tree_head") this.treeHead = data;
    this.onEvent?.({ seq: ++this.seq, type, data });
  }

  #find(table, kind, id) {
    const found = table.get(id);
    if (!found) throw new Error(`no ${kind} "${id}"`);
    return found;
  }

  #requireSession() {
    if (!this.session) throw new Error("log in first");
    return this.session;
  }
}

/** The event's data with its absolute times (s, UTC epoch) moved by `shift` seconds. */
function rebase(type, data, shift) {
  const move = (t) => (t == null ? t : t + shift);
  switch (type) {
    case "track": return { ...data, t: data.t + shift };
    case "hotline": return { ...data, deadline: move(data.deadline),
                             created_at: move(data.created_at),
                             ack: data.ack && { ...data.ack, time: data.ack.time + shift } };
    case "tree_head": return { ...data, time: data.time + shift };
    case "alert": return { ...data, raised_at: move(data.raised_at),
                           updated_at: move(data.updated_at) };
    default: return data;
  }
}
