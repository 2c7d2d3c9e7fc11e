// The side panels: alerts, hotline, record. Lists are keyed by id and updated in place, so an
// event arriving while the operator types an acknowledgement does not wipe the text. Countdowns
// live in elements with data-until (s, UTC epoch) that tick() refreshes without a re-render.
//
// Every time is absolute (UTC) with the countdown beside it, kept live. Each thing that can be
// acknowledged has one button, saying what it acknowledges; after a click it shows that the
// acknowledgement is on its way until the service's event says it is done.

import {
  FIELDS, describe, eventTime, isActive, isHappening, resolutionText, utc,
} from "./facts.js";

const ACTIVE = new Set(["raised", "updated"]);
// A cleared alert stays in the list this long (s, on the picture's clock), then only the
// record holds it: a watch's list is about what is happening.
const CLEARED_KEPT_S = 600;
const LEVELS = { 1: "watch", 2: "command", 3: "head of government" };

/**
 * One <li> per item, created once, updated by `update(li, item)`, removed when gone. A node is
 * moved only when it is out of place: moving one takes the focus from a field in it.
 */
function syncList(list, items, create, update) {
  const seen = new Set();
  for (const [at, item] of items.entries()) {
    seen.add(item.id);
    let li = list.querySelector(`:scope > li[data-id="${CSS.escape(item.id)}"]`);
    if (!li) { li = create(item); li.dataset.id = item.id; li.title = item.id; }
    update(li, item);
    if (list.children[at] !== li) list.insertBefore(li, list.children[at] ?? null);
  }
  for (const li of [...list.children]) if (!seen.has(li.dataset.id)) li.remove();
}

