// The console: holds the picture built from the source's events and hands it to the map and
// the panels. The picture changes only in apply(), from events, whichever source sent them.

import { Alarm, renderBanner, renderTitle, urgentAlerts } from "./attention.js";
import { openSource } from "./datasource.js";
import { flightLevel, position, utc } from "./facts.js";
import { mountLogin } from "./login.js";
import { MapView } from "./map.js";
import { partyColours } from "./palette.js";
import {
  renderAircraftWarning, renderAlerts, renderHotline, renderLinks, renderRecord, tick,
} from "./panels.js";

// The picture's clock is the source's: a compressed demo's service runs faster than the wall.
const now = () => source?.now() ?? Date.now() / 1000;
const params = new URLSearchParams(location.search);
const $ = (selector) => document.querySelector(selector);

const picture = {
  me: null,               // {party, official} once logged in
  lastSeq: 0,
  parties: new Map(),     // id -> {id, name, colour}: the parties this one may know of
  airspaces: new Map(),   // feature id -> GeoJSON Feature; replaced, never changed in place
  tracks: new Map(),      // "party/id" -> track data
  alerts: new Map(),      // id -> alert data + `received` (s, UTC epoch)
  hotline: new Map(),     // id -> message data, in order of arrival
  treeHead: null,
  links: [],              // a mesh node's links to its peers (none on a hub)
  selected: null,         // {kind: "alert" | "hotline", id} or {kind: "track", id: "party/id"}
  connection: null,       // {state, detail} from the source
  pending: new Set(),     // "alert/id", "hotline/id": acknowledged here, not yet by the service
};

function apply({ seq, type, data }) {
  // The service numbers its durable events; one seen before (after a reconnect, say) is
  // dropped. What it does not keep (the picture's tracks, say) has no number.
  if (seq !== null) {
    if (seq <= picture.lastSeq) return;
    picture.lastSeq = seq;
  }
  switch (type) {
    case "track": picture.tracks.set(`${data.party}/${data.id}`, data); break;
    case "track_gone": picture.tracks.delete(`${data.party}/${data.id}`); break;
    case "alert":
      picture.alerts.set(data.id, { ...data, received: now() });
      if (data.state !== "raised" && data.state !== "updated") {
        picture.pending.delete(`alert/${data.id}`);
      }
      break;
    case "hotline":
      picture.hotline.set(data.id, data);
      if (data.state === "acknowledged" || data.state === "overtaken") {
        picture.pending.delete(`hotline/${data.id}`);
      }
      break;
    case "tree_head": picture.treeHead = data; break;
    case "links": picture.links = data.links; break;
    case "parties": picture.parties = partyColours(data.parties); break;
    case "airspace":
      picture.airspaces = new Map(picture.airspaces).set(data.id ?? data.properties.name, data);
      break;
    case "connection": picture.connection = data; break;
    case "service": picture.service = data; break;
    case "reset": // a replay moved in time or changed party: what follows is the whole picture
      picture.tracks = new Map();
      picture.alerts = new Map();
      picture.hotline = new Map();
      picture.treeHead = null;
      picture.lastSeq = 0;
      if (data?.me) picture.me = data.me;
      break;
    default: console.warn(`unknown event type "${type}" (seq ${seq})`);
  }
  scheduleRender();
}

