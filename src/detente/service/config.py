"""The mechanism's configuration: region, parties and officials, airspaces, agreements.

Read from TOML (see detente/data/demo/border.toml). Every error names the key path and the
offending value, e.g. ``agreements[0].shares.TUR.precision_m: expected a number >= 0, got 'fine'``.

Agreements are between two parties and are the only channel of sharing: a party with no
agreement with another learns nothing about it, and detente predicts no conflict between them
(it cannot speak for a party that has not agreed to be spoken for).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
import shapely.geometry
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from shapely.geometry import shape

from detente.data import bundled_path
from detente.errors import InputError
from detente.formats.airspace_geojson import read_airspace_geojson
from detente.model.airspace import Airspace
from detente.service.dss.settings import DssSettings, parse_dss_settings
from detente.service.keys import parse_public_key
from detente.store.report_thinning import DEFAULT_TOLERANCE, EXACT, Tolerance

__all__ = [
    "PARTY_COLOURS",
    "Agreement",
    "Config",
    "Official",
    "Party",
    "ServiceSettings",
    "Share",
    "config_document",
    "load_config",
    "parse_config",
    "read_toml",
    "recording_tolerance",
]


@dataclass(frozen=True)
class Official:
    """One person on a party's escalation ladder (1 watch, 2 command, 3 head of government)."""

    id: str
    party: str
    name: str
    role: str
    level: int
    public_key: Ed25519PublicKey = field(repr=False)


# A party's colour on every console, by its place in the configuration unless it sets its own
# (``colour = "#rrggbb"``): the same for everyone, live and in replay. None of them is an alert
# colour (yellow, orange, red) nor the protected airspace's red.
PARTY_COLOURS = ("#2f6fd0", "#9a3fc4", "#148a5c", "#a86a1c", "#1f8a9e", "#5c6b7a")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    public_keys: tuple[Ed25519PublicKey, ...] = field(repr=False)
    officials: tuple[Official, ...] = ()
    colour: str = PARTY_COLOURS[0]  # "#rrggbb", on the consoles


@dataclass(frozen=True)
class Share:
    """What one party shares with the other party of an agreement.

    zones: None for everywhere, an empty geometry for nowhere, else the (multi)polygon inside
    which its tracks are shown (lon/lat). precision_m: 0 for full precision, else positions are
    rounded to a grid of that size (m) and altitudes to ``alt_precision_m``. delay_s: tracks are
    shown as they were that many seconds ago. alerts: whether the other party is told of alerts
    involving this party's aircraft (with the other's own aircraft always in them).
    """

    zones: shapely.Geometry | None = None
    precision_m: float = 0.0
    alt_precision_m: float = 0.0
    delay_s: float = 0.0
    alerts: bool = True
    alert_precision_m: float = 5_000.0


@dataclass(frozen=True)
class Agreement:
    parties: tuple[str, str]
    shares: Mapping[str, Share]  # party -> what it shares with the other
    h_min_m: float = 9_260.0
    v_min_m: float = 304.8
    lookahead_s: float = 300.0
    warning_s: float = 120.0
    critical_s: float = 60.0
    equal_priority_allowed: bool = False
    flash_deadline_s: float = 60.0
    urgent_deadline_s: float = 300.0

    def other(self, party: str) -> str:
        a, b = self.parties
        return b if party == a else a


@dataclass(frozen=True)
class ServiceSettings:
    cycle_s: float = 1.0
    stale_s: float = 60.0
    retention_days: float = 7.0
    # How often the digest of the reports recorded since the last one is said in the record:
    # reports of the last anchor_s at most are not anchored when the service stops hard.
    anchor_s: float = 10.0
    token_ttl_s: float = 900.0
    future_tolerance_s: float = 30.0
    max_batch: int = 10_000
    max_body_bytes: int = 5 * 1024 * 1024
    # The log's own Ed25519 key (PEM); created, mode 0600, where missing.
    log_key_file: Path = Path("detente-log.pem")
    # Which track reports the recording keeps ([service.recording]; store.report_thinning).
    recording: Tolerance = DEFAULT_TOLERANCE
    # Free space (MB, 10**6 bytes) on the database's filesystem, counting the pages SQLite
    # holds free for reuse (service.disk): below disk_warn_mb every party is told and the
    # oldest recording pruned; below disk_refuse_mb new reports are refused (503). 0: off.
    disk_warn_mb: float = 512.0
    disk_refuse_mb: float = 128.0
    disk_check_s: float = 5.0  # how often free space is measured (s)


