"""What the DSS keeps beside detente's intents, and the errors it answers with.

An operational intent reference IS a detente intent (``model.intent.OperationalIntent``: the
extents are its volumes, the OVN its version, the manager's party its owner); ``OirMeta`` holds
what F3548 adds. Subscriptions, constraint references and USS availability are the DSS's own.

Error tree (the DSS interface maps each to the status F3548 gives it)::

    DetenteError
    ├── InputError
    │   └── AreaTooLargeError        a polygon or circle beyond the area limit (400, 413 on queries)
    ├── ConflictingWriteError        a stale version or OVN (409)
    │   └── MissingOvnsError         the key lacks current OVNs (409 with the references)
    ├── NotFoundError                no such entity (404)
    ├── PermissionDeniedError        another manager's entity, a state the scopes forbid (403)
    └── UssDownError                 the manager is marked Down (412)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from detente.errors import ConflictingWriteError, DetenteError, InputError
from detente.model.intent import OperationalIntent, Volume4D

__all__ = [
    "AVAILABILITY_STATES",
    "AreaTooLargeError",
    "Availability",
    "Constraint",
    "MissingOvnsError",
    "NotFoundError",
    "OirMeta",
    "OirRef",
    "PermissionDeniedError",
    "Subscription",
    "UssDownError",
]

AVAILABILITY_STATES = ("Unknown", "Normal", "Down")


class AreaTooLargeError(InputError):
    """A footprint larger than the DSS accepts."""


class NotFoundError(DetenteError):
    """No such entity (or not live any more)."""


class PermissionDeniedError(DetenteError):
    """Authenticated, but this entity or this state is not the caller's to touch."""


class UssDownError(DetenteError):
    """The manager is marked Down by availability arbitration."""


@dataclass(frozen=True, slots=True)
class OirMeta:
    """What F3548 adds to a detente intent managed through the DSS."""

    manager: str
    uss_base_url: str
    subscription_id: str | None
    version: int  # F3548's numeric version: 1 at creation, +1 per change


@dataclass(frozen=True, slots=True)
class OirRef:
    """An operational intent reference as the DSS shows it: the intent and, for one managed
    through the DSS, its meta (None: one of detente's own parties' intents)."""

    intent: OperationalIntent
    meta: OirMeta | None


class MissingOvnsError(ConflictingWriteError):
    """A nominal write whose key lacks the current OVN of some relevant entities."""

    def __init__(self, missing: Sequence[OirRef], constraints: Sequence[Constraint] = ()
                 ) -> None:
        self.missing = tuple(missing)
        self.constraints = tuple(constraints)
        super().__init__(
            "Current OVNs not provided for one or more operational intents or constraints: "
            + ", ".join([r.intent.id for r in self.missing] + [c.id for c in self.constraints]))


@dataclass(frozen=True, slots=True)
class Subscription:
    """A manager's standing interest in an area: it is told (through ``notification_index``
    and the writers' notifications) of changes there.

    ``volumes`` is empty for a subscription without a footprint (it matches nothing);
    ``time_start``/``time_end`` (s, UTC epoch) bound it whatever its volumes say.
    """

    id: str
    manager: str
    version: str
    notification_index: int
    uss_base_url: str
    notify_for_operational_intents: bool
    notify_for_constraints: bool
    implicit: bool
    time_start: float
    time_end: float
    volumes: tuple[Volume4D, ...]

    def notified(self) -> Subscription:
        return replace(self, notification_index=self.notification_index + 1)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A constraint reference: an area a manager restricts, its details with the manager."""

    id: str
    manager: str
    version: int
    ovn: str
    uss_base_url: str
    volumes: tuple[Volume4D, ...]

    @property
    def time_start(self) -> float:
        return min(v.time_start_s for v in self.volumes)

    @property
    def time_end(self) -> float:
        return max(v.time_end_s for v in self.volumes)


@dataclass(frozen=True, slots=True)
class Availability:
    uss: str
    availability: str  # one of AVAILABILITY_STATES
    version: str  # "" until first set
