// The map: borders, protected airspaces, aircraft with labels and predicted paths, alerts.
// Everything is drawn from local GeoJSON: no tile server, no glyphs, no sprites. Text (aircraft
// labels) is drawn with HTML markers, so the style needs no font files at all; they are kept
// apart here as MapLibre keeps symbol labels apart (no overlap, variable anchors): each label
// goes right, left, above or below its aircraft, wherever it overlaps no label placed before it
// and no aircraft; one that fits nowhere is not shown. The selected aircraft, then those in
// alerts, then the operator's own, are placed first. Clicking an aircraft selects it.

/* global maplibregl */ // vendor/maplibre-gl.js, loaded by index.html as a classic script

export const SEVERITY_COLOURS = { advisory: "#e8c22e", warning: "#f07f1a", critical: "#e0231c" };
const PARTY_COLOURS = ["#2f7fd8", "#c23b9b", "#1f9e6e", "#8a5cd6", "#b8860b"];
const EMPTY = { type: "FeatureCollection", features: [] };
// Cyprus to the Caspian, Crete to the Black Sea: the extent of basemap/countries.geojson.
const BOUNDS = [[25, 28], [50, 45]];
const LOOKAHEAD_S = 300; // the predicted path: as far ahead as the conflict look-ahead
const EARTH_RADIUS_M = 6_371_008.8; // mean radius: a path drawn to a pixel, not a geodesic
const GLYPH_PX = 16;   // the aircraft glyph's box, centred on its position
const LABEL_GAP_PX = 10; // from the aircraft's position to the near edge of its label
const ANCHORS = ["right", "left", "top", "bottom"]; // tried in this order

function style(basemapUrl) {
  const severity = ["match", ["get", "severity"],
    ...Object.entries(SEVERITY_COLOURS).flat(), "#888888"];
  return {
    version: 8,
    sources: {
      countries: { type: "geojson", data: basemapUrl,
                   attribution: "Borders: Natural Earth (public domain), world-atlas" },
      airspaces: { type: "geojson", data: EMPTY },
      paths: { type: "geojson", data: EMPTY },
      alerts: { type: "geojson", data: EMPTY },
    },
    layers: [
      { id: "sea", type: "background", paint: { "background-color": "#cfdde6" } },
      { id: "land", type: "fill", source: "countries", paint: { "fill-color": "#f3f1ea" } },
      { id: "borders", type: "line", source: "countries",
        paint: { "line-color": "#7b7b7b", "line-width": 1 } },
      { id: "airspaces-fill", type: "fill", source: "airspaces",
        paint: { "fill-color": "#d8342b", "fill-opacity": 0.06 } },
      { id: "airspaces-line", type: "line", source: "airspaces",
        paint: { "line-color": "#d8342b", "line-width": 1.5, "line-dasharray": [4, 2] } },
      { id: "paths", type: "line", source: "paths",
        paint: { "line-color": ["get", "colour"], "line-width": 1.5, "line-dasharray": [2, 2] } },
      { id: "alert-links", type: "line", source: "alerts", filter: ["==", "$type", "LineString"],
        paint: { "line-color": severity, "line-width": 1 } },
      { id: "alerts", type: "circle", source: "alerts", filter: ["==", "$type", "Point"],
        paint: { "circle-radius": 8, "circle-color": severity, "circle-opacity": 1,
                 "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 } },
    ],
  };
}

/** The map view; `ready` resolves once the style and the basemap have loaded. */
export class MapView {
  constructor(container, { basemapUrl, center = [36.2, 35.9], zoom = 9.5, onSelect = null }) {
    this.map = new maplibregl.Map({
      container, style: style(basemapUrl), center, zoom, maxBounds: BOUNDS,
      attributionControl: { compact: false },
    });
    this.markers = new Map(); // "party/id" -> maplibregl.Marker
    this.colours = new Map(); // party -> colour, in order of appearance
    this.airspaces = null;    // the airspaces drawn (see render)
    this.onSelect = onSelect; // (key "party/id") when an aircraft is clicked
    this.picture = null;      // the last picture drawn, for decluttering on moves
    this.ready = new Promise((resolve) => this.map.once("load", resolve));
    let pending = false;
    this.map.on("move", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; this.declutter(); });
    });
  }

  partyColour(party) {
    if (!this.colours.has(party)) {
      this.colours.set(party, PARTY_COLOURS[this.colours.size % PARTY_COLOURS.length]);
    }
    return this.colours.get(party);
  }

  /** Draw the picture: {airspaces: Map, tracks: Map, alerts: Map} (see app.js). */
  render(picture) {
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
        properties: { party: t.party, id: t.id, colour: this.partyColour(t.party) } })) });
    // The most severe last, so drawn on top where alerts share a point (a pair's entry).
    const rank = Object.keys(SEVERITY_COLOURS);
    this.map.getSource("alerts").setData({ type: "FeatureCollection", features:
      [...picture.alerts.values()].filter((a) => a.state !== "cleared")
        .sort((a, b) => rank.indexOf(a.severity) - rank.indexOf(b.severity))
        .flatMap((a) => alertFeatures(a, picture.tracks)) });
    this.picture = picture;
    this.#syncMarkers(picture.tracks);
    this.declutter();
  }

  /** Place every label where it overlaps nothing placed before it (see the top of the file). */
  declutter() {
    const picture = this.picture;
    if (!picture) return;
    const inAlerts = new Set();
    for (const a of picture.alerts.values()) {
      if (a.state === "cleared") continue;
      for (const t of a.tracks ?? []) if (t.id !== null) inAlerts.add(`${t.party}/${t.id}`);
    }
    const selected = picture.selected?.kind === "track" ? picture.selected.id : null;
    const rank = (key) => (key === selected ? 0 : inAlerts.has(key) ? 1 :
      key.startsWith(`${picture.me?.party}/`) ? 2 : 3);
    // Measure everything first, then write: one layout, not one per label.
    const items = [...this.markers].map(([key, marker]) => {
      const label = marker.getElement().querySelector(".label");
      return { key, marker, p: this.map.project(marker.getLngLat()), rank: rank(key),
               w: label.offsetWidth, h: label.offsetHeight };
    }).sort((a, b) => a.rank - b.rank || (a.key < b.key ? -1 : 1));
    const half = GLYPH_PX / 2;
    const placed = items.map(({ p }) => [p.x - half, p.y - half, p.x + half, p.y + half]);
    for (const item of items) {
      const anchor = ANCHORS.find((a) => {
        const box = labelBox(a, item.p, item.w, item.h);
        if (placed.some((o) => overlaps(o, box))) return false;
        placed.push(box);
        return true;
      });
      const element = item.marker.getElement();
      element.dataset.anchor = anchor ?? "none";
      element.classList.toggle("selected", item.key === selected);
    }
  }

  #syncMarkers(tracks) {
    for (const [key, marker] of this.markers) {
      if (!tracks.has(key)) { marker.remove(); this.markers.delete(key); }
    }
    for (const [key, t] of tracks) {
      let marker = this.markers.get(key);
      if (!marker) {
        const element = document.createElement("div");
        element.className = "aircraft";
        element.dataset.track = key;
        element.innerHTML = '<span class="glyph">&#x27A4;</span>' +
          '<span class="label"><span class="name"></span><span class="data"></span></span>';
        element.style.color = this.partyColour(t.party);
        element.dataset.anchor = "right";
        element.onclick = () => this.onSelect?.(key);
        // The glyph's box is the marker: centred on the aircraft; the label goes beside it.
        marker = new maplibregl.Marker({ element, anchor: "center" })
          .setLngLat([t.lon, t.lat]).addTo(this.map);
        this.markers.set(key, marker);
      }
      marker.setLngLat([t.lon, t.lat]);
      const element = marker.getElement();
      // The arrow glyph points east (90 deg); track angles are true north, clockwise.
      element.querySelector(".glyph").style.transform = `rotate(${t.trk_deg - 90}deg)`;
      element.querySelector(".name").textContent = `${t.party} ${t.id}`;
      element.querySelector(".data").textContent = flightData(t);
    }
  }
}

