// The map: borders, protected airspaces, aircraft with labels and predicted paths, alerts.
// Everything is drawn from local GeoJSON: no tile server, no glyphs, no sprites. Text (aircraft
// labels, country names, grid values) is HTML laid over the map, so the style needs no font
// files at all; labels are kept apart here as MapLibre keeps symbol labels apart (no overlap,
// variable anchors): each goes right, left, above or below its aircraft, wherever it overlaps
// no aircraft, no alert marker and no label placed before it; one that fits nowhere is not
// shown. The selected aircraft, then those in alerts, then the operator's own, go first;
// country names last, and only where they overlap nothing.
//
// An aircraft in an active alert shows it in its own label, as STCA/APW displays do: the label
// takes the alert's colour and a line with the field and the time to go ("APW 45s"). For an
// incursion the entry point (filled), the exit point (hollow) and the stretch flown inside
// (thick) are drawn on the aircraft's path; for a loss of separation, the point where it is
// closest, and a line to it from each aircraft of the pair.

/* global maplibregl */

import { eventTime, exitTime, isActive, isHappening, tag } from "./facts.js";
import { Overlays } from "./overlays.js";
import { SEVERITY_COLOURS, UNKNOWN_PARTY } from "./palette.js";

const EMPTY = { type: "FeatureCollection", features: [] };
// Cyprus to the Caspian, Crete to the Black Sea: the extent of basemap/countries.geojson.
const BOUNDS = [[25, 28], [50, 45]];
const LOOKAHEAD_S = 300; // the predicted path: as far ahead as the conflict look-ahead
const EARTH_RADIUS_M = 6_371_008.8; // mean radius: a path drawn to a pixel, not a geodesic
const GLYPH_PX = 16;   // the aircraft glyph's box, centred on its position
const MARK_PX = 22;    // an entry, exit or closest-approach marker's box
const LABEL_GAP_PX = 10; // from the aircraft's position to the near edge of its label
// Tried in this order, as MapLibre's variable anchors: beside, above or below, then corners.
const ANCHORS = ["right", "left", "top", "bottom", "top-right", "bottom-right", "top-left",
                 "bottom-left"];
const DIAGONAL_PX = 7; // a corner label's offset from the position, each way
const RANK = ["advisory", "warning", "critical"];
const FOCUS_ZOOM = 9;

