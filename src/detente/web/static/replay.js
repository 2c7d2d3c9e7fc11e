// ReplaySource: a recorded run played back from `detente replay`, with a time slider, play and
// pause, and a party selector. Same seam as the other sources (see datasource.js): it emits the
// same "track", "alert", "hotline", "tree_head" and "airspace" events, built for the chosen
// party at the chosen instant by the replay service (GET /v1/replay/view?party=P&t=T), which
// recomputes them with the live service's own sharing rules. Because time can go backwards and
// the party can change, each view starts with a "reset" event: the page forgets its picture and
// what follows is the whole of it, as shown to `data.me` (airspaces excepted: they stay).
//
// Read-only: nothing is acknowledged or sent. Times are s UTC epoch; now() is the replay's time.

const FRAME_MS = 250;           // how often a playing replay asks for the view
const SPEEDS = [1, 2, 5, 10, 30, 60];

/** A replay of the service that serves the page (`base`), opened on ?party=P&t=T&speed=S. */
export class ReplaySource {
  readOnly = true;

  constructor(base, params) {
    this.base = base;
    this.params = params;
    this.info = null;           // GET /v1/replay: time range, parties, record, recording
    this.party = null;
    this.t = null;              // the instant shown (s, UTC epoch)
    this.playing = null;        // {t0, wall0} while playing
    this.speed = Number(params.get("speed") ?? 10);
    this.onEvent = null;
    this.moments = [];          // the chosen party's alerts and hotline traffic, for the slider
    this.predicted = [];        // entries and exits predicted by the alerts seen (page-made)
    this.messages = new Map();  // hotline id -> the service's message, for receipts
    this.fetching = null;       // the view being fetched
    this.wanted = null;         // an instant asked for while one was being fetched
    this.controls = null;
    this.label = "Replay";
  }

  /** The party whose view is shown: replaces the login (a replay needs no key). */
  async me() {
    this.info = await this.#get("v1/replay");
    const ids = this.info.parties.map((p) => p.id);
    const asked = this.params.get("party") ?? this.info.party;
    this.party = ids.includes(asked) ? asked : ids[0];
    const t = Number(this.params.get("t"));
    if (Number.isFinite(t) && this.params.has("t")) {
      this.t = this.#clamp(t);
    } else {
      // No instant asked for: open where there is something to see, at the first alert.
      await this.#loadMoments();
      const first = this.moments.find((m) => m.type === "alert");
      this.t = first ? this.#clamp(first.t) : this.info.from;
    }
    this.label = `REPLAY of ${this.info.region}, ${stamp(this.info.from)} to ` +
      `${stamp(this.info.to)}: record verified (${this.info.record.size} entries); the ` +
      "recorded states are not signed";
    return this.#me();
  }

  now() {
    if (this.playing) {
      const t = this.playing.t0 + (Date.now() / 1000 - this.playing.wall0) * this.speed;
      return Math.min(t, this.info.to);
    }
    return this.t ?? Date.now() / 1000;
  }

  async connect(onEvent) {
    this.onEvent = onEvent;
    const airspaces = await this.#get("v1/airspaces");
    // The parties in the configuration's order: their colours are the live service's.
    this.#emit("parties", { parties: this.info.parties });
    await this.#show(this.t);
    // Drawn once: a reset keeps them (they do not change in a run).
    for (const feature of airspaces.features) this.#emit("airspace", feature);
    this.#loadMoments();
    return () => { this.pause(); this.onEvent = null; };
  }

