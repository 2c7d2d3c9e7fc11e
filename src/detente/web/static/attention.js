// Alerts that cannot be missed: a banner over the map for every warning and critical alert, a
// tone generated in the page (no sound file: nothing to fetch), and the page's title and icon
// showing how many there are, so that a console in a background tab still says so.
//
// The tone sounds once for each alert reaching warning, and again when it becomes critical;
// a critical alert sounds again every REPEAT_MS (wall clock, not the picture's clock, which a
// compressed demo runs faster) until the operator's party has acknowledged it. The switch
// mutes all of it, and the browser remembers it (localStorage).

import { describe, eventTime, isActive, isHappening, resolutionText, toGo } from "./facts.js";

export const URGENT = ["warning", "critical"];
export const SOUND_KEY = "detente.sound"; // "off": muted
const REPEAT_MS = 8_000;
const COLOURS = { warning: "#f07f1a", critical: "#e0231c" };
// Beeps: [frequency Hz, start s, length s]. Warning two low, critical three high, as the
// safety nets tell an alert from an alarm by ear.
const TONES = {
  warning: [[880, 0, 0.18], [880, 0.28, 0.18]],
  critical: [[1320, 0, 0.14], [1320, 0.2, 0.14], [1320, 0.4, 0.14]],
};

/** The active warning and critical alerts, the one that happens first first. */
export function urgentAlerts(picture) {
  return [...picture.alerts.values()]
    .filter((a) => isActive(a) && URGENT.includes(a.severity))
    .sort((a, b) => eventTime(a) - eventTime(b));
}

export class Alarm {
  constructor(storage = window.localStorage) {
    this.storage = storage;
    this.muted = storage.getItem(SOUND_KEY) === "off";
    this.context = null;     // AudioContext, made at the first user gesture (autoplay rules)
    this.heard = new Set();  // "id severity" that have sounded
    this.last = new Map();   // id -> performance.now() of its last tone (critical repeats)
  }

  setMuted(muted) {
    this.muted = muted;
    this.storage.setItem(SOUND_KEY, muted ? "off" : "on");
  }

  /** Browsers start audio only from a user gesture: called on the first click or key. */
  unlock() {
    const Context = window.AudioContext ?? window.webkitAudioContext;
    if (!Context) return;
    this.context ??= new Context();
    if (this.context.state === "suspended") this.context.resume().catch(() => {});
  }

  /** True when a tone would not be heard because the browser holds audio back. */
  get blocked() {
    return !this.muted && (!this.context || this.context.state !== "running");
  }

  /** Sound what is new among `alerts` (urgentAlerts), and repeat unacknowledged criticals. */
  update(alerts, me) {
    const nowMs = performance.now();
    let loudest = null;
    const open = new Set();
    for (const a of alerts) {
      open.add(a.id);
      const key = `${a.id} ${a.severity}`;
      const acked = (a.acknowledged_by ?? []).includes(me);
      const again = a.severity === "critical" && !acked &&
        nowMs - (this.last.get(a.id) ?? -Infinity) >= REPEAT_MS;
      if (!this.heard.has(key) || again) {
        this.heard.add(key);
        this.last.set(a.id, nowMs);
        if (loudest !== "critical") loudest = a.severity;
      }
    }
    for (const id of this.last.keys()) if (!open.has(id)) this.last.delete(id);
    if (loudest) this.tone(loudest);
  }

  tone(severity) {
    if (this.muted || !this.context || this.context.state !== "running") return;
    const start = this.context.currentTime + 0.02;
    for (const [hz, at, length] of TONES[severity]) {
      const osc = this.context.createOscillator();
      const gain = this.context.createGain();
      osc.type = "square";
      osc.frequency.value = hz;
      // A short ramp in and out: no click at either end.
      gain.gain.setValueAtTime(0, start + at);
      gain.gain.linearRampToValueAtTime(0.15, start + at + 0.01);
      gain.gain.setValueAtTime(0.15, start + at + length - 0.02);
      gain.gain.linearRampToValueAtTime(0, start + at + length);
      osc.connect(gain).connect(this.context.destination);
      osc.start(start + at);
      osc.stop(start + at + length + 0.01);
    }
  }
}

/** The banner: one line per urgent alert, most imminent first; a click focuses it. */
export function renderBanner(banner, alerts, picture, now, onFocus) {
  banner.hidden = alerts.length === 0;
  banner.dataset.severity = alerts.some((a) => a.severity === "critical") ? "critical"
    : alerts.length ? "warning" : "";
  const lines = alerts.slice(0, 3).map((a) => {
    const f = describe(a, picture.me?.party, picture.tracks, now);
    const r = resolutionText(a.detail?.resolution);
    const happening = isHappening(a, now);
    const when = happening ? f.event
      : `${f.event} ${f.when} (in ${Math.round(toGo(a, now))} s)`;
    return { id: a.id, severity: a.severity, acked: (a.acknowledged_by ?? []).includes(
      picture.me?.party), text: [a.severity.toUpperCase(), f.field, f.subject, when, f.where,
                                 f.level].filter(Boolean).join(" · "), resolution: r };
  });
  const more = alerts.length - lines.length;
  // Rebuilt each tick (the countdowns): a few lines at most.
  banner.replaceChildren(...lines.map((l) => {
    const line = document.createElement("button");
    line.className = "banner-line";
    line.dataset.id = l.id;
    line.dataset.severity = l.severity;
    line.classList.toggle("acked", l.acked);
    line.textContent = l.text;
    if (l.resolution) {
      const r = document.createElement("strong");
      r.className = "resolution";
      r.textContent = `  ➜ ${l.resolution}`;
      line.append(r);
    }
    line.onclick = () => onFocus(l.id);
    return line;
  }), ...(more > 0 ? [Object.assign(document.createElement("div"),
    { className: "banner-more", textContent: `+ ${more} more: see Alerts` })] : []));
}

/** The page's title and icon: the count of urgent alerts and the worst severity. */
export function renderTitle(doc, alerts, base = "detente console") {
  const worst = alerts.some((a) => a.severity === "critical") ? "critical"
    : alerts.length ? "warning" : null;
  const title = worst ? `(${alerts.length}) ${worst.toUpperCase()} · ${base}` : base;
  if (doc.title !== title) doc.title = title;
  const key = `${worst} ${alerts.length}`;
  const link = doc.querySelector("link[rel=icon]");
  if (!link || link.dataset.key === key) return;
  link.dataset.key = key;
  link.href = favicon(worst, alerts.length);
}

function favicon(worst, count) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 32;
  const g = canvas.getContext("2d");
  g.fillStyle = worst ? COLOURS[worst] : "#1d232a";
  g.beginPath();
  g.arc(16, 16, 15, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = "#ffffff";
  g.font = "bold 20px system-ui, sans-serif";
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(worst ? String(Math.min(count, 9)) : "d", 16, 17);
  return canvas.toDataURL("image/png");
}