/** The screen box [x0, y0, x1, y1] of a w x h label at `anchor` of the point p. */
export function labelBox(anchor, p, w, h) {
  const g = LABEL_GAP_PX;
  switch (anchor) {
    case "right": return [p.x + g, p.y - h / 2, p.x + g + w, p.y + h / 2];
    case "left": return [p.x - g - w, p.y - h / 2, p.x - g, p.y + h / 2];
    case "top": return [p.x - w / 2, p.y - g - h, p.x + w / 2, p.y - g];
    default: return [p.x - w / 2, p.y + g, p.x + w / 2, p.y + g + h];
  }
}

function overlaps(a, b) {
  return a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
}

/**
 * Where the aircraft will be, on a straight line (a great circle) at its ground speed and
 * track, every 30 s over the look-ahead: [[lon, lat], ...] from its reported position.
 */
export function predictedPath(t, seconds = LOOKAHEAD_S, step = 30) {
  const rad = Math.PI / 180;
  const lat1 = t.lat * rad;
  const trk = t.trk_deg * rad;
  const path = [];
  for (let s = 0; s <= seconds; s += step) {
    const d = (t.gs_mps * s) / EARTH_RADIUS_M; // angular distance
    const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) +
                           Math.cos(lat1) * Math.sin(d) * Math.cos(trk));
    const dlon = Math.atan2(Math.sin(trk) * Math.sin(d) * Math.cos(lat1),
                            Math.cos(d) - Math.sin(lat1) * Math.sin(lat2));
    path.push([t.lon + dlon / rad, lat2 / rad]);
  }
  return path;
}

/**
 * The alert's point (entry or closest approach; none for planned operations), and a line to it
 * from each aircraft involved that the viewer can place: its own on the map, another party's
 * where the alert gives its (coarsened) position.
 */
function alertFeatures(alert, tracks) {
  if (!alert.point) return [];
  const properties = { id: alert.id, kind: alert.kind, severity: alert.severity };
  const features = [{ type: "Feature", geometry: { type: "Point", coordinates: alert.point },
                      properties }];
  for (const a of alert.tracks ?? []) {
    const t = (a.id !== null && tracks.get(`${a.party}/${a.id}`)) || (a.lat != null && a);
    if (t) features.push({ type: "Feature", properties, geometry: { type: "LineString",
      coordinates: [[t.lon, t.lat], alert.point] } });
  }
  return features;
}

// Labels speak the operators' units, converted here at the edge: flight level and knots.
function flightData(t) {
  const fl = String(Math.round(t.alt_m / 0.3048 / 100)).padStart(3, "0");
  return `FL${fl} ${Math.round(t.gs_mps * 3600 / 1852)}kt`;
}