@dataclass(frozen=True)
class Config:
    region_name: str
    centre: tuple[float, float]  # lat, lon (deg)
    parties: Mapping[str, Party]
    agreements: tuple[Agreement, ...]
    airspace_files: tuple[Path, ...] = ()
    settings: ServiceSettings = ServiceSettings()
    dss: DssSettings | None = None  # the F3548 DSS interface, when the [dss] table is given

    def agreement(self, a: str, b: str) -> Agreement | None:
        """The agreement between parties a and b, if any."""
        for ag in self.agreements:
            if set(ag.parties) == {a, b}:
                return ag
        return None

    def load_airspaces(self) -> list[Airspace]:
        """The protected airspaces of the configuration's GeoJSON files."""
        out: list[Airspace] = []
        for path in self.airspace_files:
            try:
                with path.open(encoding="utf-8") as stream:
                    out.extend(read_airspace_geojson(stream, str(path)))
            except OSError as exc:
                raise InputError(f"cannot read airspace file {path}: {exc.strerror}") from None
        unknown = sorted({a.owner for a in out} - set(self.parties))
        if unknown:
            raise InputError(f"airspaces owned by undeclared parties: {', '.join(unknown)}")
        return out

    def official(self, official_id: str) -> Official | None:
        for p in self.parties.values():
            for o in p.officials:
                if o.id == official_id:
                    return o
        return None


