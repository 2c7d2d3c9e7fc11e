"""F3548-21 JSON (ASTM's utm.yaml) to detente's objects and back, at the DSS interface's edge.

In: ``Volume4D`` (outline_circle or outline_polygon, altitudes in metres W84, RFC 3339 times)
becomes ``model.intent.Volume4D`` (SI inside; only metres and W84 are in the standard, so
there is nothing to convert). Out: references, subscriptions and constraints exactly as
utm.yaml's schemas have them; an OVN only to the manager of its entity.

Every error is an InputError naming the field (``extents[0].volume.outline_polygon...``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from detente.errors import InputError
from detente.model.intent import (
    ALTITUDE_RANGE_M,
    Circle,
    Footprint,
    IntentState,
    Polygon,
    Volume4D,
)
from detente.service.dss.constraints import ConstraintChange
from detente.service.dss.model import Constraint, OirRef, Subscription
from detente.service.dss.oirs import Change, OirWrite
from detente.service.dss.subscriptions import SubChange, SubWrite

__all__ = [
    "constraint_json",
    "extents",
    "oir_json",
    "oir_write",
    "query_volume",
    "sub_write",
    "subscribers_json",
    "subscription_json",
    "volume_json",
]

# F3548 wants a SubscriptionID in every reference; this one stands for "none" (the InterUSS
# DSS sends the same).
NULL_UUID = "00000000-0000-4000-8000-000000000000"
_UUID4 = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}"
                    r"-[0-9a-fA-F]{12}$")
# A query without times or altitudes covers them all.
_ALL_TIME = (0.0, 1e11)
_STATES = ("Accepted", "Activated", "Nonconforming", "Contingent")


def entity_id(value: str, what: str = "entityid") -> str:
    """A UUIDv4, as F3548 ids are."""
    if not _UUID4.match(value):
        raise InputError(f"{what}: {value[:64]!r} is not a version-4 UUID")
    return value.lower()


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _time(value: Any, where: str) -> float:
    t = _obj(value, where)
    if t.get("format", "RFC3339") != "RFC3339":
        raise InputError(f"{where}.format: expected RFC3339, got {t.get('format')!r}")
    text = _str(t.get("value"), f"{where}.value")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where}.value: {text[:40]!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise InputError(f"{where}.value: {text[:40]!r} has no time zone")
    return parsed.timestamp()


def _altitude(value: Any, where: str) -> float:
    a = _obj(value, where)
    if a.get("reference", "W84") != "W84":
        raise InputError(f"{where}.reference: only W84 is accepted, got {a.get('reference')!r}")
    if a.get("units", "M") != "M":
        raise InputError(f"{where}.units: only M is accepted, got {a.get('units')!r}")
    return _num(a.get("value"), f"{where}.value")


def _footprint(volume: Mapping[str, Any], where: str) -> Footprint | None:
    circle, polygon = volume.get("outline_circle"), volume.get("outline_polygon")
    if circle is not None and polygon is not None:
        raise InputError(f"{where}: give outline_circle or outline_polygon, not both")
    try:
        if circle is not None:
            c = _obj(circle, f"{where}.outline_circle")
            centre = _obj(c.get("center"), f"{where}.outline_circle.center")
            radius = _obj(c.get("radius"), f"{where}.outline_circle.radius")
            if radius.get("units", "M") != "M":
                raise InputError(f"{where}.outline_circle.radius.units: only M is accepted")
            return Circle(_num(centre.get("lat"), f"{where}.outline_circle.center.lat"),
                          _num(centre.get("lng"), f"{where}.outline_circle.center.lng"),
                          _num(radius.get("value"), f"{where}.outline_circle.radius.value"))
        if polygon is not None:
            vertices = _obj(polygon, f"{where}.outline_polygon").get("vertices")
            if not isinstance(vertices, list):
                raise InputError(f"{where}.outline_polygon.vertices: expected a list")
            at = f"{where}.outline_polygon.vertices"
            points = [_obj(p, f"{at}[{k}]") for k, p in enumerate(vertices)]
            return Polygon(tuple(_num(p.get("lat"), f"{at}[{k}].lat")
                                 for k, p in enumerate(points)),
                           tuple(_num(p.get("lng"), f"{at}[{k}].lng")
                                 for k, p in enumerate(points)))
    except InputError as exc:
        if str(exc).startswith(where):
            raise
        raise InputError(f"{where}: {exc}") from None
    return None


def _parts(value: Any, where: str) -> tuple[Footprint | None, tuple[float, float] | None,
                                             float | None, float | None]:
    """Footprint, altitude band and times of an F3548 Volume4D, None where absent."""
    v4 = _obj(value, where)
    v3 = _obj(v4.get("volume"), f"{where}.volume")
    footprint = _footprint(v3, f"{where}.volume")
    lo, hi = v3.get("altitude_lower"), v3.get("altitude_upper")
    band = None
    if lo is not None or hi is not None:
        low, high = ALTITUDE_RANGE_M
        band = (low if lo is None else _altitude(lo, f"{where}.volume.altitude_lower"),
                high if hi is None else _altitude(hi, f"{where}.volume.altitude_upper"))
    t0 = None if v4.get("time_start") is None else _time(v4["time_start"], f"{where}.time_start")
    t1 = None if v4.get("time_end") is None else _time(v4["time_end"], f"{where}.time_end")
    return footprint, band, t0, t1


def _volume(footprint: Footprint, band: tuple[float, float], t0: float, t1: float,
            where: str) -> Volume4D:
    try:
        return Volume4D(footprint, band[0], band[1], t0, t1)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def extents(value: Any, where: str = "extents") -> tuple[Volume4D, ...]:
    """Write extents: a non-empty list of Volume4D, each with footprint, altitudes, times."""
    if not isinstance(value, list) or not value:
        raise InputError(f"{where}: expected a non-empty list of Volume4D")
    out = []
    for k, item in enumerate(value):
        at = f"{where}[{k}]"
        footprint, band, t0, t1 = _parts(item, at)
        for name, part in (("volume.outline_circle or outline_polygon", footprint),
                           ("volume.altitude_lower and altitude_upper", band),
                           ("time_start", t0), ("time_end", t1)):
            if part is None:
                raise InputError(f"{at}: {name} required")
        out.append(_volume(footprint, band, t0, t1, at))  # type: ignore[arg-type]
    return tuple(out)


def query_volume(body: Any) -> tuple[Volume4D, ...]:
    """The area_of_interest of a query: a footprint, and altitudes and times if given."""
    aoi = _obj(body, "body").get("area_of_interest")
    if aoi is None:
        raise InputError("area_of_interest: required")
    footprint, band, t0, t1 = _parts(aoi, "area_of_interest")
    if footprint is None:
        raise InputError("area_of_interest.volume: outline_circle or outline_polygon required")
    t0 = _ALL_TIME[0] if t0 is None else t0
    t1 = _ALL_TIME[1] if t1 is None else t1
    if t1 <= t0:  # an instant: still a query
        t1 = t0 + 1e-3
    return (_volume(footprint, _clamped(band) or ALTITUDE_RANGE_M, t0, t1,
                    "area_of_interest"),)


def _clamped(band: tuple[float, float] | None) -> tuple[float, float] | None:
    """A search's altitude band within the altitudes intents may have (F3548 allows down
    to -8,000 m; nothing is stored below ALTITUDE_RANGE_M)."""
    if band is None:
        return None
    low, high = ALTITUDE_RANGE_M
    return max(band[0], low), min(band[1], high)


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputError(f"{key}: expected true or false, got {value!r}")
    return value


def oir_write(body: Any) -> OirWrite:
    b = _obj(body, "body")
    state = b.get("state")
    if state not in _STATES:
        raise InputError(f"state: expected one of {', '.join(_STATES)}, got {state!r}")
    key = b.get("key") or []
    if not isinstance(key, list) or not all(isinstance(k, str) for k in key):
        raise InputError("key: expected a list of OVNs (strings)")
    sub_id = b.get("subscription_id")
    if sub_id is not None:
        sub_id = entity_id(_str(sub_id, "subscription_id"), "subscription_id")
    new_sub = b.get("new_subscription")
    implicit = None
    if new_sub is not None:
        ns = _obj(new_sub, "new_subscription")
        implicit = (_str(ns.get("uss_base_url"), "new_subscription.uss_base_url"),
                    _flag(ns, "notify_for_constraints"))
    return OirWrite(extents=extents(b.get("extents")), state=IntentState(state),
                    uss_base_url=_str(b.get("uss_base_url"), "uss_base_url"),
                    key=frozenset(key), subscription_id=sub_id, new_subscription=implicit)


def sub_write(body: Any) -> SubWrite:
    b = _obj(body, "body")
    footprint, band, t0, t1 = _parts(b.get("extents"), "extents")
    return SubWrite(footprint=footprint, altitude=_clamped(band), time_start=t0, time_end=t1,
                    uss_base_url=_str(b.get("uss_base_url"), "uss_base_url"),
                    notify_for_operational_intents=_flag(b, "notify_for_operational_intents"),
                    notify_for_constraints=_flag(b, "notify_for_constraints"))


def constraint_write(body: Any) -> tuple[tuple[Volume4D, ...], str]:
    b = _obj(body, "body")
    return extents(b.get("extents")), _str(b.get("uss_base_url"), "uss_base_url")


# --- out -----------------------------------------------------------------------------------


def time_json(t: float) -> dict[str, str]:
    stamp = datetime.fromtimestamp(round(t, 6), UTC).isoformat(timespec="microseconds")
    return {"value": stamp.replace("+00:00", "Z"), "format": "RFC3339"}


def volume_json(v: Volume4D) -> dict[str, Any]:
    """An F3548 Volume4D."""
    fp = v.footprint
    outline: dict[str, Any] = (
        {"outline_circle": {"center": {"lat": fp.lat, "lng": fp.lon},
                            "radius": {"value": fp.radius_m, "units": "M"}}}
        if isinstance(fp, Circle) else
        {"outline_polygon": {"vertices": [{"lat": a, "lng": b}
                                          for a, b in zip(fp.lat, fp.lon, strict=True)]}})
    alt = {"reference": "W84", "units": "M"}
    return {"volume": {**outline, "altitude_lower": {"value": v.altitude_lower_m, **alt},
                       "altitude_upper": {"value": v.altitude_upper_m, **alt}},
            "time_start": time_json(v.time_start_s), "time_end": time_json(v.time_end_s)}


def native_manager(party: str) -> str:
    """The manager F3548 shows for an intent made through detente's own API."""
    return f"detente:{party}"


