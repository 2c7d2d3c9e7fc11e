// What a chart has besides the traffic: a latitude/longitude grid with its values at the map's
// edges, the countries' names, a scale bar (MapLibre's, in kilometres and nautical miles), a
// legend, and a button that brings the operator's own traffic back into view.
//
// No glyphs: the style has no symbol layers, so every piece of text here is HTML laid over the
// map. Country names are placed where the country is on screen (sampled from the rendered land
// layer), so that the names follow the view, and give way to aircraft labels (map.js).

/* global maplibregl */

import { SEVERITY_COLOURS } from "./palette.js";

// Grid spacings, degrees: from 10 deg down to 1 minute.
const STEPS = [10, 5, 2, 1, 0.5, 0.25, 1 / 6, 1 / 12, 1 / 30, 1 / 60];
const TARGET_LINES = 5;     // about this many lines across the shorter side of the map
const SAMPLE_PX = 70;       // country names: where the land layer is sampled on screen

/** The grid step (deg) that gives about TARGET_LINES lines over `span` degrees. */
export function gridStep(span) {
  return STEPS.find((s) => span / s >= TARGET_LINES - 1) ?? STEPS[STEPS.length - 1];
}

/** "36°N", "36°30′N", "36°05′E": a grid value, with minutes only when it has them. */
export function gridLabel(value, hemispheres) {
  const h = value < 0 ? hemispheres[1] : hemispheres[0];
  const minutes = Math.round(Math.abs(value) * 60);
  const deg = Math.floor(minutes / 60);
  const min = minutes - deg * 60;
  return min ? `${deg}°${String(min).padStart(2, "0")}′${h}` : `${deg}°${h}`;
}

/** Meridians and parallels every `step` degrees over the bounds, as GeoJSON lines. */
export function graticule(west, south, east, north, step) {
  const features = [];
  const line = (coordinates, props) => features.push(
    { type: "Feature", properties: props, geometry: { type: "LineString", coordinates } });
  const first = (v) => Math.ceil(v / step - 1e-9) * step;
  for (let lon = first(west); lon <= east + 1e-9; lon += step) {
    line([[lon, south], [lon, north]], { axis: "lon", value: lon });
  }
  for (let lat = first(south); lat <= north + 1e-9; lat += step) {
    // Parallels in pieces: a long straight line would not follow the projection's curve.
    const coords = [];
    for (let x = west; x < east; x += (east - west) / 16) coords.push([x, lat]);
    coords.push([east, lat]);
    line(coords, { axis: "lat", value: lat });
  }
  return { type: "FeatureCollection", features };
}