function element(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

function set(li, selector, text) {
  const el = li.querySelector(selector);
  if (el.textContent !== text) el.textContent = text;
}

function isSelected(picture, kind, id) {
  return picture.selected?.kind === kind && picture.selected.id === id;
}

/** Make `el` count down to `until` (s, UTC epoch), or stop and blank it (null). */
function countdown(el, until) {
  if (until === null) {
    delete el.dataset.until;
    el.textContent = "";
  } else {
    el.dataset.until = until;
  }
}

/** Alerts in the order they happen: those happening now, then by the time to go as it is now;
 *  cleared ones last, latest first. */
export function sortAlerts(alerts, now) {
  return [...alerts].sort((a, b) =>
    (!isActive(a)) - (!isActive(b)) ||
    (isActive(a) ? (isHappening(b, now) - isHappening(a, now)) || eventTime(a) - eventTime(b)
      : (b.updated_at ?? 0) - (a.updated_at ?? 0)));
}

/** Messages to the operator's party about an alert that await its acknowledgement. */
function awaitingMe(picture, alertId) {
  return [...picture.hotline.values()].filter((m) => m.alert_id === alertId &&
    m.to_party === picture.me?.party && !["acknowledged", "overtaken"].includes(m.state) &&
    (!m.to_official || m.to_official === picture.me.official));
}

/** Alerts; `actions` = {acknowledge, warn, focusAlert, focusMessage}; `now` s UTC. */
export function renderAlerts(list, picture, actions, now) {
  const me = picture.me?.party;
  const shown = [...picture.alerts.values()].filter((a) => isActive(a) ||
    now - (a.updated_at ?? a.received ?? now) <= CLEARED_KEPT_S);
  syncList(list, sortAlerts(shown, now), (a) => {
    const li = element(`<li class="alert">
      <div class="head"><span class="severity"></span> <span class="field"></span>
           <span class="tracks"></span></div>
      <div class="when"><span class="event"></span> <time class="utc"></time>
           <span class="ttg" data-kind="to-go"></span></div>
      <div class="where"></div>
      <div class="extent"></div>
      <div class="resolution"></div>
      <button class="awaiting" type="button"></button>
      <div class="foot"><span class="kind"></span> · raised <span class="raised"></span> ·
           <span class="state"></span></div>
      <div class="actions"><button class="ack" type="button"></button>
           <button class="warn" type="button"></button></div></li>`);
    li.querySelector(".ack").onclick = () => actions.acknowledge("alert", a.id, "acknowledged");
    li.querySelector(".warn").onclick = () => actions.warn(li.dataset.id);
    li.querySelector(".awaiting").onclick = (event) => {
      event.stopPropagation();
      actions.focusMessage(li.querySelector(".awaiting").dataset.message);
    };
    li.onclick = (event) => {
      if (event.target.tagName !== "BUTTON") actions.focusAlert(a.id);
    };
    return li;
  }, (li, a) => {
    const f = describe(a, me, picture.tracks, now);
    const happening = isHappening(a, now);
    li.dataset.severity = a.severity;
    li.dataset.state = a.state;
    li.dataset.kind = a.kind;
    li.classList.toggle("cleared", !isActive(a));
    li.classList.toggle("happening", happening);
    li.classList.toggle("selected", isSelected(picture, "alert", a.id));
    set(li, ".severity", a.severity);
    set(li, ".field", FIELDS[a.kind] ?? "");
    set(li, ".tracks", f.subject);
    set(li, ".event", isActive(a) ? f.event : `predicted ${f.event}`);
    set(li, ".utc", f.when);
    li.querySelector(".utc").dateTime = new Date(eventTime(a) * 1000).toISOString();
    set(li, ".where", [f.where && `at ${f.where}`, f.level].filter(Boolean).join(" · "));
    set(li, ".extent", f.extent);
    const resolution = resolutionText(a.detail?.resolution);
    set(li, ".resolution", resolution ? `➜ ${resolution}` : "");
    li.querySelector(".resolution").hidden = !resolution;
    set(li, ".kind", `${a.kind} ${short(a.id)}`);
    set(li, ".raised", a.raised_at != null ? utc(a.raised_at) : "–");
    set(li, ".state", a.state === "cleared" && a.updated_at != null
      ? `cleared ${utc(a.updated_at)}` : a.state);
    // The countdown to the event, while it is ahead.
    countdown(li.querySelector(".ttg"), isActive(a) && !happening ? eventTime(a) : null);
    const waiting = isActive(a) ? awaitingMe(picture, a.id) : [];
    const awaiting = li.querySelector(".awaiting");
    awaiting.hidden = waiting.length === 0;
    if (waiting.length) {
      const m = waiting[waiting.length - 1];
      awaiting.dataset.message = m.id;
      set(li, ".awaiting", `${m.from_party}'s ${m.priority} message awaits your ` +
                           `acknowledgement${m.deadline ? `, due ${utc(m.deadline)}` : ""} ↓`);
    }
    const ack = li.querySelector(".ack");
    const pending = picture.pending?.has(`alert/${a.id}`);
    ack.hidden = !ACTIVE.has(a.state) || !a.parties.includes(me) ||
      (a.acknowledged_by ?? []).includes(me);
    ack.disabled = !!pending;
    set(li, ".ack", pending ? "Acknowledging alert…" : "Acknowledge alert");
    const other = a.parties.find((p) => p !== me);
    const warn = li.querySelector(".warn");
    warn.hidden = !isActive(a) || !other;
    set(li, ".warn", other ? `Warn ${other}` : "Warn");
  });
}

/** Hotline messages, newest first; `actions` = {acknowledge, focusAlert, selectMessage}. */
export function renderHotline(list, picture, actions, now) {
  const messages = [...picture.hotline.values()].reverse();
  syncList(list, messages, (m) => {
    const li = element(`<li class="message">
      <div class="head"><span class="priority"></span> <span class="route"></span>
           <span class="state"></span></div>
      <div class="times"><span class="sent"></span> <span class="due"></span>
           <span class="ttg" data-kind="deadline"></span></div>
      <button class="about" type="button"></button>
      <div class="body"></div>
      <div class="overtaken"></div>
      <div class="ackinfo"></div>
      <form class="ackform"><input name="text" value="Received" aria-label="reply">
           <button></button></form></li>`);
    li.querySelector(".ackform").onsubmit = (event) => {
      event.preventDefault();
      actions.acknowledge("hotline", m.id, event.target.text.value);
    };
    li.querySelector(".about").onclick = (event) => {
      event.stopPropagation();
      if (m.alert_id) actions.focusAlert(m.alert_id);
    };
    li.onclick = (event) => {
      if (!event.target.closest("form, button")) actions.selectMessage(m.id);
    };
    return li;
  }, (li, m) => {
    li.dataset.priority = m.priority;
    li.dataset.state = m.state;
    li.classList.toggle("selected", isSelected(picture, "hotline", m.id));
    li.classList.toggle("linked", picture.selected?.kind === "alert" &&
                                  m.alert_id === picture.selected.id);
    set(li, ".priority", m.priority + (m.automatic ? " (automatic)" : ""));
    // An automatic message is the service's, on behalf of the party's watch: no official.
    const level = typeof m.level === "number" ? `level ${m.level}` +
      (LEVELS[m.level] ? ` (${LEVELS[m.level]})` : "") : m.level;
    set(li, ".route", `${author(m.from_party, m.from_official)} → ` +
                      `${author(m.to_party, m.to_official)} · ${level}`);
    set(li, ".state", m.state === "overtaken" ? "overtaken by events" : m.state);
    set(li, ".sent", m.created_at != null ? `sent ${utc(m.created_at)}` : "");
    const open = !["acknowledged", "overtaken"].includes(m.state);
    set(li, ".due", open && m.deadline != null ? `· reply due ${utc(m.deadline)}` : "");
    set(li, ".body", m.body);
    // What the message is about, as it stands now (its text was true when it was written).
    const about = li.querySelector(".about");
    const alert = m.alert_id ? picture.alerts.get(m.alert_id) : null;
    about.hidden = !m.alert_id;
    if (m.alert_id) set(li, ".about", aboutAlert(alert, m.alert_id, picture, now));
    const overtaken = m.state === "overtaken";
    li.querySelector(".overtaken").hidden = !overtaken;
    set(li, ".overtaken", overtaken ? "Overtaken by events: the alert cleared before an " +
      `acknowledgement${m.overtaken_at ? ` (${utc(m.overtaken_at)})` : ""}; escalation stopped.`
      : "");
    set(li, ".ackinfo", m.ack ? `acknowledged by ${m.ack.party}/${m.ack.official}` +
                                ` at ${utc(m.ack.time)}: ${m.ack.text}` : "");
    countdown(li.querySelector(".ttg"), open ? m.deadline : null);
    const form = li.querySelector(".ackform");
    form.hidden = !open || m.to_party !== picture.me?.party ||
      (m.to_official && m.to_official !== picture.me.official);
    const pending = picture.pending?.has(`hotline/${m.id}`);
    form.querySelector("button").disabled = !!pending;
    form.querySelector("input").disabled = !!pending;
    li.classList.toggle("pending", !!pending);
    set(li, ".ackform button", pending ? "Acknowledging…"
      : `Acknowledge ${m.from_party}'s ${m.priority} message`);
  });
}

/** "re APW RUS SU24-LEAD → Turkey (TUR): entry 07:24:05Z" / "INSIDE NOW" / "cleared". */
function aboutAlert(alert, id, picture, now) {
  if (!alert) return `re alert ${short(id)}`;
  const f = describe(alert, picture.me?.party, picture.tracks, now);
  const status = !isActive(alert)
    ? `alert cleared${alert.updated_at != null ? ` ${utc(alert.updated_at)}` : ""}`
    : isHappening(alert, now) ? f.event : `${f.event} ${f.when}`;
  return `re ${f.field} ${f.subject}: ${status}`;
}

/**
 * The aircraft selected on the map, and a one-click warning about it to its party (only for
 * another party's aircraft); `actions.warnAircraft(key)`.
 */
export function renderAircraftWarning(panel, picture, actions) {
  const key = picture.selected?.kind === "track" ? picture.selected.id : null;
  const t = key && picture.tracks.get(key);
  panel.hidden = !key;
  if (!key) return;
  const own = t?.party === picture.me?.party;
  set(panel, ".about", !t ? `aircraft ${key}: no longer on the map`
    : `aircraft ${t.party} ${t.id}${own ? " (your own)" : ""}`);
  const button = panel.querySelector(".warn");
  button.hidden = !t || own;
  button.onclick = () => actions.warnAircraft(key);
}

/** The service's ids are 32 hex digits: 8 tell them apart on a screen (the tooltip has all). */
function short(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…` : id;
}

function author(party, official) {
  return official ? `${party}/${official}` : party;
}

/** The latest signed tree head and the receipt button for the selected item. */
export function renderRecord(panel, picture) {
  const head = picture.treeHead;
  set(panel, ".size", head ? String(head.size) : "–");
  set(panel, ".root", head ? head.root_hash : "–");
  set(panel, ".time", head ? utc(head.time) : "–");
  set(panel, ".cosigned", head ? head.cosigned_by.join(", ") || "none" : "–");
  set(panel, ".settled", head ? (head.settled ? "settled" : "not yet settled") : "–");
  // Alerts and messages are statements in the record; an aircraft is not.
  const selected = picture.selected?.kind === "track" ? null : picture.selected;
  panel.querySelector(".receipt").disabled = !selected;
  set(panel, ".selection",
      selected ? `${selected.kind} ${short(selected.id)}` : "select an alert or message");
}

/** A mesh node's links, one line each: the peer, up or down, and how old the last frame and
 *  the freshest data from the peer are (the node's own count, each second). Hidden on a hub. */
export function renderLinks(list, picture) {
  const links = picture.links ?? [];
  list.hidden = links.length === 0;
  list.previousElementSibling.hidden = list.hidden;
  const age = (s) => (s === null || s === undefined ? "none yet" : `${s.toFixed(1)} s ago`);
  const lines = links.map((l) => {
    const problems = l.incidents.length ? ` · ${l.incidents.join(", ")}` : "";
    return [l.peer, l.state, `${l.peer} ${l.state === "up" ? "up" : "DOWN"} · last frame `
      + `${age(l.last_frame_age_s)} · freshest data ${age(l.freshest_data_age_s)}${problems}`];
  });
  while (list.children.length > lines.length) list.lastElementChild.remove();
  lines.forEach(([peer, state, text], k) => {
    let li = list.children[k];
    if (!li) li = list.appendChild(document.createElement("li"));
    li.dataset.peer = peer;
    li.classList.toggle("down", state !== "up");
    if (li.textContent !== text) li.textContent = text;
  });
}

/** Refresh every countdown on the page; `now` in s, UTC epoch. */
export function tick(root, now) {
  for (const el of root.querySelectorAll("[data-until]")) {
    const s = Math.round(Number(el.dataset.until) - now);
    let text;
    if (el.dataset.kind === "deadline") {
      text = s >= 0 ? `(in ${s} s)` : `overdue ${-s} s`;
    } else {
      text = s > 0 ? `in ${s} s` : "now";
    }
    if (el.textContent !== text) el.textContent = text;
    el.classList.toggle("late", s < 0);
  }
}

export function clock(epoch) {
  return utc(epoch);
}