  async login() { return this.#me(); }

  async acknowledge() { throw new Error("a replay is read-only: nothing can be acknowledged"); }

  async send() { throw new Error("a replay is read-only: nothing can be sent"); }

  /** A hotline message's receipt, as the service gives it ({entry, receipt}), under the
   *  record's latest head at the instant shown, from the export `detente replay` verified. */
  async receipt(kind, id) {
    const message = this.messages.get(id);
    if (kind !== "hotline" || !message) {
      throw new Error("the replay has receipts for hotline messages: select one");
    }
    return this.#get(`v1/replay/receipts/${message.record_index}?t=${this.now()}`);
  }

  // --- moving in time -------------------------------------------------------------------------

  /** Show the instant `t` (clamped to the recording); stops playing. */
  seek(t) {
    this.pause();
    this.#show(this.#clamp(t));
  }

  play() {
    if (this.playing) return;
    if (this.t >= this.info.to) this.t = this.info.from;
    this.playing = { t0: this.t, wall0: Date.now() / 1000 };
    const step = async () => {
      if (!this.playing) return;
      const t = this.now();
      await this.#show(t);
      if (t >= this.info.to) return this.pause();
      this.timer = setTimeout(step, FRAME_MS);
    };
    step();
    this.#sync();
  }

  pause() {
    if (!this.playing) return;
    this.t = this.now();
    this.playing = null;
    clearTimeout(this.timer);
    this.#sync();
  }

  setSpeed(speed) {
    const playing = !!this.playing;
    this.pause();
    this.speed = speed;
    if (playing) this.play();
    this.#sync();
  }

  setParty(party) {
    this.party = party;
    this.predicted = [];
    this.#loadMoments();
    this.#show(this.now(), true);
  }

  // --- the controls ---------------------------------------------------------------------------

  /** The slider, play/pause, speed and party selector, in `element` (shown). */
  mountControls(element) {
    element.hidden = false;
    element.innerHTML = `
      <label>Party <select name="party" aria-label="party"></select></label>
      <button name="back" title="10 s back" aria-label="10 s back">&minus;10 s</button>
      <button name="play" aria-label="play">Play</button>
      <div class="track"><div class="moments"></div>
        <input name="t" type="range" step="0.5" aria-label="time"></div>
      <span class="at"></span>
      <select name="speed" aria-label="speed"></select>
      <span class="tick-key" title="ticks above the slider; click one to go there">
        W warning · C critical · × cleared · E/X entry/exit · ✉ message · ↑ escalated ·
        ✓ acknowledged</span>`;
    const $ = (name) => element.querySelector(`[name=${name}]`);
    for (const p of this.info.parties) $("party").add(new Option(`${p.id} (${p.name})`, p.id));
    for (const s of SPEEDS) $("speed").add(new Option(`x${s}`, s));
    $("t").min = this.info.from;
    $("t").max = this.info.to;
    $("party").onchange = (e) => this.setParty(e.target.value);
    $("speed").onchange = (e) => this.setSpeed(Number(e.target.value));
    $("play").onclick = () => (this.playing ? this.pause() : this.play());
    $("back").onclick = () => this.seek(this.now() - 10);
    $("t").oninput = (e) => this.seek(Number(e.target.value));
    this.controls = element;
    this.#sync();
    this.#renderMoments();
  }

  #sync() {
    const el = this.controls;
    if (!el) return;
    const $ = (name) => el.querySelector(`[name=${name}]`);
    $("party").value = this.party;
    $("speed").value = String(this.speed);
    $("play").textContent = this.playing ? "Pause" : "Play";
    $("play").setAttribute("aria-label", this.playing ? "pause" : "play");
    $("t").value = this.t;
    el.querySelector(".at").textContent = stamp(this.t);
    if (!this.playing) {
      // The address names the instant shown: it can be kept, or sent to another reviewer.
      const url = new URL(location.href);
      url.searchParams.set("party", this.party);
      url.searchParams.set("t", String(this.t));
      history.replaceState(null, "", url);
    }
  }

