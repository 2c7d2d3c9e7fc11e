// The console: holds the picture built from the source's events and hands it to the map and
// the panels. The picture changes only in apply(), from events, whichever source sent them.

import { openSource } from "./datasource.js";
import { mountLogin } from "./login.js";
import { MapView } from "./map.js";
import {
  clock, renderAircraftWarning, renderAlerts, renderHotline, renderRecord, tick,
} from "./panels.js";

// The picture's clock is the source's: a compressed demo's service runs faster than the wall.
const now = () => source?.now() ?? Date.now() / 1000;
const params = new URLSearchParams(location.search);
const $ = (selector) => document.querySelector(selector);

const picture = {
  me: null,               // {party, official} once logged in
  lastSeq: 0,
  airspaces: new Map(),   // feature id -> GeoJSON Feature; replaced, never changed in place
  tracks: new Map(),      // "party/id" -> track data
  alerts: new Map(),      // id -> alert data + `received` (s, UTC epoch)
  hotline: new Map(),     // id -> message data, in order of arrival
  treeHead: null,
  selected: null,         // {kind: "alert" | "hotline", id} or {kind: "track", id: "party/id"}
  connection: null,       // {state, detail} from the source
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
    case "alert": picture.alerts.set(data.id, { ...data, received: now() }); break;
    case "hotline": picture.hotline.set(data.id, data); break;
    case "tree_head": picture.treeHead = data; break;
    case "airspace":
      picture.airspaces = new Map(picture.airspaces).set(data.id ?? data.properties.name, data);
      break;
    case "connection": picture.connection = data; break;
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
  view.render(picture);
  renderAlerts($("#alerts"), picture, actions);
  renderHotline($("#hotline"), picture, actions);
  renderAircraftWarning($("#aircraft-warning"), picture, actions);
  renderRecord($("#record"), picture);
  if (picture.me) $("#me").textContent = `${picture.me.party} / ${picture.me.official}`;
  const c = picture.connection; // a recorded source says so instead
  $("#source").textContent = source.label ?? [c?.state, c?.detail].filter(Boolean).join(": ");
  tick(document, now());
}

function report(error) {
  $("#error").textContent = error.message;
  console.warn(error);
}

const actions = {
  acknowledge: (kind, id, text) => source.acknowledge(kind, id, text).catch(report),
  select: (kind, id) => { picture.selected = { kind, id }; scheduleRender(); },
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
    const fl = String(Math.round(t.alt_m / 0.3048 / 100)).padStart(3, "0");
    const body = `WARNING from ${picture.me.party} ${picture.me.official}: your aircraft ` +
      `${t.id} at FL${fl}, ${t.lat.toFixed(3)} N ${t.lon.toFixed(3)} E, track ` +
      `${Math.round(t.trk_deg)}. Change course and acknowledge.`;
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

let source;
let view;
try {
  view = new MapView($("#map"), {
    basemapUrl: new URL("basemap/countries.geojson", import.meta.url).href,
    onSelect: (key) => actions.select("track", key),
  });
  source = openSource(params);
  $("#source").textContent = source.label ?? ""; // say so when the picture is not live
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
    tick(document, now());
    $("#clock").textContent = clock(now());
  }, 500);
} catch (error) {
  report(error);
}

// For the browser tests and for poking at the console from devtools.
window.detenteConsole = {
  picture,
  get source() { return source; },
  get map() { return view?.map; },
};
