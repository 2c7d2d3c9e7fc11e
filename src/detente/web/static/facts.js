// What an alert says, in the operator's words: times in UTC, positions in degrees and minutes,
// flight levels, the safety-net field ("APW 45s", "STCA 80s"), the suggested resolution.
// Pure functions over the picture's data (see app.js): no DOM and no clock of their own; `now`
// is the source's clock (s, UTC epoch), so a replay computes them in replayed time.
//
// Times: the service's t_to_go_s, t_entry_s, t_exit_s, t_in_s, t_cpa_s count from the alert's
// updated_at (its last announcement). Where updated_at is missing (the fixture), from the
// moment the event arrived, which the page stamps as `received`.

const FT_PER_M = 1 / 0.3048;

/** The safety-net field an alert stands for, as STCA/APW displays name it. */
export const FIELDS = { incursion: "APW", tactical: "STCA", strategic: "PLAN" };

/** "07:24:05Z" */
export function utc(epoch) {
  return new Date(Math.round(epoch) * 1000).toISOString().slice(11, 19) + "Z";
}

/** One coordinate in degrees and decimal minutes: dm(35.8149, "NS") -> "35°48.9′N". */
export function dm(value, hemispheres, degreeDigits = 2) {
  const h = value < 0 ? hemispheres[1] : hemispheres[0];
  let tenths = Math.round(Math.abs(value) * 600); // tenths of a minute
  const deg = Math.floor(tenths / 600);
  tenths -= deg * 600;
  const min = (tenths / 10).toFixed(1).padStart(4, "0");
  return `${String(deg).padStart(degreeDigits, "0")}°${min}′${h}`;
}

/** "35°48.9′N 036°09.9′E" */
export function position(lon, lat) {
  return `${dm(lat, "NS", 2)} ${dm(lon, "EW", 3)}`;
}

/** "FL190": hundreds of feet, from metres. */
export function flightLevel(altM) {
  return `FL${String(Math.round((altM * FT_PER_M) / 100)).padStart(3, "0")}`;
}

