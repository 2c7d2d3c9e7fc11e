"""The checks of a replay: what can be held of an unsigned recording to its signed record.

The record export is audited when it is read (``recording_file.read_ledger_export``); then
the recording must name that very record (origin, log key, size, root: ``check_binding``);
its hotline messages and acknowledgements must be the signed statements of the record, word
for word and author for author, and every alert the record holds must be in the recording
for each party it went to (``check_statements``); its track reports must hash to the digests
the service said in the record every few seconds as it recorded them (``check_anchors``,
``detente.store.report_digest``). Reports after the last anchor, and the other events, have
no signature behind them. Each check raises VerificationError at the first disagreement.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import time
from typing import Any

import numpy as np

from detente.errors import InputError, VerificationError
from detente.geo.projection import LocalProjection
from detente.ledger.keys import b64decode_strict, key_id
from detente.service.recording_file import Batch, LedgerExport, Recording, finite_number
from detente.service.sharing import SharingPolicy
from detente.store.report_digest import ANCHOR_KIND, Anchor, rows_bytes

__all__ = ["check_anchors", "check_binding", "check_statements", "clock_text"]

_SERVICE = "detente"  # the service's author name in the record


def check_binding(recording: Recording, ledger: LedgerExport) -> None:
    """The recording must name the record export it is replayed with."""
    b = recording.header.get("ledger") or {}
    rep = ledger.report
    got = {"origin": rep.origin, "log key": key_id(ledger.log_key),
           "size": rep.entries, "root": rep.root.hex()}
    try:
        want = {"origin": b.get("origin"),
                "log key": key_id(b64decode_strict(str(b.get("log_key")), "log_key")),
                "size": b.get("size"), "root": b.get("root")}
    except (InputError, VerificationError):
        want = {"log key": None}
    if rep.origin != f"detente/{recording.config.region_name}":
        raise VerificationError(
            f"the recording's configuration is of region {recording.config.region_name!r}, the "
            f"record of log {rep.origin!r}: not the configuration the service ran")
    bad = [k for k in got if got[k] != want.get(k)]
    if bad:
        raise VerificationError(
            f"the recording {recording.path.name} is not of this record export "
            f"({', '.join(bad)} differ: the recording names "
            f"{', '.join(f'{k} {want.get(k)}' for k in bad)}; the export has "
            f"{', '.join(f'{k} {got[k]}' for k in bad)})")


def check_statements(recording: Recording, ledger: LedgerExport, t_from: float, t_to: float
                     ) -> dict[str, int]:
    """Hold the recording's hotline traffic and alerts to the signed record: every message
    word for word and author for author, every acknowledgement, and every alert the record
    holds between ``t_from`` and ``t_to`` told to each party the agreements let it reach.
    Raises VerificationError at the first disagreement; returns what was checked."""
    entries = ledger.entries
    sharing = SharingPolicy(recording.config, LocalProjection(*recording.config.centre))
    acks = {}
    for index, e in enumerate(entries):
        if e.statement.kind == "hotline.ack":
            acks[e.statement.body.get("message_id"), e.statement.ref] = (index, e)
    messages: dict[str, dict[str, Any]] = {}
    for ev in recording.events:
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
    told = {(ev.party, ev.data.get("id")) for ev in recording.events
            if ev.type == "alert"}
    for index, e in enumerate(entries):
        st = e.statement
        if st.kind != "alert" or st.author != _SERVICE:
            continue
        # Its events came no later than it was signed: those of an alert signed by t_to
        # are in the recording (by t_from, as the latest of each).
        if not t_from <= st.time <= t_to:
            continue
        for party in st.body.get("parties", []):
            if not _told_of_alerts(sharing, party, st.body.get("parties", [])):
                continue
            if (party, st.body.get("id")) not in told:
                raise VerificationError(
                    f"record entry {index} is alert {st.body.get('id')} for "
                    f"{', '.join(st.body.get('parties', []))}, but the recording never "
                    f"tells {party} of it")
        checked["alerts"] += 1
    return checked


def check_anchors(recording: Recording, ledger: LedgerExport) -> dict[str, int]:
    """Hold the recording's track reports to the digests the service said in the record
    (``recording.anchor`` statements): every anchored run of reports the recording holds
    must be whole and hash to its digest. A run that the recording's report span cuts
    (its start, or retention, or the export's window) is not checkable; one wholly inside
    the span must be there. Raises VerificationError; returns what was checked."""
    runs = sorted(((b.first_row, b) for b in recording.batches if b.first_row is not None),
                  key=lambda run: run[0])
    starts = [first for first, _ in runs]
    for (f0, b0), (f1, _) in itertools.pairwise(runs):
        if f0 + len(b0) > f1:
            raise VerificationError(f"the recording holds report row {f1} twice")
    header = recording.header
    where = f"{recording.path}, line 1"
    lo, hi = header.get("reports_from"), header.get("reports_to")
    lo = -math.inf if lo is None else finite_number(lo, f"{where}: reports_from")
    hi = math.inf if hi is None else finite_number(hi, f"{where}: reports_to")
    # The span tells an anchor the recording cuts from one it thins: a report outside it
    # means the line was moved to pass a thinned anchor off as a cut one.
    outside = [b for b in recording.batches if not lo <= b.received <= hi]
    if outside:
        raise VerificationError(
            f"the recording holds reports received at {clock_text(outside[0].received)}, "
            "outside the span its first line states (reports_from "
            f"{header.get('reports_from')}, reports_to {header.get('reports_to')})")
    checked = {"anchors": 0, "anchored_reports": 0, "unchecked_anchors": 0}
    for index, e in enumerate(ledger.entries):
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
                f"{clock_text(anchor.received_from)} to {clock_text(anchor.received_to)})")
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


def _told_of_alerts(sharing: SharingPolicy, viewer: str, parties: list[str]) -> bool:
    for other in parties:
        if other != viewer:
            share = sharing.share(other, viewer)
            if share is None or not share.alerts:
                return False
    return True


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


def clock_text(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