function style(basemapUrl) {
  const severity = ["match", ["get", "severity"],
    ...Object.entries(SEVERITY_COLOURS).flat(), "#888888"];
  // The most severe drawn on top where alerts share a point (a pair's entry).
  const rank = ["match", ["get", "severity"], "advisory", 0, "warning", 1, "critical", 2, 0];
  return {
    version: 8,
    sources: {
      countries: { type: "geojson", data: basemapUrl, attribution:
        "Borders: Turkey, Syria © OpenStreetMap contributors (ODbL); others Natural Earth" },
      grid: { type: "geojson", data: EMPTY },
      airspaces: { type: "geojson", data: EMPTY },
      paths: { type: "geojson", data: EMPTY },
      alerts: { type: "geojson", data: EMPTY },
    },
    layers: [
      { id: "sea", type: "background", paint: { "background-color": "#cfdde6" } },
      { id: "land", type: "fill", source: "countries", paint: { "fill-color": "#f3f1ea" } },
      { id: "borders", type: "line", source: "countries",
        paint: { "line-color": "#6f6f6f", "line-width": 1.2 } },
      { id: "grid", type: "line", source: "grid",
        paint: { "line-color": "#5b7285", "line-width": 0.6, "line-opacity": 0.45 } },
      { id: "airspaces-fill", type: "fill", source: "airspaces",
        paint: { "fill-color": "#d8342b", "fill-opacity": 0.06 } },
      { id: "airspaces-line", type: "line", source: "airspaces",
        paint: { "line-color": "#d8342b", "line-width": 1.5, "line-dasharray": [4, 2] } },
      { id: "paths", type: "line", source: "paths",
        paint: { "line-color": ["get", "colour"], "line-width": 1.5, "line-dasharray": [2, 2] } },
      { id: "inside", type: "line", source: "alerts", filter: ["==", ["get", "part"], "inside"],
        layout: { "line-cap": "round", "line-sort-key": rank },
        paint: { "line-color": severity, "line-width": 6, "line-opacity": 0.75 } },
      { id: "alert-links", type: "line", source: "alerts",
        filter: ["==", ["get", "part"], "link"], layout: { "line-sort-key": rank },
        paint: { "line-color": severity, "line-width": 1.5 } },
      { id: "exits", type: "circle", source: "alerts", filter: ["==", ["get", "part"], "exit"],
        layout: { "circle-sort-key": rank },
        paint: { "circle-radius": 6, "circle-color": "#ffffff", "circle-stroke-color": severity,
                 "circle-stroke-width": 3 } },
      { id: "alerts", type: "circle", source: "alerts", filter: ["==", ["get", "part"], "point"],
        layout: { "circle-sort-key": rank },
        paint: { "circle-radius": 8, "circle-color": severity, "circle-opacity": 1,
                 "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 } },
    ],
  };
}

/** The map view; `ready` resolves once the style and the basemap have loaded. */
export class MapView {
  constructor(container, { basemapUrl, center = [36.2, 35.9], zoom = 9.5, onSelect = null,
                           onMyTraffic = null }) {
    this.map = new maplibregl.Map({
      container, style: style(basemapUrl), center, zoom, maxBounds: BOUNDS,
      attributionControl: { compact: false },
    });
    this.markers = new Map(); // "party/id" -> maplibregl.Marker
    this.airspaces = null;    // the airspaces drawn (see render)
    this.onSelect = onSelect; // (key "party/id") when an aircraft is clicked
    this.picture = null;      // the last picture drawn, for decluttering on moves
    this.viewed = false;      // the first view (own traffic and alerts) has been set
    this.userMoved = false;   // the operator moved the map: no automatic view after that
    this.overlays = null;
    this.ready = new Promise((resolve) => this.map.once("load", resolve)).then(() => {
      this.overlays = new Overlays(this.map, { onMyTraffic: () => onMyTraffic?.() });
      this.overlays.onNames = () => this.declutter();
    });
    let pending = false;
    this.map.on("move", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; this.declutter(); });
    });
    for (const e of ["dragstart", "zoomstart", "rotatestart"]) {
      this.map.on(e, (event) => { if (event.originalEvent) this.userMoved = true; });
    }
  }

  colour(party) {
    return this.picture?.parties?.get(party)?.colour ?? UNKNOWN_PARTY;
  }

  /** Draw the picture (see app.js); `now` is the source's clock (s, UTC epoch). */
  render(picture, now) {
    this.picture = picture;
    this.now = now;
    // Airspaces are large (Turkey's border: 1 MB) and change rarely: drawn again only when
    // the picture holds another Map of them. The rest is small and changes every cycle.
    if (picture.airspaces !== this.airspaces) {
      this.airspaces = picture.airspaces;
      this.map.getSource("airspaces").setData(
        { type: "FeatureCollection", features: [...picture.airspaces.values()] });
    }
    this.map.getSource("paths").setData({ type: "FeatureCollection", features:
      [...picture.tracks.values()].map((t) => ({
        type: "Feature", geometry: { type: "LineString", coordinates: predictedPath(t) },
        properties: { party: t.party, id: t.id, colour: this.colour(t.party) } })) });
    // The most severe last, so drawn on top where alerts share a point (a pair's entry).
    const alerts = [...picture.alerts.values()].filter(isActive)
      .sort((a, b) => RANK.indexOf(a.severity) - RANK.indexOf(b.severity));
    this.marks = [];
    const features = alerts.flatMap((a) => alertFeatures(a, picture, now, this.marks));
    this.map.getSource("alerts").setData({ type: "FeatureCollection", features });
    this.#syncMarkers(picture, alerts, now);
    this.overlays?.renderLegend(picture.parties ?? new Map(), picture.me?.party);
    this.declutter();
  }

  /** The first view: the party's own traffic and its alerts, once, unless the operator has
   *  moved the map already. True once it is set. */
  firstView(picture) {
    if (this.viewed || this.userMoved) return true;
    const bounds = trafficBounds(picture);
    if (!bounds) return false;
    this.fit(bounds, 0);
    this.viewed = true;
    return true;
  }

  /** "My traffic": own aircraft, where they will be in five minutes, and their alerts. */
  showMyTraffic(picture) {
    const bounds = trafficBounds(picture);
    if (bounds) this.fit(bounds, 400);
  }

  fit(bounds, duration) {
    // Room for the labels, and for the legend and scale at the bottom.
    this.map.fitBounds(bounds, { padding: { top: 70, bottom: 90, left: 90, right: 110 },
                                 maxZoom: 10, duration });
  }

  /** Centre on a point (lon, lat), zoomed in at least to FOCUS_ZOOM. */
  focus(point) {
    this.map.easeTo({ center: point, zoom: Math.max(this.map.getZoom(), FOCUS_ZOOM),
                      duration: 400 });
  }

  /** Place every label where it overlaps nothing placed before it (see the top of the file). */
  declutter() {
    const picture = this.picture;
    if (!picture) return;
    const inAlerts = new Set();
    for (const a of picture.alerts.values()) {
      if (!isActive(a)) continue;
      for (const t of a.tracks ?? []) if (t.id !== null) inAlerts.add(`${t.party}/${t.id}`);
    }
    const selected = selectedTracks(picture);
    const rank = (key) => (selected.has(key) ? 0 : inAlerts.has(key) ? 1 :
      key.startsWith(`${picture.me?.party}/`) ? 2 : 3);
    // Measure everything first, then write: one layout, not one per label.
    const items = [...this.markers].map(([key, marker]) => {
      const label = marker.getElement().querySelector(".label");
      return { key, marker, p: this.map.project(marker.getLngLat()), rank: rank(key),
               w: label.offsetWidth, h: label.offsetHeight };
    }).sort((a, b) => a.rank - b.rank || (a.key < b.key ? -1 : 1));
    const half = GLYPH_PX / 2;
    const placed = items.map(({ p }) => [p.x - half, p.y - half, p.x + half, p.y + half]);
    // What lies over the map (legend, scale, buttons, attribution) is in the way too, and a
    // label must stay inside the map.
    const frame = this.map.getContainer().getBoundingClientRect();
    const inFrame = (b) => b[0] >= 0 && b[1] >= 0 && b[2] <= frame.width && b[3] <= frame.height;
    for (const el of this.map.getContainer().querySelectorAll(
      ".legend, .maplibregl-ctrl, .grid-label")) {
      const r = el.getBoundingClientRect();
      if (r.width) placed.push([r.left - frame.left, r.top - frame.top, r.right - frame.left,
                                r.bottom - frame.top]);
    }
    // Alert markers are obstacles too: a label must not hide where the aircraft will enter.
    for (const lngLat of this.marks ?? []) {
      const p = this.map.project(lngLat);
      placed.push([p.x - MARK_PX / 2, p.y - MARK_PX / 2, p.x + MARK_PX / 2, p.y + MARK_PX / 2]);
    }
    for (const item of items) {
      const anchor = ANCHORS.find((a) => {
        const box = labelBox(a, item.p, item.w, item.h);
        if (!inFrame(box) || placed.some((o) => overlaps(o, box))) return false;
        placed.push(box);
        return true;
      });
      const element = item.marker.getElement();
      element.dataset.anchor = anchor ?? "none";
      element.classList.toggle("selected", selected.has(item.key));
    }
    // Country names last, each at the first of its places on screen that overlaps nothing.
    for (const { marker, places, w, h } of this.overlays?.names.values() ?? []) {
      const at = places.find((lngLat) => {
        const p = this.map.project(lngLat);
        const box = [p.x - w / 2, p.y - h / 2, p.x + w / 2, p.y + h / 2];
        if (!inFrame(box) || placed.some((o) => overlaps(o, box))) return false;
        placed.push(box);
        return true;
      });
      marker.getElement().classList.toggle("hidden", !at);
      if (at) marker.setLngLat(at);
    }
  }

  #syncMarkers(picture, alerts, now) {
    const tracks = picture.tracks;
    for (const [key, marker] of this.markers) {
      if (!tracks.has(key)) { marker.remove(); this.markers.delete(key); }
    }
    // Each aircraft's most pressing alert: the most severe, then the soonest.
    const alertOf = new Map();
    for (const a of alerts) {
      for (const t of a.tracks ?? []) {
        if (t.id === null) continue;
        const key = `${t.party}/${t.id}`;
        const had = alertOf.get(key);
        if (!had || RANK.indexOf(a.severity) > RANK.indexOf(had.severity) ||
            (a.severity === had.severity && eventTime(a) < eventTime(had))) {
          alertOf.set(key, a);
        }
      }
    }
    for (const [key, t] of tracks) {
      let marker = this.markers.get(key);
      if (!marker) {
        const element = document.createElement("div");
        element.className = "aircraft";
        element.dataset.track = key;
        element.innerHTML = '<span class="glyph">&#x27A4;</span>' +
          '<span class="label"><span class="name"></span><span class="data"></span>' +
          '<span class="alert-tag"></span></span>';
        element.dataset.anchor = "right";
        element.onclick = () => this.onSelect?.(key);
        // The glyph's box is the marker: centred on the aircraft; the label goes beside it.
        marker = new maplibregl.Marker({ element, anchor: "center" })
          .setLngLat([t.lon, t.lat]).addTo(this.map);
        this.markers.set(key, marker);
      }
      marker.setLngLat([t.lon, t.lat]);
      const element = marker.getElement();
      element.style.setProperty("--party", this.colour(t.party));
      element.dataset.own = String(t.party === picture.me?.party);
      // The arrow glyph points east (90 deg); track angles are true north, clockwise.
      element.querySelector(".glyph").style.transform = `rotate(${t.trk_deg - 90}deg)`;
      element.querySelector(".name").textContent = `${t.party} ${t.id}`;
      element.querySelector(".data").textContent = flightData(t);
      const a = alertOf.get(key);
      if (a) {
        element.dataset.alert = a.severity;
        element.dataset.alertId = a.id;
        element.querySelector(".alert-tag").textContent = tag(a, now);
      } else {
        delete element.dataset.alert;
        delete element.dataset.alertId;
        element.querySelector(".alert-tag").textContent = "";
      }
    }
  }

  /** Refresh the labels' countdowns (between renders). */
  tick(now) {
    for (const marker of this.markers.values()) {
      const element = marker.getElement();
      const a = element.dataset.alertId && this.picture?.alerts.get(element.dataset.alertId);
      if (a) element.querySelector(".alert-tag").textContent = tag(a, now);
    }
  }
}