let pending = false;
function scheduleRender() {
  // Events come in bursts; draw once per frame at most.
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function render() {
  const t = now();
  view.render(picture, t);
  if (picture.me) view.firstView(picture);
  renderPanels(t);
  renderAircraftWarning($("#aircraft-warning"), picture, actions);
  renderRecord($("#record"), picture);
  renderLinks($("#links"), picture);
  if (picture.me) $("#me").textContent = `${picture.me.party} / ${picture.me.official}`;
  const c = picture.connection; // a recorded source says so instead
  $("#source").textContent = [source.label ?? [c?.state, c?.detail].filter(Boolean).join(": "),
    diskText(picture.service)].filter(Boolean).join(" · ");
}

/** The service's disk, as it told every party (service/disk.py); nothing while it has room. */
function diskText(service) {
  if (!service || service.disk === "ok") return "";
  return `the service's disk is nearly full (${service.free_mb} MB free): ` +
    (service.reports_refused ? "new reports are refused" : "the oldest recording is pruned");
}

/** What changes with the clock alone: the lists, the banner, the title, the tone. */
function renderPanels(t) {
  renderAlerts($("#alerts"), picture, actions, t);
  renderHotline($("#hotline"), picture, actions, t);
  const urgent = urgentAlerts(picture);
  renderBanner($("#banner"), urgent, picture, t, actions.focusAlert);
  renderTitle(document, urgent);
  // A replay is a review: it shows what was shown, and sounds nothing.
  if (!source.readOnly) alarm.update(urgent, picture.me?.party);
  renderSound();
  tick(document, t);
}

function report(error) {
  $("#error").textContent = error.message;
  console.warn(error);
}

/** Run an acknowledgement, marked pending until the service's event says it is done. */
function acknowledge(kind, id, text) {
  const key = `${kind}/${id}`;
  picture.pending.add(key);
  scheduleRender();
  return source.acknowledge(kind, id, text).catch((error) => {
    picture.pending.delete(key);
    scheduleRender();
    report(error);
  });
}

const actions = {
  acknowledge,
  select: (kind, id) => { picture.selected = { kind, id }; scheduleRender(); },
  selectMessage: (id) => { picture.selected = { kind: "hotline", id }; scheduleRender(); },
  // A click on an alert: the map centres on its aircraft (the operator's own, else the alert's
  // point) and highlights it (a pair together); the message about it comes into view.
  focusAlert: (id) => {
    const a = picture.alerts.get(id);
    if (!a) return;
    picture.selected = { kind: "alert", id };
    const mine = (a.tracks ?? []).map((t) => t.id !== null && picture.tracks.get(
      `${t.party}/${t.id}`)).find(Boolean);
    const at = mine ? [mine.lon, mine.lat] : a.point;
    if (at) view.focus(at);
    scheduleRender();
    const about = [...picture.hotline.values()].filter((m) => m.alert_id === id);
    const first = about.find((m) => m.to_party === picture.me?.party &&
                                    !["acknowledged", "overtaken"].includes(m.state)) ??
                  about[about.length - 1];
    if (first) requestAnimationFrame(() => actions.focusMessage(first.id, false));
  },
  focusMessage: (id, select = true) => {
    const li = document.querySelector(`#hotline li[data-id="${CSS.escape(id)}"]`);
    if (!li) return;
    if (select) actions.selectMessage(id);
    li.scrollIntoView({ block: "nearest", behavior: "smooth" });
    li.classList.add("flash");
    setTimeout(() => li.classList.remove("flash"), 1500);
    const input = li.querySelector(".ackform:not([hidden]) input");
    if (input && select) input.focus({ preventScroll: true });
  },
  // One click sends a standard warning about the alert to the other party; the form below the
  // hotline is for anything more to say.
  warn: (alertId) => {
    const alert = picture.alerts.get(alertId);
    const to = alert.parties.find((p) => p !== picture.me?.party);
    if (!to) return report(new Error("this alert involves no other party"));
    const ours = (alert.tracks ?? []).filter((t) => t.party === to && t.id).map((t) => t.id);
    const body = `WARNING from ${picture.me.party} ${picture.me.official}: ${alert.kind} ` +
      `alert ${alertId.slice(0, 8)} (${alert.severity}) involves your aircraft` +
      `${ours.length ? " " + ours.join(", ") : ""}. Change course and acknowledge.`;
    source.send({ to_party: to, priority: alert.severity === "critical" ? "flash" : "urgent",
                  body, alert_id: alertId }).catch(report);
  },
  // The same for an aircraft selected on the map: a standard warning to its party, about it.
  warnAircraft: (key) => {
    const t = picture.tracks.get(key);
    if (!t || t.party === picture.me?.party) return report(new Error("select another party's aircraft"));
    const body = `WARNING from ${picture.me.party} ${picture.me.official}: your aircraft ` +
      `${t.id} at ${flightLevel(t.alt_m)}, ${position(t.lon, t.lat)}, track ` +
      `${Math.round(t.trk_deg)}, at ${utc(t.t)}. Change course and acknowledge.`;
    source.send({ to_party: t.party, priority: "urgent", body, alert_id: null }).catch(report);
  },
};

async function downloadReceipt() {
  const { kind, id } = picture.selected;
  const receipt = await source.receipt(kind, id);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([JSON.stringify(receipt, null, 1)],
                                           { type: "application/json" }));
  link.download = `receipt-${kind}-${id}.json`;
  link.click();
  URL.revokeObjectURL(link.href);
}

function mountCompose(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = { to_party: form.to_party.value.trim(), priority: form.priority.value,
                      body: form.body.value.trim(), alert_id: form.alert_id.value || null };
    if (!message.to_party || !message.body) return report(new Error("to and message are needed"));
    await source.send(message).then(() => form.reset()).catch(report);
  });
}

/** The sound switch: on, off (remembered), or held back by the browser until a click. */
function renderSound() {
  const button = $("#sound");
  const blocked = alarm.blocked;
  button.setAttribute("aria-checked", String(!alarm.muted));
  button.dataset.state = alarm.muted ? "off" : blocked ? "blocked" : "on";
  const text = alarm.muted ? "Sound off" : blocked ? "Sound: click to enable" : "Sound on";
  if (button.textContent !== text) button.textContent = text;
}

const alarm = new Alarm();
let source;
let view;
try {
  view = new MapView($("#map"), {
    basemapUrl: new URL("basemap/countries.geojson", import.meta.url).href,
    onSelect: (key) => actions.select("track", key),
    onMyTraffic: () => view.showMyTraffic(picture),
  });
  source = openSource(params);
  $("#source").textContent = source.label ?? ""; // say so when the picture is not live
  // Browsers let a page sound only after a user gesture: the first click or key.
  for (const e of ["pointerdown", "keydown"]) {
    document.addEventListener(e, () => { alarm.unlock(); renderSound(); }, { capture: true });
  }
  $("#sound").onclick = () => { alarm.setMuted(!alarm.muted); renderSound(); };
  $("#sound").hidden = !!source.readOnly;
  renderSound();
  const start = async (me) => {
    picture.me = me;
    document.body.classList.add("logged-in");
    $("#me").textContent = `${me.party} / ${me.official}`;
    await view.ready;
    await source.connect(apply);
  };
  if (source.me) {
    // A source that needs no key (a replay): no login, its own controls, nothing to send.
    document.body.classList.toggle("read-only", !!source.readOnly);
    source.me().then(async (me) => {
      $("#source").textContent = source.label ?? "";
      source.mountControls?.($("#replay"));
      await start(me);
    }).catch(report);
  } else {
    mountLogin($("#login"), source, start);
  }
  mountCompose($("#compose"));
  $("#record .receipt").onclick = () => downloadReceipt().catch(report);
  setInterval(() => {
    const t = now();
    $("#clock").textContent = utc(t);
    if (!picture.me) return;
    renderPanels(t);
    view.tick(t);
  }, 500);
} catch (error) {
  report(error);
}

// For the browser tests and for poking at the console from devtools.
window.detenteConsole = {
  picture,
  alarm,
  get source() { return source; },
  get map() { return view?.map; },
  get view() { return view; },
};