export class Overlays {
  /** `map`: a loaded maplibregl.Map; `container`: the element over it for HTML text. */
  constructor(map, { onMyTraffic }) {
    this.map = map;
    this.gridLabels = document.createElement("div");
    this.gridLabels.className = "grid-labels";
    map.getContainer().append(this.gridLabels);
    this.names = new Map(); // country name -> {marker, places: [LngLat], w, h (px)}
    this.onNames = null;    // called when the names have new places (map.js declutters)
    map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "nautical", maxWidth: 120 }),
                   "bottom-right");
    map.addControl(new ButtonControl("My traffic", "zoom to my traffic and its alerts",
                                     "my-traffic", onMyTraffic), "top-right");
    this.legend = document.createElement("details");
    this.legend.className = "legend";
    this.legend.open = true;
    map.getContainer().append(this.legend);
    let pending = false;
    map.on("move", () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; this.#grid(); });
    });
    map.on("moveend", () => this.#countryNames());
    map.on("idle", () => { if (!this.named) this.#countryNames(); });
    this.#grid();
  }

  #grid() {
    const map = this.map;
    const b = map.getBounds();
    const step = gridStep(Math.min(b.getEast() - b.getWest(), b.getNorth() - b.getSouth()));
    const source = map.getSource("grid");
    const pad = step;
    source?.setData(graticule(b.getWest() - pad, b.getSouth() - pad, b.getEast() + pad,
                              b.getNorth() + pad, step));
    const labels = [];
    const { width, height } = map.getContainer().getBoundingClientRect();
    const first = (v) => Math.ceil(v / step - 1e-9) * step;
    for (let lon = first(b.getWest()); lon <= b.getEast(); lon += step) {
      const x = map.project([lon, b.getSouth()]).x;
      if (x > 30 && x < width - 30) labels.push(["lon", x, height, gridLabel(lon, "EW")]);
    }
    for (let lat = first(b.getSouth()); lat <= b.getNorth(); lat += step) {
      const y = map.project([b.getWest(), lat]).y;
      if (y > 20 && y < height - 20) labels.push(["lat", 0, y, gridLabel(lat, "NS")]);
    }
    this.gridLabels.replaceChildren(...labels.map(([axis, x, y, text]) => {
      const el = document.createElement("span");
      el.className = `grid-label ${axis}`;
      el.textContent = text;
      if (axis === "lon") el.style.left = `${x}px`;
      else el.style.top = `${y}px`;
      return el;
    }));
  }

  /** A name per country on screen, with the places it may go (map.js picks the first that
   *  overlaps nothing): the sampled points of the country, deepest in it first. */
  #countryNames() {
    const map = this.map;
    if (!map.getLayer("land")) return;
    const { width, height } = map.getContainer().getBoundingClientRect();
    const samples = new Map(); // name -> [[x, y], ...]
    for (let y = SAMPLE_PX / 2; y < height; y += SAMPLE_PX) {
      for (let x = SAMPLE_PX / 2; x < width; x += SAMPLE_PX) {
        const [f] = map.queryRenderedFeatures([x, y], { layers: ["land"] });
        const name = f?.properties?.name;
        if (name) (samples.get(name) ?? samples.set(name, []).get(name)).push([x, y]);
      }
    }
    this.named = samples.size > 0;
    for (const [name, entry] of this.names) {
      if (!samples.has(name)) { entry.marker.remove(); this.names.delete(name); }
    }
    for (const [name, points] of samples) {
      // Deepest first: the most neighbours of the same country, then nearest their middle.
      const has = new Set(points.map(([x, y]) => `${x},${y}`));
      const around = ([x, y]) => [[SAMPLE_PX, 0], [-SAMPLE_PX, 0], [0, SAMPLE_PX],
        [0, -SAMPLE_PX]].filter(([dx, dy]) => has.has(`${x + dx},${y + dy}`)).length;
      const mx = points.reduce((s, p) => s + p[0], 0) / points.length;
      const my = points.reduce((s, p) => s + p[1], 0) / points.length;
      const score = (p) => around(p) * 1e6 - Math.hypot(p[0] - mx, p[1] - my);
      const places = points.sort((a, b) => score(b) - score(a)).map((p) => map.unproject(p));
      let entry = this.names.get(name);
      if (!entry) {
        const el = document.createElement("div");
        el.className = "country-name";
        el.textContent = name;
        el.dataset.country = name;
        const marker = new maplibregl.Marker({ element: el, anchor: "center" })
          .setLngLat(places[0]).addTo(map);
        entry = { marker, places, w: el.offsetWidth, h: el.offsetHeight };
        this.names.set(name, entry);
      }
      entry.places = places;
    }
    this.onNames?.();
  }

  /** The legend: party colours (the operator's own first), alert severities, symbols. */
  renderLegend(parties, me) {
    const key = JSON.stringify([[...parties.values()], me]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    const own = [...parties.values()].sort((a, b) => (b.id === me) - (a.id === me));
    const swatch = (colour, cls = "") => `<i class="swatch ${cls}" style="--c:${colour}"></i>`;
    const esc = (s) => String(s).replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    this.legend.innerHTML = `
      <summary class="legend-title">Legend</summary>
      ${own.map((p) => `<div data-party="${esc(p.id)}">${swatch(p.colour)}${esc(p.id)}` +
        `${p.id === me ? " (you)" : ""}${p.name && p.name !== p.id ? ` · ${esc(p.name)}` : ""}` +
        "</div>").join("")}
      ${Object.entries(SEVERITY_COLOURS).map(([s, c]) =>
        `<div>${swatch(c, "severity")}${s}</div>`).join("")}
      <div>${swatch("#d8342b", "airspace")}protected airspace</div>
      <div>${swatch("#555", "path")}predicted path, 5 min</div>
      <div>${swatch("#e0231c", "entry")}entry ${swatch("#e0231c", "exit")}exit
           ${swatch("#e0231c", "inside")}inside</div>`;
  }
}

/** A MapLibre control: one labelled button. */
class ButtonControl {
  constructor(text, title, name, onClick) {
    Object.assign(this, { text, title, name, onClick });
  }

  onAdd() {
    this.element = document.createElement("div");
    this.element.className = "maplibregl-ctrl maplibregl-ctrl-group text-control";
    const button = document.createElement("button");
    button.type = "button";
    button.name = this.name;
    button.title = this.title;
    button.textContent = this.text;
    button.onclick = () => this.onClick();
    this.element.append(button);
    return this.element;
  }

  onRemove() {
    this.element.remove();
  }
}