/** The aircraft to highlight: the one selected, or every aircraft of the selected alert
 *  (a conflicting pair together). */
function selectedTracks(picture) {
  const s = picture.selected;
  if (s?.kind === "track") return new Set([s.id]);
  if (s?.kind === "alert") {
    const a = picture.alerts.get(s.id);
    return new Set((a?.tracks ?? []).filter((t) => t.id !== null).map((t) => `${t.party}/${t.id}`));
  }
  return new Set();
}

/** Bounds [[w, s], [e, n]] of the operator's own aircraft (now and five minutes ahead) and
 *  of its open alerts' points; null when it has neither. */
export function trafficBounds(picture) {
  const points = [];
  for (const t of picture.tracks.values()) {
    if (t.party !== picture.me?.party) continue;
    points.push([t.lon, t.lat], predictedPath(t, LOOKAHEAD_S, LOOKAHEAD_S).at(-1));
  }
  for (const a of picture.alerts.values()) if (isActive(a) && a.point) points.push(a.point);
  if (!points.length) return null;
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  return [[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]];
}

/** The screen box [x0, y0, x1, y1] of a w x h label at `anchor` of the point p. */
export function labelBox(anchor, p, w, h) {
  const g = LABEL_GAP_PX;
  const d = DIAGONAL_PX;
  switch (anchor) {
    case "right": return [p.x + g, p.y - h / 2, p.x + g + w, p.y + h / 2];
    case "left": return [p.x - g - w, p.y - h / 2, p.x - g, p.y + h / 2];
    case "top": return [p.x - w / 2, p.y - g - h, p.x + w / 2, p.y - g];
    case "top-right": return [p.x + d, p.y - d - h, p.x + d + w, p.y - d];
    case "bottom-right": return [p.x + d, p.y + d, p.x + d + w, p.y + d + h];
    case "top-left": return [p.x - d - w, p.y - d - h, p.x - d, p.y - d];
    case "bottom-left": return [p.x - d - w, p.y + d, p.x - d, p.y + d + h];
    default: return [p.x - w / 2, p.y + g, p.x + w / 2, p.y + g + h];
  }
}

