"""Alert life cycles: raw findings of each cycle in, transitions out.

An engine says, each cycle, which conflicts it sees. An alert is the mechanism's memory of one
conflict across cycles: it keeps its id while the same conflict persists, is raised once,
updated when its severity changes or its prediction moves, acknowledged by a party, and cleared
only after ``clear_after`` consecutive cycles without the conflict (hysteresis, so a conflict on
the edge of the minima does not flicker).

Severity from time to go: advisory above the warning time, warning up to it, critical at or
under the critical time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = [
    "SEVERITIES",
    "Alert",
    "AlertBook",
    "Finding",
    "Transition",
    "is_recorded",
    "severity_for",
    "turns_urgent",
]

SEVERITIES = ("advisory", "warning", "critical")


def severity_for(t_to_go_s: float, warning_s: float, critical_s: float) -> str:
    """'critical' at or under ``critical_s``, 'warning' at or under ``warning_s``, else
    'advisory' (all in seconds to go)."""
    if t_to_go_s <= critical_s:
        return "critical"
    if t_to_go_s <= warning_s:
        return "warning"
    return "advisory"


@dataclass(frozen=True)
class Finding:
    """One conflict seen in one cycle.

    key identifies the conflict across cycles (kind plus the tracks and, for an incursion, the
    airspace). t_to_go_s: time to loss of separation or to entry (s, 0 when it is happening).
    detail: kind-specific geometry (SI units), kept as given.
    """

    kind: str
    key: tuple
    parties: tuple[str, ...]
    tracks: tuple[tuple[str, str], ...]
    t_to_go_s: float
    severity: str
    point: tuple[float, float]  # lon, lat where it happens (CPA midpoint, entry point)
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    id: str
    kind: str
    key: tuple
    parties: tuple[str, ...]
    tracks: tuple[tuple[str, str], ...]
    state: str  # raised | updated | acknowledged | cleared
    severity: str
    t_to_go_s: float
    point: tuple[float, float]
    detail: dict[str, Any]
    raised_at: float
    updated_at: float
    acknowledged_by: tuple[str, ...] = ()
    quiet_cycles: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "state": self.state, "severity": self.severity,
            "parties": list(self.parties),
            "tracks": [{"party": p, "id": i} for p, i in self.tracks],
            "t_to_go_s": round(self.t_to_go_s, 1), "point": list(self.point),
            "detail": self.detail, "raised_at": self.raised_at, "updated_at": self.updated_at,
            "acknowledged_by": list(self.acknowledged_by),
        }

    def body(self) -> dict[str, Any]:
        """Every field, service-private ones included, as JSON values: what the store keeps
        of an open alert across a restart (``from_body`` reads it back)."""
        body = asdict(self)
        body["key"] = list(self.key)
        return body

    @classmethod
    def from_body(cls, b: dict[str, Any]) -> Alert:
        return cls(
            id=b["id"], kind=b["kind"],
            key=tuple(tuple(k) if isinstance(k, list) else k for k in b["key"]),
            parties=tuple(b["parties"]), tracks=tuple(tuple(t) for t in b["tracks"]),
            state=b["state"], severity=b["severity"], t_to_go_s=b["t_to_go_s"],
            point=tuple(b["point"]), detail=b["detail"], raised_at=b["raised_at"],
            updated_at=b["updated_at"], acknowledged_by=tuple(b["acknowledged_by"]),
            quiet_cycles=b["quiet_cycles"],
        )


@dataclass(frozen=True)
class Transition:
    alert: Alert
    change: str  # raised | updated | acknowledged | cleared
    previous_severity: str | None = None


_URGENT = ("warning", "critical")


def is_recorded(tr: Transition) -> bool:
    """Transitions the record must hold: an alert raised at, escalating to, or acknowledged at
    warning or critical, and the clearing of one that had been recorded."""
    if tr.change == "cleared":
        return tr.previous_severity in _URGENT
    return tr.alert.severity in _URGENT and (
        tr.change in ("raised", "acknowledged") or tr.previous_severity != tr.alert.severity
    )


def turns_urgent(tr: Transition) -> bool:
    """An alert that has just come within the warning time (raised there, or escalated)."""
    return (tr.change in ("raised", "updated") and tr.alert.severity in _URGENT
            and tr.previous_severity not in _URGENT)


class AlertBook:
    """The open alerts and their life cycle. Not thread-safe: the service calls it from one
    task.

    Parameters
    ----------
    clear_after : int
        Clean cycles before an alert clears (default 2).
    retime_s : float, s
        An alert is re-announced ("updated") when its time to go drifts this far from what the
        last announcement implied (a client counts down between announcements).
    """

    def __init__(self, clear_after: int = 2, retime_s: float = 5.0) -> None:
        self.clear_after = int(clear_after)
        self.retime_s = float(retime_s)
        self._by_key: dict[tuple, Alert] = {}
        self._by_id: dict[str, Alert] = {}

    def open_alerts(self) -> list[Alert]:
        return list(self._by_key.values())

    def get(self, alert_id: str) -> Alert | None:
        return self._by_id.get(alert_id)

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Reload open alerts after a restart (from the store)."""
        for a in alerts:
            self._by_key[a.key] = a
            self._by_id[a.id] = a

    def _put(self, a: Alert) -> Alert:
        self._by_key[a.key] = a
        self._by_id[a.id] = a
        return a

    def observe(self, findings: Iterable[Finding], now: float) -> list[Transition]:
        """Fold a partial look (fresh reports against the picture) into the book: raises and
        updates only. Absence from a partial look says nothing, so nothing clears here."""
        out: list[Transition] = []
        for f in findings:
            tr = self._fold(f, now)
            if tr is not None:
                out.append(tr)
        return out

    def _fold(self, f: Finding, now: float) -> Transition | None:
        old = self._by_key.get(f.key)
        if old is None:
            a = self._put(Alert(
                id=uuid.uuid4().hex, kind=f.kind, key=f.key, parties=f.parties,
                tracks=f.tracks, state="raised", severity=f.severity, t_to_go_s=f.t_to_go_s,
                point=f.point, detail=f.detail, raised_at=now, updated_at=now,
            ))
            return Transition(a, "raised")
        expected = max(old.t_to_go_s - (now - old.updated_at), 0.0)
        moved = abs(f.t_to_go_s - expected) > self.retime_s
        if f.severity != old.severity or moved:
            keep_ack = old.acknowledged_by and f.severity == old.severity
            a = self._put(replace(
                old, state="acknowledged" if keep_ack else "updated",
                severity=f.severity, t_to_go_s=f.t_to_go_s, point=f.point, detail=f.detail,
                updated_at=now, quiet_cycles=0,
            ))
            return Transition(a, "updated", old.severity)
        if old.quiet_cycles:
            self._put(replace(old, quiet_cycles=0))
        return None

    def cycle(self, findings: Iterable[Finding], now: float) -> list[Transition]:
        """Fold one full cycle's findings into the book; returns what changed."""
        out: list[Transition] = []
        seen: set[tuple] = set()
        for f in findings:
            seen.add(f.key)
            tr = self._fold(f, now)
            if tr is not None:
                out.append(tr)
        for key, old in list(self._by_key.items()):
            if key in seen:
                continue
            quiet = old.quiet_cycles + 1
            if quiet >= self.clear_after:
                del self._by_key[key]
                del self._by_id[old.id]
                out.append(Transition(replace(old, state="cleared", updated_at=now,
                                              quiet_cycles=quiet), "cleared", old.severity))
            else:
                self._put(replace(old, quiet_cycles=quiet))
        return out

    def acknowledge(self, alert_id: str, party: str, now: float) -> Transition | None:
        """Mark an open alert acknowledged by ``party``; None if unknown or already done."""
        old = self._by_id.get(alert_id)
        if old is None or party not in old.parties or party in old.acknowledged_by:
            return None
        # Re-aged to now, since updated_at moves: a client counts down from both.
        a = self._put(replace(old, state="acknowledged", updated_at=now,
                              t_to_go_s=max(old.t_to_go_s - (now - old.updated_at), 0.0),
                              acknowledged_by=(*old.acknowledged_by, party)))
        return Transition(a, "acknowledged", old.severity)
