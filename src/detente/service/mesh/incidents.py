"""Link incidents: what a node tells its own party about its links, as alerts of kind "link".

One open incident per peer and problem, raised once, updated when it changes, cleared when it
is over, acknowledged by the party like any alert:

- ``silent``: nothing from the peer's node for longer than the agreement allows;
- ``clock``: the two nodes' clocks differ by more than the agreement's tolerance;
- ``refused``: the peer's node sent frames this node refused (forged, replayed, out of order,
  out of agreement); kept as evidence; over when none came for ``REFUSED_QUIET_S``;
- ``split-view``: the peer's log showed two histories (both signed heads kept).

An incident has the shape of an alert (``Alert.as_dict``) with no aircraft and no point; its
``detail`` says the peer, the problem and what happened in words. The state machine owns no
clock and no storage: the node publishes and records what it returns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["REFUSED_QUIET_S", "Incident", "Incidents"]

REFUSED_QUIET_S = 60.0


@dataclass(frozen=True)
class Incident:
    id: str
    party: str
    peer: str
    problem: str
    severity: str
    state: str  # raised | updated | acknowledged | cleared
    text: str
    raised_at: float
    updated_at: float
    detail: dict[str, Any] = field(default_factory=dict)
    acknowledged_by: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": "link", "state": self.state, "severity": self.severity,
            "parties": [self.party], "tracks": [], "t_to_go_s": 0.0, "point": None,
            "detail": {"peer": self.peer, "problem": self.problem, "text": self.text,
                       **self.detail},
            "raised_at": self.raised_at, "updated_at": self.updated_at,
            "acknowledged_by": list(self.acknowledged_by),
        }


class Incidents:
    """The open incidents of one node's party. Not thread-safe: the node's event loop."""

    def __init__(self, party: str) -> None:
        self.party = party
        self._open: dict[tuple[str, str], Incident] = {}

    def open(self) -> list[Incident]:
        return list(self._open.values())

    def get(self, incident_id: str) -> Incident | None:
        return next((i for i in self._open.values() if i.id == incident_id), None)

    def find(self, peer: str, problem: str) -> Incident | None:
        return self._open.get((peer, problem))

    def raise_(self, peer: str, problem: str, severity: str, text: str, now: float,
               detail: dict[str, Any] | None = None) -> Incident | None:
        """Open (or update) the incident; returns it when it is new or changed."""
        old = self._open.get((peer, problem))
        detail = dict(detail or {})
        if old is None:
            new = Incident(uuid.uuid4().hex, self.party, peer, problem, severity, "raised",
                           text, now, now, detail)
        elif (old.severity, old.text, old.detail) == (severity, text, detail):
            return None
        else:
            new = replace(old, severity=severity, text=text, detail=detail, updated_at=now,
                          state="acknowledged" if old.acknowledged_by and
                          old.severity == severity else "updated")
        self._open[(peer, problem)] = new
        return new

    def clear(self, peer: str, problem: str, now: float, text: str | None = None
              ) -> Incident | None:
        old = self._open.pop((peer, problem), None)
        if old is None:
            return None
        return replace(old, state="cleared", updated_at=now, text=text or old.text)

    def acknowledge(self, incident_id: str, party: str, now: float) -> Incident | None:
        for key, i in self._open.items():
            if i.id == incident_id and party not in i.acknowledged_by:
                new = replace(i, state="acknowledged", updated_at=now,
                              acknowledged_by=(*i.acknowledged_by, party))
                self._open[key] = new
                return new
        return None