function overlaps(a, b) {
  return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

/** Where the aircraft will be `s` seconds after its report, on its great circle. */
export function flyTo(t, s) {
  const rad = Math.PI / 180;
  const lat1 = t.lat * rad;
  const trk = t.trk_deg * rad;
  const d = (t.gs_mps * s) / EARTH_RADIUS_M; // angular distance
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) +
                         Math.cos(lat1) * Math.sin(d) * Math.cos(trk));
  const dlon = Math.atan2(Math.sin(trk) * Math.sin(d) * Math.cos(lat1),
                          Math.cos(d) - Math.sin(lat1) * Math.sin(lat2));
  return [t.lon + dlon / rad, lat2 / rad];
}

/**
 * Where the aircraft will be, on a straight line (a great circle) at its ground speed and
 * track, every `step` s over the look-ahead: [[lon, lat], ...] from its reported position.
 */
export function predictedPath(t, seconds = LOOKAHEAD_S, step = 30) {
  const path = [];
  for (let s = 0; s <= seconds; s += step) path.push(flyTo(t, s));
  return path;
}

/**
 * An alert's geometry, as features of the "alerts" source (property `part`): its point (the
 * entry, or the closest approach; none for planned operations), a line to it from each
 * aircraft involved that the viewer can place (its own on the map, another party's where the
 * alert gives its coarsened position), and for an incursion by an aircraft on the map the exit
 * point and the stretch inside, on the aircraft's path. Marker positions go into `marks`.
 */