def oir_json(ref: OirRef, viewer: str, availability: Callable[[str], str], native_url: str
             ) -> dict[str, Any]:
    """An OperationalIntentReference as ``viewer`` (a manager) may see it."""
    it, meta = ref.intent, ref.meta
    version = it.version or ""
    if meta is None:
        manager, url, sub_id = native_manager(it.owner), native_url, NULL_UUID
        # detente's own intents count no versions: this number changes with each change
        # (taken from the OVN), it does not count them.
        number = int(version[:7] or "0", 16) + 1
    else:
        manager, url = meta.manager, meta.uss_base_url
        sub_id, number = meta.subscription_id or NULL_UUID, meta.version
    out: dict[str, Any] = {
        "id": it.id, "manager": manager, "uss_availability": availability(manager),
        "version": number, "state": it.state.value, "time_start": time_json(it.time_start_s),
        "time_end": time_json(it.time_end_s), "uss_base_url": url, "subscription_id": sub_id,
    }
    if meta is not None and meta.manager == viewer:
        out["ovn"] = version
    return out


def subscribers_json(subs: Sequence[Subscription]) -> list[dict[str, Any]]:
    """SubscriberToNotify entries: the subscriptions grouped by USS."""
    by_url: dict[str, list[dict[str, Any]]] = {}
    for sub in subs:
        by_url.setdefault(sub.uss_base_url, []).append(
            {"subscription_id": sub.id, "notification_index": sub.notification_index})
    return [{"uss_base_url": url, "subscriptions": s} for url, s in sorted(by_url.items())]


