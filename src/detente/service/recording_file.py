"""The recording of an after-action review: the file ``detente export --with-recording``
writes beside a record export, and ``detente replay`` reads with it.

JSON lines: a header naming the record export (``ledger_binding``), the configuration the
service ran (``config.config_document``), its protected airspaces, every track report the
service accepted (batches in columns, with the time each was accepted and the rowid the
record's anchors name) and every party's durable events, between two times, then an end line
with the counts. The recording is NOT signed: ``replay_checks`` holds it to the record export,
which ``read_ledger_export`` audits first.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import shapely.geometry
from sqlalchemy import Connection, Engine

from detente.errors import InputError
from detente.geo.projection import LocalProjection
from detente.ledger import AuditReport, Cosignature, SignedStatement, TreeHead, audit_export
from detente.ledger.keys import b64decode_strict
from detente.model.airspace import Airspace
from detente.model.reports import ReportBatch, TrackReport
from detente.service.config import Config, config_document, parse_config
from detente.service.sharing import SharingPolicy
from detente.store import recording as rec
from detente.store.database import read_snapshot

__all__ = [
    "RECORDING_FORMAT",
    "UNSIGNED_NOTE",
    "Batch",
    "Event",
    "LedgerExport",
    "Recording",
    "airspace_collection",
    "ledger_binding",
    "read_ledger_export",
    "read_recording",
    "recording_path",
    "write_recording",
]

RECORDING_FORMAT = "detente-recording-v1"
UNSIGNED_NOTE = (
    "NOT SIGNED: the recorded states (tracks, alerts as each party was told them, hotline "
    "traffic) come from the service's database as it stood at export. Only the record export "
    "beside this file is signed; detente replay checks this file's hotline traffic and alerts "
    "against it, and its track reports against the digests the service put in the record "
    "every few seconds (reports after the last such anchor have none behind them)."
)

def recording_path(export: str | Path) -> Path:
    """Where the recording of a record export is: ``record.jsonl`` -> ``record.recording.jsonl``."""
    p = Path(export)
    return p.with_name(f"{p.stem}.recording{p.suffix or '.jsonl'}")


# --- writing ------------------------------------------------------------------------------------


def airspace_collection(airspaces: Iterable[Airspace]) -> dict[str, Any]:
    """Protected airspaces as the service's ``GET /v1/airspaces`` gives them."""
    features = []
    for k, a in enumerate(airspaces):
        features.append({
            "type": "Feature", "id": k,
            "geometry": json.loads(json.dumps(shapely.geometry.mapping(a.geometry))),
            "properties": {"name": a.name, "owner": a.owner, "kind": str(a.kind),
                           "floor_m": a.floor_m if math.isfinite(a.floor_m) else None,
                           "ceiling_m": a.ceiling_m if math.isfinite(a.ceiling_m) else None,
                           "buffer_m": a.buffer_m},
        })
    return {"type": "FeatureCollection", "features": features}