class _Reader:
    """Typed access to a TOML table, with errors that name the key path."""

    def __init__(self, table: Mapping[str, Any], path: str) -> None:
        if not isinstance(table, Mapping):
            raise InputError(f"{path}: expected a table, got {table!r}")
        self.table = table
        self.path = path

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.table

    def raw(self, key: str, default: Any = ...) -> Any:
        if key not in self.table:
            if default is ...:
                raise InputError(f"{self._where(key)}: missing")
            return default
        return self.table[key]

    def text(self, key: str, default: Any = ...) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"{self._where(key)}: expected a non-empty string, got {value!r}")
        return value

    def number(self, key: str, default: Any = ..., *, low: float = 0.0, strict: bool = False
               ) -> float:
        value = self.raw(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and (value > low if strict else value >= low)
        if not ok:
            bound = f"> {low:g}" if strict else f">= {low:g}"
            raise InputError(f"{self._where(key)}: expected a number {bound}, got {value!r}")
        return float(value)

    def boolean(self, key: str, default: Any = ...) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            raise InputError(f"{self._where(key)}: expected true or false, got {value!r}")
        return value

    def tables(self, key: str) -> list[_Reader]:
        value = self.raw(key, [])
        if not isinstance(value, list):
            raise InputError(f"{self._where(key)}: expected an array of tables, got {value!r}")
        return [_Reader(v, f"{self._where(key)}[{k}]") for k, v in enumerate(value)]

    def sub(self, key: str) -> _Reader:
        return _Reader(self.raw(key, {}), self._where(key))


def _key(text: str, where: str) -> Ed25519PublicKey:
    try:
        return parse_public_key(text)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None


def _colour(r: _Reader, default: str) -> str:
    value = r.raw("colour", default)
    if not isinstance(value, str) or not _COLOUR.fullmatch(value):
        raise InputError(f"{r._where('colour')}: expected a colour \"#rrggbb\", got {value!r}")
    return value.lower()


def _zones(value: Any, where: str, base: Path) -> shapely.Geometry | None:
    if value == "all":
        return None
    if value == "none":
        return shapely.Polygon()
    if isinstance(value, str):  # a GeoJSON file next to the config
        try:
            value = json.loads((base / value).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{where}: cannot read GeoJSON {value!r}: {exc}") from None
    if isinstance(value, list):
        value = {"type": "GeometryCollection", "geometries": value}
    try:
        if isinstance(value, Mapping) and value.get("type") == "FeatureCollection":
            geoms = [shape(f["geometry"]) for f in value["features"]]
        elif isinstance(value, Mapping) and value.get("type") == "GeometryCollection":
            geoms = [shape(g) for g in value["geometries"]]
        else:
            geoms = [shape(value)]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{where}: not GeoJSON polygons: {exc}") from None
    for k, g in enumerate(geoms):
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise InputError(f"{where}[{k}]: expected a Polygon, got a {g.geom_type}")
        if not g.is_valid:
            raise InputError(f"{where}[{k}]: invalid polygon: {shapely.is_valid_reason(g)}")
    return shapely.union_all(geoms)


def _share(r: _Reader, base: Path) -> Share:
    precision = r.number("precision_m", 0.0)
    return Share(
        zones=_zones(r.raw("zones", "all"), r._where("zones"), base),
        precision_m=precision,
        alt_precision_m=r.number("alt_precision_m", 304.8 if precision > 0 else 0.0),
        delay_s=r.number("delay_s", 0.0),
        alerts=r.boolean("alerts", True),
        alert_precision_m=r.number("alert_precision_m", 5_000.0),
    )


def parse_config(data: Mapping[str, Any], base: Path = Path(".")) -> Config:
    """Build a Config from a parsed TOML document; relative file names resolve from ``base``."""
    root = _Reader(data, "")
    region = root.sub("region")
    centre = region.raw("centre")
    if (
        not isinstance(centre, list) or len(centre) != 2
        or not all(isinstance(c, int | float) for c in centre)
        or not -90 <= centre[0] <= 90 or not -180 <= centre[1] <= 180
    ):
        raise InputError(f"region.centre: expected [lat, lon] in degrees, got {centre!r}")

    parties: dict[str, Party] = {}
    official_ids: set[str] = set()
    for pr in root.tables("parties"):
        pid = pr.text("id")
        if pid in parties:
            raise InputError(f"{pr._where('id')}: duplicate party {pid!r}")
        keys = pr.raw("public_keys", [])
        if not isinstance(keys, list):
            raise InputError(f"{pr._where('public_keys')}: expected a list, got {keys!r}")
        officials = []
        for orr in pr.tables("officials"):
            oid = orr.text("id")
            if oid in official_ids:
                raise InputError(f"{orr._where('id')}: duplicate official {oid!r}")
            official_ids.add(oid)
            level = orr.raw("level")
            if not isinstance(level, int) or isinstance(level, bool) or level < 1:
                raise InputError(f"{orr._where('level')}: expected an integer >= 1, got {level!r}")
            officials.append(Official(
                id=oid, party=pid, name=orr.text("name"), role=orr.text("role", "military"),
                level=level, public_key=_key(orr.text("public_key"), orr._where("public_key")),
            ))
        parties[pid] = Party(
            id=pid,
            name=pr.text("name", pid),
            public_keys=tuple(
                _key(k, f"{pr._where('public_keys')}[{n}]") for n, k in enumerate(keys)
            ),
            officials=tuple(sorted(officials, key=lambda o: (o.level, o.id))),
            colour=_colour(pr, PARTY_COLOURS[len(parties) % len(PARTY_COLOURS)]),
        )

    agreements = []
    for ar in root.tables("agreements"):
        pair = ar.raw("parties")
        if (not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]
                or not all(isinstance(p, str) for p in pair)):
            raise InputError(
                f"{ar._where('parties')}: expected two different declared parties, got {pair!r}"
            )
        unknown = [p for p in pair if p not in parties]
        if unknown:
            raise InputError(f"{ar._where('parties')}: {unknown[0]!r} is not a declared party "
                             f"(parties: {', '.join(parties) or 'none'})")
        if any(set(a.parties) == set(pair) for a in agreements):
            raise InputError(f"{ar._where('parties')}: a second agreement between {pair}")
        shares_r = ar.sub("shares")
        shares = {
            p: _share(shares_r.sub(p), base) if shares_r.has(p) else Share() for p in pair
        }
        warning = ar.number("warning_s", 120.0, strict=True)
        critical = ar.number("critical_s", 60.0, strict=True)
        if critical > warning:
            raise InputError(
                f"{ar._where('critical_s')}: {critical:g} s is longer than warning_s {warning:g} s"
            )
        hot = ar.sub("hotline")
        agreements.append(Agreement(
            parties=(pair[0], pair[1]),
            shares=shares,
            h_min_m=ar.number("h_min_m", 9_260.0, strict=True),
            v_min_m=ar.number("v_min_m", 304.8, strict=True),
            lookahead_s=ar.number("lookahead_s", 300.0, strict=True),
            warning_s=warning,
            critical_s=critical,
            equal_priority_allowed=ar.boolean("equal_priority_allowed", False),
            flash_deadline_s=hot.number("flash_s", 60.0, strict=True),
            urgent_deadline_s=hot.number("urgent_s", 300.0, strict=True),
        ))

    files = []
    for k, entry in enumerate(root.raw("airspaces", [])):
        if not isinstance(entry, str):
            raise InputError(f"airspaces[{k}]: expected a GeoJSON file name, got {entry!r}")
        if entry.startswith("detente:"):  # a file shipped in the package (detente/data)
            try:
                files.append(bundled_path(entry.removeprefix("detente:")))
            except FileNotFoundError as exc:
                raise InputError(f"airspaces[{k}]: {exc}") from None
        else:
            files.append(base / entry)

    svc = root.sub("service")
    settings = ServiceSettings(
        cycle_s=svc.number("cycle_s", 1.0, strict=True),
        stale_s=svc.number("stale_s", 60.0, strict=True),
        retention_days=svc.number("retention_days", 7.0, strict=True),
        anchor_s=svc.number("anchor_s", 10.0, strict=True),
        token_ttl_s=svc.number("token_ttl_s", 900.0, strict=True),
        future_tolerance_s=svc.number("future_tolerance_s", 30.0),
        max_batch=int(svc.number("max_batch", 10_000, strict=True)),
        max_body_bytes=int(svc.number("max_body_bytes", 5 * 1024 * 1024, strict=True)),
        log_key_file=(base / svc.text("log_key")) if svc.has("log_key")
        else Path("detente-log.pem"),
        recording=_recording(svc.sub("recording"), svc.number("stale_s", 60.0, strict=True)),
        **_disk(svc),
    )
    return Config(
        region_name=region.text("name", "region"),
        centre=(float(centre[0]), float(centre[1])),
        parties=parties,
        agreements=tuple(agreements),
        airspace_files=tuple(files),
        settings=settings,
        dss=parse_dss_settings(root.raw("dss", None), base, parties),
    )


def recording_tolerance(settings: ServiceSettings) -> Tolerance:
    """The tolerance the recording keeps reports within, its gap between kept reports under
    the staleness (a window of stale_s of the recording must hold every live track)."""
    t = settings.recording
    if not t.exact and t.max_gap_s >= settings.stale_s:
        t = dataclasses.replace(t, max_gap_s=settings.stale_s / 2)
    return t


def _recording(t: _Reader, stale_s: float) -> Tolerance:
    """[service.recording]: ``exact = true`` keeps every report as received; else the
    tolerance of dead reckoning within which reports are left out (store.report_thinning)."""
    if t.boolean("exact", False):
        return EXACT
    d = DEFAULT_TOLERANCE
    tolerance = Tolerance(
        position_m=t.number("position_m", d.position_m),
        altitude_m=t.number("altitude_m", d.altitude_m),
        speed_mps=t.number("speed_mps", d.speed_mps),
        track_deg=t.number("track_deg", d.track_deg),
        vertical_mps=t.number("vertical_mps", d.vertical_mps),
        max_gap_s=t.number("max_gap_s", min(d.max_gap_s, stale_s / 2), strict=True))
    if tolerance.max_gap_s >= stale_s:
        # A window of stale_s of the recording must hold every live track (replay, restart).
        raise InputError(f"service.recording.max_gap_s: {tolerance.max_gap_s:g} s, must be "
                         f"under service.stale_s ({stale_s:g} s)")
    return tolerance


def _disk(svc: _Reader) -> dict[str, float]:
    """disk_warn_mb, disk_refuse_mb (MB of free space, 0: off) and disk_check_s (s): the
    refusal comes after the warning, so its threshold is the lower one."""
    warn = svc.number("disk_warn_mb", ServiceSettings.disk_warn_mb)
    refuse = svc.number("disk_refuse_mb", ServiceSettings.disk_refuse_mb)
    if refuse > warn:
        raise InputError(f"service.disk_refuse_mb: {refuse:g} MB is more than "
                         f"service.disk_warn_mb ({warn:g} MB): new reports would be refused "
                         "before anyone is warned or anything pruned")
    return {"disk_warn_mb": warn, "disk_refuse_mb": refuse,
            "disk_check_s": svc.number("disk_check_s", ServiceSettings.disk_check_s,
                                       strict=True)}


def _public_key_text(key: Any) -> str:
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def _zones_value(zones: shapely.Geometry | None) -> Any:
    if zones is None:
        return "all"
    if zones.is_empty:
        return "none"
    return json.loads(json.dumps(shapely.geometry.mapping(zones)))


def config_document(config: Config) -> dict[str, Any]:
    """The configuration as a document ``parse_config`` reads back to the same terms, with
    nothing left in other files (zones inline; airspaces go in the recording on their own)."""
    s = config.settings
    return {
        "region": {"name": config.region_name, "centre": list(config.centre)},
        "service": {"cycle_s": s.cycle_s, "stale_s": s.stale_s,
                    "retention_days": s.retention_days, "anchor_s": s.anchor_s,
                    "token_ttl_s": s.token_ttl_s,
                    "future_tolerance_s": s.future_tolerance_s, "max_batch": s.max_batch,
                    "max_body_bytes": s.max_body_bytes, "recording": s.recording.body(),
                    "disk_warn_mb": s.disk_warn_mb, "disk_refuse_mb": s.disk_refuse_mb,
                    "disk_check_s": s.disk_check_s},
        "parties": [{
            "id": p.id, "name": p.name, "colour": p.colour,
            "public_keys": [_public_key_text(k) for k in p.public_keys],
            "officials": [{"id": o.id, "name": o.name, "role": o.role, "level": o.level,
                           "public_key": _public_key_text(o.public_key)} for o in p.officials],
        } for p in config.parties.values()],
        "agreements": [{
            "parties": list(ag.parties), "h_min_m": ag.h_min_m, "v_min_m": ag.v_min_m,
            "lookahead_s": ag.lookahead_s, "warning_s": ag.warning_s,
            "critical_s": ag.critical_s, "equal_priority_allowed": ag.equal_priority_allowed,
            "hotline": {"flash_s": ag.flash_deadline_s, "urgent_s": ag.urgent_deadline_s},
            "shares": {party: {
                "zones": _zones_value(sh.zones), "precision_m": sh.precision_m,
                "alt_precision_m": sh.alt_precision_m, "delay_s": sh.delay_s,
                "alerts": sh.alerts, "alert_precision_m": sh.alert_precision_m,
            } for party, sh in ag.shares.items()},
        } for ag in config.agreements],
    }


def read_toml(path: Path) -> dict[str, Any]:
    """A configuration file's TOML; InputError naming the file if it cannot be read."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read configuration {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not TOML: {exc}") from None


def load_config(path: str | Path) -> Config:
    """Read and check a TOML configuration file."""
    p = Path(path)
    data = read_toml(p)
    try:
        return parse_config(data, p.parent)
    except InputError as exc:
        raise InputError(f"{p}: {exc}") from None