def change_json(change: Change, viewer: str, availability: Callable[[str], str],
                native_url: str) -> dict[str, Any]:
    return {"subscribers": subscribers_json(change.subscribers),
            "operational_intent_reference": oir_json(change.ref, viewer, availability,
                                                     native_url)}


def subscription_json(sub: Subscription, dependents: Sequence[str]) -> dict[str, Any]:
    return {
        "id": sub.id, "version": sub.version, "notification_index": sub.notification_index,
        "time_start": time_json(sub.time_start), "time_end": time_json(sub.time_end),
        "uss_base_url": sub.uss_base_url,
        "notify_for_operational_intents": sub.notify_for_operational_intents,
        "notify_for_constraints": sub.notify_for_constraints,
        "implicit_subscription": sub.implicit,
        "dependent_operational_intents": list(dependents),
    }


def sub_change_json(change: SubChange, viewer: str, availability: Callable[[str], str],
                    native_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {"subscription": subscription_json(change.subscription,
                                                             change.dependents)}
    if change.intents is not None:
        out["operational_intent_references"] = [
            oir_json(r, viewer, availability, native_url) for r in change.intents]
    if change.constraints is not None:
        out["constraint_references"] = [constraint_json(c, viewer, availability)
                                        for c in change.constraints]
    return out


def constraint_json(cr: Constraint, viewer: str, availability: Callable[[str], str]
                    ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cr.id, "manager": cr.manager, "uss_availability": availability(cr.manager),
        "version": cr.version, "time_start": time_json(cr.time_start),
        "time_end": time_json(cr.time_end), "uss_base_url": cr.uss_base_url,
    }
    if cr.manager == viewer:
        out["ovn"] = cr.ovn
    return out


def constraint_change_json(change: ConstraintChange, viewer: str,
                           availability: Callable[[str], str]) -> dict[str, Any]:
    return {"subscribers": subscribers_json(change.subscribers),
            "constraint_reference": constraint_json(change.constraint, viewer, availability)}
