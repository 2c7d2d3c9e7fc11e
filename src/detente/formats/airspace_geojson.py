"""Protected airspaces from GeoJSON (RFC 7946): one Feature per airspace.

Each feature is a Polygon or MultiPolygon in lon/lat WGS84 degrees (holes allowed) with
properties::

    owner      str, required     the party protecting it
    kind       str, required     national_territory | restricted_area | temporary_reservation
    floor_m    number or null    m; null: from the surface down (no floor)
    ceiling_m  number or null    m; null: unlimited
    name       str, optional     default "feature K" (K counts from 0 in file order)
    buffer_m   number, optional  m; default 0 (no proximity warning)

Both altitude keys must be present: a forgotten ceiling must not silently become "unlimited".
Nothing is repaired: an unclosed or self-intersecting ring is an error naming the feature and
the ring, because a repaired polygon is a different airspace from the one its owner published.
"""

from __future__ import annotations

import json
import math
from typing import Any, TextIO

import shapely
from shapely.geometry import MultiPolygon, Polygon

from detente.errors import GeometryError, InputError
from detente.model.airspace import Airspace, AirspaceKind

__all__ = ["read_airspace_geojson", "read_airspace_geojson_text"]


def read_airspace_geojson(stream: TextIO, source: str = "<stdin>") -> list[Airspace]:
    """Airspaces of the GeoJSON in ``stream``; ``source`` names the file in errors."""
    return read_airspace_geojson_text(stream.read(), source)


def read_airspace_geojson_text(text: str, source: str = "<text>") -> list[Airspace]:
    """Airspaces of a GeoJSON FeatureCollection (or single Feature) given as text."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{source}: not GeoJSON (invalid JSON at line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg})"
        ) from None
    if not isinstance(doc, dict) or doc.get("type") not in ("FeatureCollection", "Feature"):
        got = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise InputError(
            f"{source}: not GeoJSON: expected a FeatureCollection or Feature, got {got!r}"
        )
    features = [doc] if doc["type"] == "Feature" else doc.get("features")
    if not isinstance(features, list):
        raise InputError(f"{source}: FeatureCollection has no 'features' list")
    airspaces: list[Airspace] = []
    seen: dict[str, int] = {}
    for k, feature in enumerate(features):
        airspace = _airspace(feature, k, source)
        if airspace.name in seen:
            raise GeometryError(
                f"{source}, feature {k} ({airspace.name!r}): duplicate name "
                f"(first used by feature {seen[airspace.name]})"
            )
        seen[airspace.name] = k
        airspaces.append(airspace)
    return airspaces


def _airspace(feature: Any, k: int, source: str) -> Airspace:
    where = f"{source}, feature {k}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise InputError(f"{where}: not a GeoJSON Feature")
    props = feature.get("properties")
    if not isinstance(props, dict):
        raise InputError(f"{where}: no properties (owner, kind, floor_m, ceiling_m needed)")
    name = props.get("name", f"feature {k}")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{where}: property 'name' must be a non-empty string")
    where = f"{where} ({name!r})"

    owner = props.get("owner")
    if not isinstance(owner, str) or not owner.strip():
        raise InputError(f"{where}: missing owner (property 'owner': the protecting party)")
    kind_text = props.get("kind")
    if not isinstance(kind_text, str):
        raise InputError(f"{where}: missing kind (property 'kind')")
    try:
        kind = AirspaceKind.parse(kind_text)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None
    floor_m = _altitude(props, "floor_m", -math.inf, where)
    ceiling_m = _altitude(props, "ceiling_m", math.inf, where)
    if not floor_m < ceiling_m:
        raise GeometryError(f"{where}: floor_m {floor_m:g} must be below ceiling_m {ceiling_m:g}")
    buffer_m = props.get("buffer_m", 0.0)
    if buffer_m is None:
        buffer_m = 0.0
    if isinstance(buffer_m, bool) or not isinstance(buffer_m, int | float) or not (
        math.isfinite(buffer_m) and buffer_m >= 0
    ):
        raise InputError(f"{where}: buffer_m must be a number >= 0 (metres), got {buffer_m!r}")

    geometry = _geometry(feature.get("geometry"), where)
    try:
        return Airspace(
            name=name, owner=owner, kind=kind, geometry=geometry,
            floor_m=floor_m, ceiling_m=ceiling_m, buffer_m=float(buffer_m),
        )
    except GeometryError as exc:
        raise GeometryError(f"{where}: {exc}") from None


def _altitude(props: dict[str, Any], key: str, unbounded: float, where: str) -> float:
    if key not in props:
        raise InputError(f"{where}: missing {key} (metres, or null for unbounded)")
    value = props[key]
    if value is None:
        return unbounded
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: {key} must be a number of metres or null, got {value!r}")
    return float(value)


def _geometry(geometry: Any, where: str) -> Polygon | MultiPolygon:
    if not isinstance(geometry, dict):
        raise InputError(f"{where}: no geometry")
    gtype = geometry.get("type")
    coords = geometry.get("coordinates")
    if gtype == "Polygon":
        polygons = [coords]
    elif gtype == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise GeometryError(f"{where}: MultiPolygon needs a non-empty list of polygons")
        polygons = coords
    else:
        raise GeometryError(f"{where}: geometry must be Polygon or MultiPolygon, got {gtype!r}")
    parts: list[Polygon] = []
    for p, rings in enumerate(polygons):
        label = f"polygon {p}" if gtype == "MultiPolygon" else "polygon"
        if not isinstance(rings, list) or not rings:
            raise GeometryError(f"{where}: {label} has no rings")
        checked = [_ring(ring, f"{where}: {label}, ring {r}") for r, ring in enumerate(rings)]
        parts.append(Polygon(checked[0], checked[1:]))
    result: Polygon | MultiPolygon = parts[0] if gtype == "Polygon" else MultiPolygon(parts)
    if not shapely.is_valid(result):
        reason = shapely.is_valid_reason(result)
        raise GeometryError(f"{where}: invalid {gtype} ({_explain(reason)})")
    return result


def _ring(ring: Any, where: str) -> list[tuple[float, float]]:
    if not isinstance(ring, list):
        raise GeometryError(f"{where}: not a list of positions")
    points: list[tuple[float, float]] = []
    for v, position in enumerate(ring):
        if (
            not isinstance(position, list | tuple)
            or len(position) < 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in position[:2])
            or not all(math.isfinite(c) for c in position[:2])
        ):
            raise GeometryError(
                f"{where}, position {v}: expected [lon, lat] numbers, got {position!r}"
            )
        lon, lat = float(position[0]), float(position[1])
        if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
            raise GeometryError(f"{where}, position {v}: [{lon:g}, {lat:g}] is off the globe")
        points.append((lon, lat))
    if len(points) < 4:
        raise GeometryError(f"{where}: a ring needs at least 4 positions, got {len(points)}")
    if points[0] != points[-1]:
        raise GeometryError(
            f"{where}: ring is not closed (first position {list(points[0])} != last "
            f"{list(points[-1])}; RFC 7946 3.1.6)"
        )
    return points


def _explain(reason: str) -> str:
    """GEOS's validity reason in words a data owner can act on."""
    if reason.startswith(("Self-intersection", "Ring Self-intersection")):
        return f"a ring intersects itself or another ring: {reason}"
    return reason


