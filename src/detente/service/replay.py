"""After-action review: the recorded states written beside a record export, and read back to
show what each party was shown at any instant.

``detente export --with-recording`` writes two files: the record export (the ledger, signed,
as ``detente verify`` checks it) and, beside it, the RECORDING: JSON lines holding the
configuration the service ran (parties, officials, agreements with their sharing terms,
protected airspaces), every track report the service accepted (with the time it accepted it)
and every party's durable events (alerts as that party was told them, hotline traffic, tree
heads), between two times. The recording is NOT signed: whoever held the database could have
changed it. ``detente replay`` checks what can be checked: the record export first (refused
if it does not verify), then that the recording names that very record (origin, log key,
size, root), then that the recording's hotline messages and acknowledgements are the signed
statements of the record, word for word and author for author, that every alert the record
holds is in the recording for each party it went to, and that the track reports hash to the
digests the service said in the record every few seconds as it recorded them
(``detente.store.report_digest``). Reports after the last of those anchors, and the other
events, have no signature behind them.

What a party saw at time t is recomputed with the live service's own code: the picture is
rebuilt from the reports accepted up to t (``Picture``, with the configuration's staleness and
sharing delays), and ``SharingPolicy.visible_tracks`` decides what the party may see of it,
as it did for the picture frames pushed every cycle. Alerts and hotline messages are the
party's own events up to t, the latest of each. The tree head is the record's: the latest
head signed at or before t, with the cosignatures made by then.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import shapely
import shapely.geometry
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Engine

from detente.errors import InputError, VerificationError
from detente.geo.projection import LocalProjection
from detente.ledger import (
    RFC9162_SHA256,
    AuditReport,
    Cosignature,
    Entry,
    Receipt,
    TreeHead,
    origin_for,
    read_export,
)
from detente.ledger.keys import b64decode_strict, key_id
from detente.ledger.tree import NodeID, inclusion_plan
from detente.model.airspace import Airspace
from detente.model.reports import TrackReport
from detente.service.config import Config, parse_config
from detente.service.frames import shown_tracks
from detente.service.picture import Picture
from detente.service.sharing import SharingPolicy
from detente.store import recording as rec
from detente.store.database import read_snapshot
from detente.store.report_digest import ANCHOR_KIND, Anchor, rows_bytes

__all__ = [
    "RECORDING_FORMAT",
    "UNSIGNED_NOTE",
    "LedgerExport",
    "Recording",
    "Replay",
    "airspace_collection",
    "config_document",
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
_SERVICE = "detente"  # the service's author name in the record


def recording_path(export: str | Path) -> Path:
    """Where the recording of a record export is: ``record.jsonl`` -> ``record.recording.jsonl``."""
    p = Path(export)
    return p.with_name(f"{p.stem}.recording{p.suffix or '.jsonl'}")


# --- writing --------------------------------------------------------------------------------------


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
                    "max_body_bytes": s.max_body_bytes},
        "parties": [{
            "id": p.id, "name": p.name,
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
        head, _ = TreeHead.from_note(json.loads(tail[-1])["checkpoint"])
    except (ValueError, KeyError, IndexError, TypeError, InputError) as exc:
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
    entries: list[Entry]
    heads: list[TreeHead]
    cosignatures: dict[int, list[Cosignature]]


def read_ledger_export(path: str | Path) -> LedgerExport:
    """Audit a record export (``RecordVerificationError`` names the first bad line, as
    ``detente verify`` does), then read its entries and heads."""
    p = Path(path)
    try:
        with p.open("rb") as stream:
            found = read_export(stream)
    except OSError as exc:
        raise InputError(f"cannot read {p}: {exc.strerror}") from exc
    if found.report.copy_of is not None:
        raise InputError(f"{p} is {found.report.copy_of}'s copy of the record; a replay needs "
                         "the operator's full export")
    return LedgerExport(p, found.report, found.log_key, found.entries,  # type: ignore[arg-type]
                        found.heads, found.cosignatures)


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


def _number(value: Any, where: str) -> float:
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
                received = _number(body.get("received"), f"{where}: received")
                batches.append(_batch(body["party"], received, body.get("rows"),
                                      body.get("row"), where))
            elif kind == "event":
                try:
                    events.append(Event(str(body["party"]), int(body["seq"]),
                                        _number(body["t"], f"{where}: t"), str(body["type"]),
                                        dict(body["data"])))
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


def _rows_between(runs: list[tuple[int, Batch]], starts: list[int], first: int, last: int
                  ) -> list[tuple[str, list[str], np.ndarray, float]]:
    """The recording's reports of rows ``first`` to ``last``, in row order, as pieces of
    batches (party, ids, values, received); rows it lacks are left out."""
    out = []
    k = max(bisect.bisect_right(starts, first) - 1, 0)
    while k < len(runs) and runs[k][0] <= last:
        start, b = runs[k]
        i0, i1 = max(first - start, 0), min(last - start + 1, len(b))
        if i0 < i1:
            out.append((b.party, b.ids[i0:i1], b.values[i0:i1], b.received))
        k += 1
    return out


# --- the replay -----------------------------------------------------------------------------------


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


class Replay:
    """What each party was shown, at any instant of a recording, with its record export."""

    def __init__(self, recording: Recording, ledger: LedgerExport) -> None:
        self.recording = recording
        self.ledger = ledger
        self.config = recording.config
        self.sharing = SharingPolicy(self.config, LocalProjection(*self.config.centre))
        s = self.config.settings
        self.history_s = self.sharing.max_delay_s()
        self.window_s = s.stale_s + self.history_s + s.future_tolerance_s
        order = sorted(range(len(recording.batches)),
                       key=lambda k: recording.batches[k].received)
        self.batches = [recording.batches[k] for k in order]
        self.received = np.array([b.received for b in self.batches], dtype=np.float64)
        # party -> type -> id -> [(t, seq, data)] sorted; and ids in order of first event.
        self.events: dict[str, dict[str, dict[Any, list[tuple[float, int, dict]]]]] = {}
        self.first_seen: dict[str, dict[str, dict[Any, int]]] = {}
        for ev in sorted(recording.events, key=lambda e: (e.party, e.seq)):
            key = ev.data.get("id") if ev.type != "tree_head" else None
            self.events.setdefault(ev.party, {}).setdefault(ev.type, {}).setdefault(
                key, []).append((ev.t, ev.seq, ev.data))
            self.first_seen.setdefault(ev.party, {}).setdefault(ev.type, {}).setdefault(
                key, ev.seq)
        for kinds in self.events.values():
            for ids in kinds.values():
                for items in ids.values():
                    items.sort(key=lambda x: (x[0], x[1]))
        self.heads = ledger.heads
        self.head_times = [h.time for h in self.heads]
        # When each head became settled (co-signed by every party), for latest_settled.
        settled = []
        for h in self.heads:
            by_party: dict[str, int] = {}
            for c in ledger.cosignatures.get(h.size, []):
                by_party[c.party] = min(by_party.get(c.party, c.time), c.time)
            if h.size > 0 and set(self.config.parties) <= set(by_party):
                settled.append((max(by_party.values()), h.size))
        settled.sort()
        self.settled_times = [t for t, _ in settled]
        self.settled_sizes = list(np.maximum.accumulate([s for _, s in settled])) if settled \
            else []
        self.checked: dict[str, int] = {}  # what cross_check found, once it has run
        self._window: dict[int, list[TrackReport]] = {}  # see picture_at
        self._leaves: list[bytes] | None = None  # for receipts, computed when first asked
        self._nodes: dict[NodeID, bytes] = {}
        header = recording.header
        times = [b.received for b in self.batches] + [e.t for e in recording.events]
        t_first = min(times, default=0.0)
        t_last = max(times, default=0.0)
        self.t_from = float(header["from"]) if header.get("from") is not None else t_first
        self.t_to = float(header["to"]) if header.get("to") is not None else t_last

    # --- checks ---------------------------------------------------------------------------------

    def check_binding(self) -> None:
        """The recording must name the record export it is replayed with."""
        b = self.recording.header.get("ledger") or {}
        rep = self.ledger.report
        got = {"origin": rep.origin, "log key": key_id(self.ledger.log_key),
               "size": rep.entries, "root": rep.root.hex()}
        try:
            want = {"origin": b.get("origin"),
                    "log key": key_id(b64decode_strict(str(b.get("log_key")), "log_key")),
                    "size": b.get("size"), "root": b.get("root")}
        except (InputError, VerificationError):
            want = {"log key": None}
        if rep.origin != origin_for(f"detente/{self.config.region_name}"):
            raise VerificationError(
                f"the recording's configuration is of region {self.config.region_name!r}, the "
                f"record of log {rep.origin!r}: not the configuration the service ran")
        bad = [k for k in got if got[k] != want.get(k)]
        if bad:
            raise VerificationError(
                f"the recording {self.recording.path.name} is not of this record export "
                f"({', '.join(bad)} differ: the recording names "
                f"{', '.join(f'{k} {want.get(k)}' for k in bad)}; the export has "
                f"{', '.join(f'{k} {got[k]}' for k in bad)})")

    def cross_check(self) -> dict[str, int]:
        """Hold the recording's hotline traffic, alerts and track reports (``check_anchors``)
        to the signed record. Raises VerificationError at the first disagreement; returns
        what was checked."""
        entries = self.ledger.entries
        acks = {}
        for index, e in enumerate(entries):
            if e.statement.kind == "hotline.ack":
                acks[e.statement.body.get("message_id"), e.statement.ref] = (index, e)
        messages: dict[str, dict[str, Any]] = {}
        for ev in self.recording.events:
            if ev.type == "hotline":
                messages[ev.data["id"]] = ev.data  # the latest of each: it has the ack
        checked = {"messages": 0, "acknowledgements": 0, "alerts": 0}
        for m in messages.values():
            what = f"hotline message {m['id']}"
            index = m.get("record_index")
            if not isinstance(index, int) or not 0 <= index < len(entries):
                raise VerificationError(f"the recording's {what} names record entry {index!r}, "
                                        "which the record does not have")
            st = entries[index].statement
            body = st.body
            author = (_SERVICE if m.get("automatic")
                      else f"{m.get('from_party')}/{m.get('from_official')}")
            fields = {"kind": (st.kind, "hotline.message"), "author": (st.author, author)}
            for k in ("id", "to_party", "priority", "body"):
                fields[k] = (body.get(k), m.get(k))
            fields["to_official"] = (body.get("to_official"), m.get("to_official"))
            fields["alert_id"] = (body.get("alert_id"), m.get("alert_id"))
            if m.get("automatic"):
                fields["on behalf of"] = (body.get("on_behalf_of"), f"{m.get('from_party')} watch")
            bad = [k for k, (signed, recorded) in fields.items() if signed != recorded]
            if bad:
                k = bad[0]
                raise VerificationError(
                    f"the recording's {what} disagrees with record entry {index} ({k}: the "
                    f"record says {fields[k][0]!r}, the recording {fields[k][1]!r})")
            checked["messages"] += 1
            ack = m.get("ack")
            if ack:
                found = acks.get((m["id"], index))
                if found is None:
                    raise VerificationError(
                        f"the recording's {what} is acknowledged by {ack.get('by')!r}, but the "
                        "record holds no signed acknowledgement of it")
                a_index, a = found
                if (a.statement.author != f"{m['to_party']}/{ack.get('by')}"
                        or a.statement.body.get("reply") != ack.get("reply")):
                    raise VerificationError(
                        f"the recording's acknowledgement of {what} disagrees with record "
                        f"entry {a_index} (signed by {a.statement.author!r}: "
                        f"{a.statement.body.get('reply')!r})")
                checked["acknowledgements"] += 1
        # Every alert the record holds, in the recording's time span, went to each party the
        # agreements let it reach: the recording must say so.
        told = {(ev.party, ev.data.get("id")) for ev in self.recording.events
                if ev.type == "alert"}
        for index, e in enumerate(entries):
            st = e.statement
            if st.kind != "alert" or st.author != _SERVICE:
                continue
            # Its events came no later than it was signed: those of an alert signed by t_to
            # are in the recording (by t_from, as the latest of each).
            if not self.t_from <= st.time <= self.t_to:
                continue
            for party in st.body.get("parties", []):
                if not self._told_of_alerts(party, st.body.get("parties", [])):
                    continue
                if (party, st.body.get("id")) not in told:
                    raise VerificationError(
                        f"record entry {index} is alert {st.body.get('id')} for "
                        f"{', '.join(st.body.get('parties', []))}, but the recording never "
                        f"tells {party} of it")
            checked["alerts"] += 1
        self.checked = checked | self.check_anchors()
        return self.checked

    def check_anchors(self) -> dict[str, int]:
        """Hold the recording's track reports to the digests the service said in the record
        (``recording.anchor`` statements): every anchored run of reports the recording holds
        must be whole and hash to its digest. A run that the recording's report span cuts
        (its start, or retention, or the export's window) is not checkable; one wholly inside
        the span must be there. Raises VerificationError; returns what was checked."""
        runs = sorted(((b.first_row, b) for b in self.batches if b.first_row is not None),
                      key=lambda run: run[0])
        starts = [first for first, _ in runs]
        for (f0, b0), (f1, _) in itertools.pairwise(runs):
            if f0 + len(b0) > f1:
                raise VerificationError(f"the recording holds report row {f1} twice")
        header = self.recording.header
        where = f"{self.recording.path}, line 1"
        lo, hi = header.get("reports_from"), header.get("reports_to")
        lo = -math.inf if lo is None else _number(lo, f"{where}: reports_from")
        hi = math.inf if hi is None else _number(hi, f"{where}: reports_to")
        # The span tells an anchor the recording cuts from one it thins: a report outside it
        # means the line was moved to pass a thinned anchor off as a cut one.
        outside = [b for b in self.batches if not lo <= b.received <= hi]
        if outside:
            raise VerificationError(
                f"the recording holds reports received at {_clock(outside[0].received)}, "
                "outside the span its first line states (reports_from "
                f"{header.get('reports_from')}, reports_to {header.get('reports_to')})")
        checked = {"anchors": 0, "anchored_reports": 0, "unchecked_anchors": 0}
        for index, e in enumerate(self.ledger.entries):
            st = e.statement
            if st.kind != ANCHOR_KIND or st.author != _SERVICE:
                continue
            try:
                anchor = Anchor.from_body(st.body)
            except ValueError as exc:
                raise VerificationError(f"record entry {index}: not an anchor ({exc})") from None
            pieces = _rows_between(runs, starts, anchor.first_row, anchor.last_row)
            present = sum(len(ids) for _, ids, _, _ in pieces)
            what = (f"track reports of rows {anchor.first_row} to {anchor.last_row} (received "
                    f"{_clock(anchor.received_from)} to {_clock(anchor.received_to)})")
            if present == anchor.reports:
                digest = hashlib.sha256()
                for party, ids, values, received in pieces:
                    digest.update(rows_bytes(party, ids, values, received))
                if digest.hexdigest() != anchor.sha256:
                    raise VerificationError(
                        f"the recording's {what} do not match their digest in record entry "
                        f"{index}: changed since the service recorded them")
                checked["anchors"] += 1
                checked["anchored_reports"] += present
            # A recording that holds no report (all pruned, or a window with none) has nothing
            # to check; one that holds some must hold every anchored run inside its span.
            elif runs and lo <= anchor.received_from and anchor.received_to <= hi:
                raise VerificationError(
                    f"{anchor.reports - present} of the {anchor.reports} {what}, anchored in "
                    f"record entry {index}, are missing from the recording")
            else:
                checked["unchecked_anchors"] += 1
        return checked

    def _told_of_alerts(self, viewer: str, parties: list[str]) -> bool:
        for other in parties:
            if other != viewer:
                share = self.sharing.share(other, viewer)
                if share is None or not share.alerts:
                    return False
        return True

    # --- views ----------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        rep = self.ledger.report
        return {
            "from": self.t_from, "to": self.t_to, "region": self.config.region_name,
            "centre": list(self.config.centre), "cycle_s": self.config.settings.cycle_s,
            "parties": [{"id": p.id, "name": p.name,
                         "officials": [{"id": o.id, "name": o.name, "level": o.level}
                                       for o in p.officials]}
                        for p in self.config.parties.values()],
            "record": {"origin": rep.origin, "log_key_id": rep.log_key_id,
                       "size": rep.entries, "root": rep.root.hex(), "verified": True},
            "recording": {"file": self.recording.path.name, "signed": False,
                          "note": UNSIGNED_NOTE, "reports": self.recording.reports,
                          "anchored_reports": self.checked.get("anchored_reports"),
                          "events": len(self.recording.events)},
        }

    def picture_at(self, t: float) -> Picture:
        """The service's picture at ``t``, rebuilt from the reports it had accepted by then."""
        picture = Picture(self.config.settings.stale_s, self.history_s)
        k0 = int(np.searchsorted(self.received, t - self.window_s, side="left"))
        k1 = int(np.searchsorted(self.received, t, side="right"))
        # The window's reports as objects, kept for the next view: a replay that plays asks
        # for instants a fraction of the window apart.
        cache = self._window
        self._window = {k: cache.get(k) or self.batches[k].reports for k in range(k0, k1)}
        for k in range(k0, k1):
            b = self.batches[k]
            picture.accept(b.party, self._window[k], b.received)
        picture.expire(t)
        return picture

    def _party(self, party: str) -> str:
        if party not in self.config.parties:
            raise InputError(f"party: no party {party!r} in this recording (parties: "
                             f"{', '.join(self.config.parties)})")
        return party

    def tracks(self, party: str, t: float) -> list[dict[str, Any]]:
        """The tracks ``party`` may see at ``t``, as its picture frame showed them."""
        return shown_tracks(self.sharing.visible(self._party(party), self.picture_at(t), t))

    def _latest(self, party: str, kind: str, t: float) -> list[dict[str, Any]]:
        ids = self.events.get(party, {}).get(kind, {})
        first = self.first_seen.get(party, {}).get(kind, {})
        out = []
        for key in sorted(ids, key=lambda k: first[k]):
            items = ids[key]
            n = bisect.bisect_right(items, (t, math.inf))
            if n:
                out.append(items[n - 1][2])
        return out

    def alerts(self, party: str, t: float) -> list[dict[str, Any]]:
        """Every alert ``party`` had been told of by ``t``, as last told (cleared included)."""
        return self._latest(self._party(party), "alert", t)

    def hotline(self, party: str, t: float) -> list[dict[str, Any]]:
        """``party``'s hotline messages by ``t``, each as it then stood, oldest first."""
        return self._latest(self._party(party), "hotline", t)

    def tree_head(self, t: float) -> dict[str, Any] | None:
        """The record's latest signed tree head at ``t``, with the cosignatures made by then,
        in the shape of the service's ``tree_head`` event."""
        n = bisect.bisect_right(self.head_times, t)
        if n == 0:
            return None
        head = self.heads[n - 1]
        cosigners = sorted({c.party for c in self.ledger.cosignatures.get(head.size, [])
                            if c.time <= t})
        k = bisect.bisect_right(self.settled_times, t)
        return {"head": head.to_json(), "size": head.size, "cosigned_by": cosigners,
                "settled": head.size > 0 and set(self.config.parties) <= set(cosigners),
                "latest_settled": int(self.settled_sizes[k - 1]) if k else 0,
                "log_key": base64.b64encode(self.ledger.log_key).decode()}

    def view(self, party: str, t: float) -> dict[str, Any]:
        """Everything ``party`` was shown at ``t``."""
        return {"t": t, "party": self._party(party), "tracks": self.tracks(party, t),
                "alerts": self.alerts(party, t), "hotline": self.hotline(party, t),
                "tree_head": self.tree_head(t)}

    def timeline(self, party: str) -> list[dict[str, Any]]:
        """The moments worth jumping to for ``party``: each alert raised or changing severity,
        each hotline message sent, escalated or acknowledged."""
        out = []
        for kind in ("alert", "hotline"):
            for key, items in self.events.get(self._party(party), {}).get(kind, {}).items():
                last = None
                for t, _, data in items:
                    what = (data.get("severity") if kind == "alert"
                            else data.get("change") or data.get("state"))
                    if what != last:
                        label = (f"{data.get('kind')} {data.get('severity')}" if kind == "alert"
                                 else f"{data.get('priority')} {data.get('from_party')} -> "
                                      f"{data.get('to_party')}: {data.get('change')}")
                        out.append({"t": t, "type": kind, "id": key, "label": label})
                    last = what
        return sorted(out, key=lambda m: m["t"])

    def entry(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.ledger.entries):
            raise InputError(f"index: no record entry {index} (the record has "
                             f"{len(self.ledger.entries)})")
        return self.ledger.entries[index].to_json()

    def receipt(self, index: int, t: float) -> dict[str, Any]:
        """Entry ``index`` with its inclusion proof under the latest head signed by ``t`` (or,
        if that head is older than the entry, the first that holds it): what the service's
        ``GET /v1/record/receipts/{index}`` gives, from the verified export."""
        entry = self.entry(index)
        holding = [h for h in self.heads if h.size > index]
        head = next((h for h in reversed(holding) if h.time <= t), holding[0])
        plan = inclusion_plan(index, head.size)
        proof = plan.rehash([self._node(n) for n in plan.node_ids], RFC9162_SHA256)
        leaf_hash = self._leaf_hashes()[index]
        return {"receipt": Receipt(index, leaf_hash, head, tuple(proof)).to_json(),
                "entry": entry}

    def _leaf_hashes(self) -> list[bytes]:
        if self._leaves is None:
            self._leaves = [RFC9162_SHA256.hash_leaf(e.leaf()) for e in self.ledger.entries]
        return self._leaves

    def _node(self, node: NodeID) -> bytes:
        """The hash of the perfect subtree ``node`` (RFC 9162), from the export's leaves."""
        leaves = self._leaf_hashes()
        if node.level == 0:
            return leaves[node.index]
        if node not in self._nodes:
            self._nodes[node] = RFC9162_SHA256.hash_children(
                self._node(NodeID(node.level - 1, 2 * node.index)),
                self._node(NodeID(node.level - 1, 2 * node.index + 1)))
        return self._nodes[node]

    def summary(self) -> str:
        r = self.recording
        return (f"recording {r.path.name}: {r.reports:,} track reports in "
                f"{len(r.batches):,} batches and {len(r.events):,} party events, "
                f"{_clock(self.t_from)} to {_clock(self.t_to)}")