def ledger_binding(export: bytes | Path) -> dict[str, Any]:
    """What names a record export: its origin, log key, and its last tree head's size and
    root (read from the file's header and last line; ``detente verify`` checks them)."""
    if isinstance(export, Path):
        with export.open("rb") as f:
            first = f.readline()
            f.seek(0, 2)
            end = f.tell()
            f.seek(max(0, end - 65_536))
            tail = f.read().splitlines()
    else:
        first, tail = export.split(b"\n", 1)[0], export.splitlines()
    try:
        header = json.loads(first)
        head = TreeHead.from_json(json.loads(tail[-1])["head"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise InputError(f"not a record export: {exc}") from None
    return {"origin": header["origin"], "log_key": header["log_key"], "size": head.size,
            "root": head.root.hex()}


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def write_recording(out: IO[bytes], engine: Engine, config: Config, binding: dict[str, Any],
                    t_from: float | None = None, t_to: float | None = None) -> dict[str, int]:
    """Write the recording of ``engine``'s database between ``t_from`` and ``t_to`` (s, UTC
    epoch; None: from the first, to the last) for the record export named by ``binding``.

    Reports accepted up to stale_s + the longest sharing delay + the future tolerance before
    ``t_from`` are included too, so that the picture at ``t_from`` is whole; events before
    ``t_from`` are reduced to the latest of each alert, message and tree head per party, so
    that what was open at ``t_from`` is there. Returns counts.

    Everything is read from one snapshot of the database: a service recording and pruning
    meanwhile cannot tear it (a prune between two reads would leave anchored reports out).
    """
    with read_snapshot(engine) as snapshot:
        return _write_recording(out, snapshot, config, binding, t_from, t_to)


def _write_recording(out: IO[bytes], engine: Connection, config: Config,
                     binding: dict[str, Any], t_from: float | None, t_to: float | None
                     ) -> dict[str, int]:
    s = config.settings
    policy = SharingPolicy(config, LocalProjection(*config.centre))
    preroll = s.stale_s + policy.max_delay_s() + s.future_tolerance_s
    reports_from = None if t_from is None else t_from - preroll
    # Retention has deleted what was received before the first report the database holds.
    earliest = rec.first_received(engine)
    if earliest is not None and (reports_from is None or earliest > reports_from):
        reports_from = earliest
    out.write(_line({
        "format": RECORDING_FORMAT, "signed": False, "note": UNSIGNED_NOTE, "ledger": binding,
        "from": t_from, "to": t_to, "reports_from": reports_from, "reports_to": t_to,
        "exported_at": time.time(),
    }))
    out.write(_line({"config": config_document(config)}))
    out.write(_line({"airspaces": airspace_collection(config.load_airspaces())}))
    counts = {"reports": 0, "batches": 0, "events": 0}
    batch: dict[str, Any] | None = None
    for r in rec.reports_received_between(engine, None if t_from is None else t_from - preroll,
                                          t_to):
        if batch is None or (batch["party"], batch["received"]) != (r["party"], r["received"]) \
                or batch["row"] + len(batch["rows"]) != r["rowid"]:
            if batch is not None:
                out.write(_line({"reports": batch}))
                counts["batches"] += 1
            # "row": the first's rowid, which the record's anchors name (the others follow).
            batch = {"party": r["party"], "received": r["received"], "row": r["rowid"],
                     "rows": []}
        batch["rows"].append([r["track_id"], r["t"], r["lat"], r["lon"], r["alt_m"],
                              r["gs_mps"], r["trk_deg"], r["vs_mps"]])
        counts["reports"] += 1
    if batch is not None:
        out.write(_line({"reports": batch}))
        counts["batches"] += 1
    for party, seq, t, kind, data in _events(engine, t_from, t_to):
        out.write(_line({"event": {"party": party, "seq": seq, "t": t, "type": kind,
                                   "data": data}}))
        counts["events"] += 1
    out.write(_line({"end": counts}))
    return counts


def _events(engine: Connection, t_from: float | None, t_to: float | None
            ) -> Iterator[tuple[str, int, float, str, Any]]:
    """Events up to ``t_to``; those before ``t_from`` only as the latest of each thing."""
    before: dict[tuple[str, str, Any], tuple[str, int, float, str, Any]] = {}
    for ev in rec.events_until(engine, t_to):
        party, _, t, kind, data = ev
        if t_from is not None and t < t_from:
            before[party, kind, data.get("id") if kind != "tree_head" else None] = ev
        else:
            yield ev
    yield from sorted(before.values(), key=lambda e: (e[0], e[1]))


# --- reading --------------------------------------------------------------------------------------


@dataclass
class LedgerExport:
    """A verified record export: the audit's verdict, its entries and heads."""

    path: Path
    report: AuditReport
    log_key: bytes
    entries: list[SignedStatement]
    heads: list[TreeHead]
    cosignatures: dict[int, list[Cosignature]]


def read_ledger_export(path: str | Path) -> LedgerExport:
    """Audit a record export (``RecordVerificationError`` names the first bad line, as
    ``detente verify`` does), then read its entries and heads."""
    p = Path(path)
    try:
        with p.open("rb") as stream:
            report = audit_export(stream)
            stream.seek(0)
            lines = stream.read().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}") from exc
    log_key = b64decode_strict(json.loads(lines[0])["log_key"], "log_key")
    entries, heads, cosigs = [], [], {}
    for raw in lines[1:]:
        value = json.loads(raw)
        if "leaf" in value:
            entries.append(SignedStatement.from_json(value["leaf"]))
        else:
            head = TreeHead.from_json(value["head"])
            heads.append(head)
            cosigs[head.size] = [Cosignature.from_json(c) for c in value["cosignatures"]]
    return LedgerExport(p, report, log_key, entries, heads, cosigs)


@dataclass
class Batch:
    """One batch the service accepted: ``party``'s reports, ``received`` (s, UTC epoch).
    Kept as columns (ids; t, lat, lon, alt_m, gs_mps, trk_deg, vs_mps in an (n, 7) float
    array): a Python object per report would cost six times the memory."""

    party: str
    received: float
    ids: list[str]
    values: np.ndarray
    first_row: int | None = None  # the rowid of the first report, which anchors name

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def reports(self) -> list[TrackReport]:
        return [TrackReport(i, *v) for i, v in zip(self.ids, self.values.tolist(), strict=True)]

    def columns(self) -> ReportBatch:
        return ReportBatch(self.ids, self.values)


@dataclass
class Event:
    party: str
    seq: int
    t: float
    type: str
    data: dict[str, Any]


@dataclass
class Recording:
    path: Path
    header: dict[str, Any]
    config: Config
    airspaces: dict[str, Any]
    batches: list[Batch]  # in the order the service accepted them
    events: list[Event] = field(default_factory=list)

    @property
    def reports(self) -> int:
        return sum(len(b) for b in self.batches)


def finite_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def _batch(party: str, received: float, rows: Any, first_row: Any, where: str) -> Batch:
    shape = "expected rows of [id, t, lat, lon, alt_m, gs_mps, trk_deg, vs_mps]"
    if not isinstance(rows, list) or not all(
            isinstance(r, list) and len(r) == 8 and isinstance(r[0], str) for r in rows):
        raise InputError(f"{where}: {shape}")
    numbers = [r[1:] for r in rows]
    if any(isinstance(v, bool) for r in numbers for v in r):
        raise InputError(f"{where}: {shape}, numbers (got true or false)")
    try:
        values = np.array(numbers, dtype=np.float64).reshape(len(rows), 7)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {shape}, numbers") from None
    if not np.isfinite(values).all():
        raise InputError(f"{where}: a report with a number that is not finite")
    if first_row is not None and (type(first_row) is not int or first_row < 1):
        raise InputError(f"{where}: row: expected a rowid (an integer >= 1), got {first_row!r}")
    return Batch(party, received, [sys.intern(r[0]) for r in rows], values, first_row)


def read_recording(path: str | Path) -> Recording:
    """Read and check the shape of a recording; errors name the file and line."""
    p = Path(path)
    try:
        stream = p.open("rb")
    except OSError as exc:
        raise InputError(f"cannot read recording {p}: {exc.strerror}") from exc
    header: dict[str, Any] = {}
    config: Config | None = None
    airspaces: dict[str, Any] = {"type": "FeatureCollection", "features": []}
    batches: list[Batch] = []
    events: list[Event] = []
    end: dict[str, Any] | None = None
    with stream:
        for number, raw in enumerate(stream, 1):
            where = f"{p}, line {number}"
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise InputError(f"{where}: not JSON ({exc})") from None
            if not isinstance(value, dict) or (number > 1 and len(value) != 1):
                raise InputError(f"{where}: not a line of a recording")
            if end is not None:
                raise InputError(f"{where}: a line after the end")
            if number == 1:
                if value.get("format") != RECORDING_FORMAT:
                    raise InputError(f"{where}: not a detente recording (format "
                                     f"{value.get('format')!r}, want {RECORDING_FORMAT!r})")
                header = value
                continue
            (kind, body), = value.items()
            if kind == "config":
                try:
                    config = parse_config(body)
                except InputError as exc:
                    raise InputError(f"{where}: configuration: {exc}") from None
            elif kind == "airspaces":
                airspaces = body
            elif kind == "reports":
                if config is None or body.get("party") not in config.parties:
                    raise InputError(f"{where}: reports of an undeclared party "
                                     f"{body.get('party')!r}")
                received = finite_number(body.get("received"), f"{where}: received")
                batches.append(_batch(body["party"], received, body.get("rows"),
                                      body.get("row"), where))
            elif kind == "event":
                try:
                    t = finite_number(body["t"], f"{where}: t")
                    events.append(Event(str(body["party"]), int(body["seq"]), t,
                                        str(body["type"]), dict(body["data"])))
                except (KeyError, TypeError, ValueError) as exc:
                    raise InputError(f"{where}: not an event ({exc})") from None
            elif kind == "end":
                end = body
            else:
                raise InputError(f"{where}: unknown line {kind!r}")
    if config is None:
        raise InputError(f"{p}: no configuration in the recording")
    if end is None:
        raise InputError(f"{p}: the recording ends early (no end line): cut short?")
    got = {"reports": sum(len(b) for b in batches), "batches": len(batches),
           "events": len(events)}
    if any(end.get(k) != v for k, v in got.items()):
        raise InputError(f"{p}: the end line counts {end}, the file holds {got}")
    return Recording(p, header, config, airspaces, batches, events)
