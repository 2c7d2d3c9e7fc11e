// The seam between the console and the service: everything the page knows arrives through one
// object with five methods, so the page runs today on a recorded fixture and tomorrow on the
// service's WebSocket without changing anything else.
//
//   connect(onEvent)            -> Promise<close()>  delivers {seq, type, data} events in seq order
//   login(party, official, sign) -> Promise<{party, official}>
//       sign(bytes: Uint8Array) -> Promise<Uint8Array> is the official's Ed25519 signature. The
//       source signs the service's challenge with it, and keeps it for the session's statements
//       (acknowledgements, messages), which the service logs as signed by their author.
//   acknowledge(kind, id, text) -> Promise<void>      kind: "alert" | "hotline"
//   send(message)               -> Promise<string>    {to_party, priority, body, alert_id}; its id
//   receipt(kind, id)           -> Promise<object>    proof that the statement is in the record
//
// The page never changes its own state on a call: the effect of an acknowledgement or a message
// comes back as an event, as it will from the service, so there is one way for state to change.

/**
 * The source named by the page's query string: ?source=fake replays the bundled fixture, at
 * once, or one event every `step_ms` milliseconds (?source=fake&step_ms=500) to watch it unfold.
 */
export function openSource(params) {
  const name = params.get("source") ?? "live";
  if (name === "fake") {
    return new FakeSource(new URL("fake/hatay.json", import.meta.url),
                          { stepMs: Number(params.get("step_ms") ?? 0) });
  }
  throw new Error(`data source "${name}" is not available yet; open the page with ?source=fake`);
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

  async login(party, official, sign) {
    const challenge = crypto.getRandomValues(new Uint8Array(32));
    const signature = await sign(challenge);
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
      this.#emit("alert", { ...alert, t_to_go_s, state: "acknowledged" });
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
      deadline: this.now() + 120, level: "watch", state: "sent", ack: null, automatic: false,
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
  switch (type) {
    case "track": return { ...data, t: data.t + shift };
    case "hotline": return { ...data, deadline: data.deadline + shift,
                             ack: data.ack && { ...data.ack, time: data.ack.time + shift } };
    case "tree_head": return { ...data, time: data.time + shift };
    case "alert": return { ...data, detail: { ...data.detail, ...(data.detail?.entry_t &&
                             { entry_t: data.detail.entry_t + shift }) } };
    default: return data;
  }
}

export function b64(bytes) {
  return btoa(String.fromCharCode(...bytes));
}
