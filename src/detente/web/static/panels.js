// The side panels: alerts, hotline, record. Lists are keyed by id and updated in place, so an
// event arriving while the operator types an acknowledgement does not wipe the text. Countdowns
// live in elements with data-until (s, UTC epoch) that tick() refreshes without a re-render.

const ACTIVE = new Set(["raised", "updated"]);

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

function set(li, selector, text) { li.querySelector(selector).textContent = text; }

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

/** Alerts, most severe and soonest first; `actions` = {acknowledge, warn, select}. */
export function renderAlerts(list, picture, actions) {
  const rank = { critical: 0, warning: 1, advisory: 2 };
  const alerts = [...picture.alerts.values()].sort((a, b) =>
    (a.state === "cleared") - (b.state === "cleared") ||
    rank[a.severity] - rank[b.severity] || a.t_to_go_s - b.t_to_go_s);
  syncList(list, alerts, (a) => {
    const li = element(`<li class="alert">
      <div><span class="severity"></span> <span class="kind"></span>
           <span class="ttg" data-kind="to-go"></span> <span class="state"></span></div>
      <div class="tracks"></div>
      <div class="actions"><button class="ack">Acknowledge</button>
           <button class="warn">Warn</button></div></li>`);
    li.querySelector(".ack").onclick = () => actions.acknowledge("alert", a.id, "acknowledged");
    li.querySelector(".warn").onclick = () => actions.warn(li.dataset.id);
    li.onclick = (event) => {
      if (event.target.tagName !== "BUTTON") actions.select("alert", a.id);
    };
    return li;
  }, (li, a) => {
    li.dataset.severity = a.severity;
    li.classList.toggle("cleared", a.state === "cleared");
    li.classList.toggle("selected", isSelected(picture, "alert", a.id));
    set(li, ".severity", a.severity);
    set(li, ".kind", `${a.kind} ${short(a.id)}`);
    set(li, ".state", a.state);
    set(li, ".tracks", involved(a));
    // t_to_go_s counts from the moment the event arrived (app.js stamps it).
    countdown(li.querySelector(".ttg"), a.state === "cleared" ? null : a.received + a.t_to_go_s);
    li.querySelector(".ack").hidden =
      !ACTIVE.has(a.state) || !a.parties.includes(picture.me?.party);
    li.querySelector(".warn").hidden = a.state === "cleared";
  });
}

/** What an alert is about: aircraft (tactical, incursion) or planned operations (strategic). */
function involved(a) {
  // Another party's aircraft comes without its id: the service keeps that to its owner.
  const aircraft = (a.tracks ?? []).map((t) => `${t.party} ${t.id ?? "aircraft"}`);
  const intents = (a.intents ?? []).map((i) => `${i.owner} intent ${i.id}`);
  return [...aircraft, ...intents].join(", ");
}

/** Hotline messages, newest first; `actions` = {acknowledge, select}. */
export function renderHotline(list, picture, actions) {
  const messages = [...picture.hotline.values()].reverse();
  syncList(list, messages, (m) => {
    const li = element(`<li class="message">
      <div><span class="priority"></span> <span class="route"></span>
           <span class="ttg" data-kind="deadline"></span> <span class="state"></span></div>
      <div class="body"></div><div class="ackinfo"></div>
      <form class="ackform"><input name="text" value="Received" aria-label="acknowledgement">
           <button>Acknowledge</button></form></li>`);
    li.querySelector(".ackform").onsubmit = (event) => {
      event.preventDefault();
      actions.acknowledge("hotline", m.id, event.target.text.value);
    };
    li.onclick = (event) => { if (!event.target.closest("form")) actions.select("hotline", m.id); };
    return li;
  }, (li, m) => {
    li.dataset.priority = m.priority;
    li.dataset.state = m.state;
    li.classList.toggle("selected", isSelected(picture, "hotline", m.id));
    set(li, ".priority", m.priority + (m.automatic ? " (automatic)" : ""));
    // An automatic message is the service's, on behalf of the party's watch: no official.
    set(li, ".route", `${author(m.from_party, m.from_official)} → ` +
                      `${author(m.to_party, m.to_official)} [${m.level}]` +
                      (m.alert_id ? ` re ${short(m.alert_id)}` : ""));
    set(li, ".state", m.state);
    set(li, ".body", m.body);
    set(li, ".ackinfo", m.ack ? `acknowledged by ${m.ack.party}/${m.ack.official}` +
                                ` at ${clock(m.ack.time)}: ${m.ack.text}` : "");
    countdown(li.querySelector(".ttg"), m.state === "acknowledged" ? null : m.deadline);
    li.querySelector(".ackform").hidden = m.state === "acknowledged" ||
      m.to_party !== picture.me?.party || (m.to_official && m.to_official !== picture.me.official);
  });
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
  set(panel, ".size", head ? head.size : "–");
  set(panel, ".root", head ? head.root_hash : "–");
  set(panel, ".time", head ? clock(head.time) : "–");
  set(panel, ".cosigned", head ? head.cosigned_by.join(", ") || "none" : "–");
  set(panel, ".settled", head ? (head.settled ? "settled" : "not yet settled") : "–");
  // Alerts and messages are statements in the record; an aircraft is not.
  const selected = picture.selected?.kind === "track" ? null : picture.selected;
  panel.querySelector(".receipt").disabled = !selected;
  set(panel, ".selection",
      selected ? `${selected.kind} ${short(selected.id)}` : "select an alert or message");
}

/** Refresh every countdown on the page; `now` in s, UTC epoch. */
export function tick(root, now) {
  for (const el of root.querySelectorAll("[data-until]")) {
    const s = Math.round(Number(el.dataset.until) - now);
    if (el.dataset.kind === "deadline") {
      el.textContent = s >= 0 ? `due in ${s} s` : `overdue ${-s} s`;
    } else {
      el.textContent = s > 0 ? `in ${s} s` : "now";
    }
    el.classList.toggle("late", s < 0);
  }
}

export function clock(epoch) {
  return new Date(epoch * 1000).toISOString().slice(11, 19) + "Z";
}
