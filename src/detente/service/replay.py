"""After-action review: what each party was shown at any instant of a recording.

``detente export --with-recording`` writes the recording beside a record export
(``recording_file``); ``detente replay`` reads both, checks the recording against the record
(``replay_checks``) and serves these views of it.

What a party saw at time t is recomputed with the live service's own code: the picture is
rebuilt from the reports accepted up to t (``Picture``, with the configuration's staleness and
sharing delays), and ``SharingPolicy.visible`` decides what the party may see of it, as it did
for the picture frames pushed every cycle. Alerts and hotline messages are the party's own
events up to t, the latest of each. The tree head is the record's: the latest head signed at or
before t, with the cosignatures made by then; a receipt is an entry with its inclusion proof.
"""

from __future__ import annotations

import base64
import bisect
import math
from typing import Any

import numpy as np

from detente.errors import InputError
from detente.geo.projection import LocalProjection
from detente.ledger import RFC9162_SHA256, Receipt
from detente.ledger.tree import CompactRange, inclusion_plan
from detente.service.config import config_document
from detente.service.frames import shown_tracks
from detente.service.picture import Picture
from detente.service.recording_file import (
    RECORDING_FORMAT,
    UNSIGNED_NOTE,
    LedgerExport,
    Recording,
    airspace_collection,
    ledger_binding,
    read_ledger_export,
    read_recording,
    recording_path,
    write_recording,
)
from detente.service.replay_checks import (
    check_anchors,
    check_binding,
    check_statements,
    clock_text,
)
from detente.service.sharing import SharingPolicy

# The recording's names too, for the callers that import them from here.
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
        self._nodes: dict[tuple[int, int], bytes] | None = None  # for receipts, when asked
        header = recording.header
        times = [b.received for b in self.batches] + [e.t for e in recording.events]
        t_first = min(times, default=0.0)
        t_last = max(times, default=0.0)
        self.t_from = float(header["from"]) if header.get("from") is not None else t_first
        self.t_to = float(header["to"]) if header.get("to") is not None else t_last

    # --- checks (replay_checks) ----------------------------------------------------------------

    def check_binding(self) -> None:
        """The recording must name the record export it is replayed with."""
        check_binding(self.recording, self.ledger)

    def cross_check(self) -> dict[str, int]:
        """Hold the recording's hotline traffic, alerts and track reports to the signed
        record. Raises VerificationError at the first disagreement; returns what was
        checked."""
        self.checked = (check_statements(self.recording, self.ledger, self.t_from, self.t_to)
                        | self.check_anchors())
        return self.checked

    def check_anchors(self) -> dict[str, int]:
        """Hold the recording's track reports to the digests in the record."""
        return check_anchors(self.recording, self.ledger)

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
        """The service's picture at ``t``, rebuilt from the reports it had accepted by then
        (in columns, as the service took them in)."""
        picture = Picture(self.config.settings.stale_s, self.history_s)
        k0 = int(np.searchsorted(self.received, t - self.window_s, side="left"))
        k1 = int(np.searchsorted(self.received, t, side="right"))
        for b in self.batches[k0:k1]:
            picture.accept(b.party, b.columns(), b.received)
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
        nodes = self._tree_nodes()
        proof = plan.rehash([nodes[n] for n in plan.node_ids], RFC9162_SHA256)
        return {"receipt": Receipt(index, nodes[0, index], head, tuple(proof)).to_json(),
                "entry": entry}

    def _tree_nodes(self) -> dict[tuple[int, int], bytes]:
        """Every node of the export's Merkle tree, (level, index) -> hash, from its leaves
        (the ledger's own compact range fills them in)."""
        if self._nodes is None:
            nodes: dict[tuple[int, int], bytes] = {}
            CompactRange(RFC9162_SHA256).extend(
                (RFC9162_SHA256.hash_leaf(e.leaf()) for e in self.ledger.entries), nodes)
            self._nodes = nodes
        return self._nodes

    def summary(self) -> str:
        r = self.recording
        return (f"recording {r.path.name}: {r.reports:,} track reports in "
                f"{len(r.batches):,} batches and {len(r.events):,} party events, "
                f"{clock_text(self.t_from)} to {clock_text(self.t_to)}")