function alertFeatures(alert, picture, now, marks) {
  const tracks = picture.tracks;
  if (!alert.point) return [];
  const properties = { id: alert.id, kind: alert.kind, severity: alert.severity };
  const feature = (part, geometry) => ({ type: "Feature", geometry,
                                         properties: { ...properties, part } });
  const happening = isHappening(alert, now);
  const features = [];
  const exit = alert.detail?.exit_point;
  for (const a of alert.tracks ?? []) {
    const t = (a.id !== null && tracks.get(`${a.party}/${a.id}`)) || (a.lat != null && a);
    if (!t) continue;
    // The stretch inside and its exit, on the path of an aircraft the viewer sees as it is:
    // its own, or another party's shared at full precision.
    const exact = t.party === picture.me?.party || t.precision_m === 0;
    // Only while the aircraft flies as the alert predicted: on a turn the alert is about to be
    // updated or cleared, and a stretch drawn from the new track would be neither.
    const entryAt = happening ? now : eventTime(alert);
    const onTrack = !happening ? metres(flyTo(t, entryAt - t.t), alert.point) <=
      Math.max(500, 0.01 * t.gs_mps * Math.abs(entryAt - t.t)) : true;
    if (alert.kind === "incursion" && t.gs_mps != null && t.t != null && exact && onTrack) {
      const exitAt = exitTime(alert) ?? now + LOOKAHEAD_S;
      const line = [];
      for (let s = entryAt; s < exitAt; s += 2) line.push(flyTo(t, s - t.t));
      const end = exit ?? flyTo(t, exitAt - t.t);
      line.push(end);
      if (!happening) line[0] = alert.point;
      features.push(feature("inside", { type: "LineString", coordinates: line }));
      if (exitTime(alert) !== null) {
        features.push(feature("exit", { type: "Point", coordinates: end }));
        marks.push(end);
      }
    }
    if (!happening) {
      features.push(feature("link", { type: "LineString",
                                      coordinates: [[t.lon, t.lat], alert.point] }));
    }
  }
  if (exit && !features.some((f) => f.properties.part === "exit")) {
    features.push(feature("exit", { type: "Point", coordinates: exit }));
    marks.push(exit);
  }
  features.push(feature("point", { type: "Point", coordinates: alert.point }));
  marks.push(alert.point);
  return features;
}

/** Great-circle distance between two [lon, lat] points, m (mean sphere). */
function metres(a, b) {
  const rad = Math.PI / 180;
  const h = Math.sin((b[1] - a[1]) * rad / 2) ** 2 +
    Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin((b[0] - a[0]) * rad / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

// Labels speak the operators' units, converted here at the edge: flight level and knots.
function flightData(t) {
  const fl = String(Math.round(t.alt_m / 0.3048 / 100)).padStart(3, "0");
  return `FL${fl} ${Math.round(t.gs_mps * 3600 / 1852)}kt`;
}