  /** A tick above the slider per moment (one per instant, row and kind), labelled, leading
   *  to it: alerts on the upper row (raised or changing severity, cleared, entry and exit),
   *  hotline traffic on the lower. Entries and exits the recording does not carry are those
   *  predicted by the alerts in view, drawn dashed. */
  #renderMoments() {
    const el = this.controls?.querySelector(".moments");
    if (!el) return;
    const span = this.info.to - this.info.from || 1;
    const ticks = new Map(); // "row what t" -> tick
    for (const m of [...this.moments, ...this.predicted]) {
      const what = momentKind(m);
      const row = m.type === "hotline" ? "hotline" : "alert";
      const key = `${row} ${what} ${m.t}`;
      if (ticks.has(key)) {
        ticks.get(key).title += `; ${m.label}`;
        continue;
      }
      if (m.t < this.info.from || m.t > this.info.to) continue;
      const tick = document.createElement("button");
      tick.className = `moment ${row}${m.predicted ? " predicted" : ""}`;
      tick.dataset.what = what;
      tick.style.left = `${(100 * (m.t - this.info.from)) / span}%`;
      tick.title = `${stamp(m.t)} ${m.label}`;
      tick.textContent = TICK_TEXT[what] ?? "•";
      tick.dataset.t = m.t;
      tick.onclick = () => this.seek(m.t);
      ticks.set(key, tick);
    }
    el.replaceChildren(...ticks.values());
  }

  // --- the views ------------------------------------------------------------------------------

  /** Fetch and emit the view at `t`; one fetch at a time, the latest instant asked wins. */
  async #show(t, force = false) {
    this.t = t;
    if (this.fetching && !force) {
      this.wanted = t;
      return this.fetching;
    }
    this.fetching = (async () => {
      try {
        const view = await this.#get(`v1/replay/view?party=${encodeURIComponent(this.party)}` +
                                     `&t=${t}`);
        if (view.party === this.party) this.#emitView(view);
      } catch (error) {
        this.#emit("connection", { state: "closed", detail: error.message });
      }
    })();
    await this.fetching;
    this.fetching = null;
    this.#sync();
    if (this.wanted !== null) {
      const next = this.wanted;
      this.wanted = null;
      if (next !== t) await this.#show(next);
    }
  }

  #emitView(view) {
    const t = view.t;
    this.#emit("reset", { me: this.#me() });
    for (const track of view.tracks) this.#emit("track", track);
    for (const alert of view.alerts) {
      // t_to_go_s holds at updated_at: the page counts from the instant shown.
      const age = alert.updated_at == null ? 0 : Math.max(0, t - alert.updated_at);
      this.#emit("alert", { ...alert, t_to_go_s: Math.max(0, alert.t_to_go_s - age) });
    }
    this.#predict(view);
    this.messages = new Map(view.hotline.map((m) => [m.id, m]));
    for (const m of view.hotline) {
      const ack = m.ack && { party: m.to_party, official: m.ack.by, time: m.ack.at,
                             text: m.ack.reply ?? "" };
      this.#emit("hotline", { ...m, ack });
    }
    const h = view.tree_head;
    if (h) {
      this.#emit("tree_head", { size: h.size, root_hash: h.head.root, time: h.head.time,
                                signature: h.head.signature, cosigned_by: h.cosigned_by,
                                settled: h.settled });
    }
  }

  /** Entries and exits predicted by the incursion alerts in view, and when the cleared ones
   *  in view cleared, for ticks of their own (the timeline does not carry them). */
  #predict(view) {
    const predicted = [];
    for (const a of view.alerts) {
      const d = a.detail ?? {};
      if (a.state === "cleared" && a.updated_at != null) {
        const who = (a.tracks ?? []).map((t) => `${t.party} ${t.id ?? "aircraft"}`).join(", ");
        predicted.push({ t: a.updated_at, type: "alert", id: `${a.id} cleared`, what: "cleared",
                         label: `${a.kind} alert cleared (${who})` });
      }
      if (a.kind !== "incursion" || a.state === "cleared" || a.updated_at == null) continue;
      const who = (a.tracks ?? []).map((t) => `${t.party} ${t.id ?? "aircraft"}`).join(", ");
      if (d.t_entry_s != null && !d.violation) {
        predicted.push({ t: a.updated_at + d.t_entry_s, type: "alert", id: a.id,
                         what: "entry", predicted: true,
                         label: `predicted entry of ${who} into ${d.airspace ?? "airspace"}` });
      }
      if (d.t_exit_s != null) {
        predicted.push({ t: a.updated_at + d.t_exit_s, type: "alert", id: a.id,
                         what: "exit", predicted: true,
                         label: `predicted exit of ${who} from ${d.airspace ?? "airspace"}` });
      }
    }
    const key = JSON.stringify(predicted.map((m) => [m.id, m.what, Math.round(m.t)]));
    if (key === this.predictedKey) return;
    this.predictedKey = key;
    // Kept per alert: a later view refines the prediction, an earlier one does not erase it.
    const keep = this.predicted.filter((m) => !predicted.some((p) => p.id === m.id));
    this.predicted = [...keep, ...predicted];
    this.#renderMoments();
  }

  async #loadMoments() {
    const party = this.party;
    const { moments } = await this.#get(`v1/replay/timeline?party=${encodeURIComponent(party)}`);
    if (party === this.party) {
      this.moments = moments;
      this.#renderMoments();
    }
  }

  #me() {
    return { party: this.party, official: "replay" };
  }

  #clamp(t) {
    return Math.min(Math.max(t, this.info.from), this.info.to);
  }

  #emit(type, data) {
    this.onEvent?.({ seq: null, type, data });
  }

  async #get(path) {
    const response = await fetch(new URL(path, this.base));
    const reply = await response.json();
    if (!response.ok) throw new Error(`GET /${path}: ${response.status} ${reply?.detail ?? ""}`);
    return reply;
  }
}

// A tick's one-character label, by what happened (see momentKind).
const TICK_TEXT = { advisory: "A", warning: "W", critical: "C", cleared: "×", entry: "E",
                    exit: "X", sent: "✉", escalated: "↑", overdue: "!", acknowledged: "✓",
                    overtaken: "–", delivered: "·" };

/** What a moment of the timeline is: its `what` (or `change`) when the service says, else read
 *  from its label ("incursion warning"; "flash TUR -> RUS: escalated"). */
export function momentKind(m) {
  if (m.what) return m.what;
  if (m.change) return m.change;
  const label = m.label ?? "";
  return m.type === "hotline" ? label.split(": ").pop() : label.split(" ").pop();
}

function stamp(t) {
  return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}