/** Kilometres with one decimal under 10 km. */
export function km(m) {
  return m < 10_000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m / 1000)} km`;
}

/** When the alert's event happens (entry, loss of separation, start of the overlap), s UTC. */
export function eventTime(a) {
  if (a.updated_at != null) {
    const d = a.detail ?? {};
    const rel = a.kind === "incursion" ? d.t_entry_s : a.kind === "tactical" ? d.t_in_s : null;
    if (rel != null) return a.updated_at + rel;
  }
  return (a.received ?? 0) + (a.t_to_go_s ?? 0);
}

/** Seconds to the event now (0 once it is happening). */
export function toGo(a, now) {
  return Math.max(0, eventTime(a) - now);
}

/** When the aircraft is predicted out of the airspace again, s UTC; null if not predicted. */
export function exitTime(a) {
  const d = a.detail ?? {};
  if (a.kind !== "incursion" || d.t_exit_s == null) return null;
  return eventTime(a) + (d.t_exit_s - (d.t_entry_s ?? 0));
}

/** Closest approach (tactical), s UTC; null if not given. */
export function cpaTime(a) {
  const d = a.detail ?? {};
  if (a.kind !== "tactical" || d.t_cpa_s == null) return null;
  return a.updated_at != null ? a.updated_at + d.t_cpa_s
    : eventTime(a) + (d.t_cpa_s - (d.t_in_s ?? 0));
}

export function isActive(a) {
  return a.state !== "cleared";
}

/** Inside the airspace, or in loss of separation, at `now` (by the alert's prediction). */
export function isHappening(a, now) {
  if (!isActive(a)) return false;
  if (a.detail?.violation) return true;
  if (now < eventTime(a)) return false;
  const end = a.kind === "incursion" ? exitTime(a)
    : a.kind === "tactical" && a.detail?.t_out_s != null
      ? eventTime(a) + (a.detail.t_out_s - (a.detail.t_in_s ?? 0)) : null;
  return end === null || now < end;
}

/** The label's alert field: "APW 45s", "APW INSIDE", "STCA 80s", "STCA NOW". */
export function tag(a, now) {
  const field = FIELDS[a.kind] ?? a.kind.toUpperCase();
  if (isHappening(a, now)) return `${field} ${a.kind === "incursion" ? "INSIDE" : "NOW"}`;
  return `${field} ${Math.round(toGo(a, now))}s`;
}

/** The viewer's own aircraft in the alert (their ids), and the others ("an aircraft of X"). */
export function aircraftOf(a, me) {
  const tracks = a.tracks ?? [];
  return {
    own: tracks.filter((t) => t.party === me && t.id !== null),
    others: tracks.filter((t) => !(t.party === me && t.id !== null)),
  };
}

function named(t) {
  return t.id === null || t.id === undefined ? `a ${t.party} aircraft` : `${t.party} ${t.id}`;
}

/**
 * The facts of an alert as lines of text, for the alert row and the banner:
 * {subject, event, when, where, extent, level}. `tracks` is the picture's Map of tracks.
 */
export function describe(a, me, tracks, now) {
  const d = a.detail ?? {};
  const { own, others } = aircraftOf(a, me);
  const subject = [...own, ...others].map(named);
  const facts = { field: FIELDS[a.kind] ?? a.kind, subject: "", event: "", when: "",
                  where: "", extent: "", level: "" };
  const t = eventTime(a);
  if (a.kind === "incursion") {
    const airspace = d.airspace ? `${d.airspace}${d.owner ? ` (${d.owner})` : ""}` : "protected airspace";
    facts.subject = `${subject.join(", ")} → ${airspace}`;
    facts.event = isHappening(a, now) ? "INSIDE NOW" : "entry";
    const exit = exitTime(a);
    facts.when = isHappening(a, now)
      ? (exit !== null ? `out ${utc(exit)}` : "no exit predicted")
      : `${utc(t)}`;
    if (d.t_exit_s != null && d.t_entry_s != null) {
      facts.extent = `inside ${Math.round(d.t_exit_s - d.t_entry_s)} s` +
        (d.inside_m != null ? ` over ${km(d.inside_m)}` : "") +
        (exit !== null ? `, out ${utc(exit)}` : "");
    } else if (d.inside_m != null) {
      facts.extent = `${km(d.inside_m)} inside within the look-ahead, no exit predicted`;
    }
  } else if (a.kind === "tactical") {
    facts.subject = subject.join(" ↔ ");
    facts.event = isHappening(a, now) ? "SEPARATION LOST" : "loss of separation";
    facts.when = utc(t);
    const cpa = cpaTime(a);
    if (d.d_cpa_m != null) {
      facts.extent = `closest ${km(d.d_cpa_m)}` +
        (d.dv_cpa_m != null ? ` / ${Math.round(d.dv_cpa_m * FT_PER_M)} ft` : "") +
        (cpa !== null ? ` at ${utc(cpa)}` : "");
    }
  } else {
    facts.subject = (a.intents ?? []).map((i) => `${i.owner} intent ${i.id}`).join(", ");
    facts.event = "plans overlap";
    facts.when = utc(t);
  }
  if (a.point) facts.where = position(a.point[0], a.point[1]);
  const levels = [];
  for (const x of [...own, ...others]) {
    const track = x.id !== null ? tracks?.get(`${x.party}/${x.id}`) : null;
    const alt = track?.alt_m ?? x.alt_m;
    if (alt != null) levels.push(`${x.id ?? x.party} ${flightLevel(alt)}`);
  }
  // One aircraft: its level alone ("FL190"); a pair: each named.
  facts.level = levels.length === 1 ? levels[0].split(" ").pop() : levels.join(", ");
  return facts;
}

/**
 * The suggested resolution the service wrote into the alert (detail.resolution), in words;
 * null when there is none. The page never computes one itself: one source of truth.
 * Shape: {aircraft, side: "right"|"left"|"none", right: {turn_deg, heading_deg, span_deg},
 *         left: {...}, exit?: {heading_deg, turn_deg, t_exit_s}}
 */
export function resolutionText(r) {
  if (!r) return null;
  const three = (h) => String(Math.round(h) % 360).padStart(3, "0");
  const who = r.aircraft ? `${r.aircraft}: ` : "";
  if (r.exit?.heading_deg != null) {
    const side = r.exit.turn_deg > 0 ? "right" : r.exit.turn_deg < 0 ? "left" : "";
    return `${who}leave now: turn ${side} heading ${three(r.exit.heading_deg)}` +
      (r.exit.t_exit_s != null ? `, out in ${Math.round(r.exit.t_exit_s)} s` : "");
  }
  const one = (side) => {
    const s = r[side];
    if (!s || s.heading_deg == null) return null;
    // "or more" only when turning further stays clear for a while (30 deg, 6 candidates).
    const more = s.span_deg == null || s.span_deg >= 30 ? " or more"
      : s.span_deg > 0 ? ` to ${three(s.heading_deg + (side === "right" ? 1 : -1) * s.span_deg)}` : "";
    return `turn ${side} heading ${three(s.heading_deg)}${more} (${Math.round(s.turn_deg)}°)`;
  };
  if (r.side === "none") return `${who}no heading within the turn allowed clears it`;
  const first = r.side === "left" ? "left" : "right";
  const second = first === "left" ? "right" : "left";
  const main = one(first);
  const alt = one(second);
  if (!main) return null;
  return `${who}${main}${alt ? `; or ${alt}` : ""}`;
}
