"""Subscriptions through the DSS: create, update with version, read, query, delete.

F3548's rules: a subscription asks for notifications of operational intents, of constraints,
or both (the first needs the strategic coordination scope, the second constraint processing);
it lasts at most ``max_subscription_s`` (24 h); it starts now unless told otherwise (not more
than 5 minutes in the past) and ends 24 h after its start unless told. Only its manager reads,
changes or deletes it; a change or deletion names its current version; one that intents rely
on must keep covering them and may not be deleted. Creating or changing one answers with the
intents (and constraints) already in its area, their OVNs only to their own manager.

Need-to-know: a manager sees its own subscriptions only. Other managers learn of one solely as
a subscriber they must notify when they change the airspace it covers (F3548's obligation).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from detente.errors import ConflictingWriteError, InputError
from detente.model.intent import ALTITUDE_RANGE_M, Footprint, Volume4D
from detente.service.dss.model import (
    Constraint,
    NotFoundError,
    OirRef,
    PermissionDeniedError,
    Subscription,
)
from detente.service.dss.state import DssState, dump

__all__ = ["SubWrite", "delete", "get", "put", "query"]

# F3548 (and the InterUSS DSS) tolerate a start this far in the past: clocks differ.
_MAX_CLOCK_SKEW_S = 300.0


@dataclass(frozen=True, slots=True)
class SubWrite:
    """A create or update request (F3548 PutSubscriptionParameters); None where not given."""

    footprint: Footprint | None
    altitude: tuple[float, float] | None
    time_start: float | None
    time_end: float | None
    uss_base_url: str
    notify_for_operational_intents: bool = False
    notify_for_constraints: bool = False


@dataclass(frozen=True, slots=True)
class SubChange:
    """A subscription as written, and what is already in its area."""

    subscription: Subscription
    dependents: tuple[str, ...]
    intents: tuple[OirRef, ...] | None  # None: not asked for
    constraints: tuple[Constraint, ...] | None


def _owned(state: DssState, manager: str, sub_id: str, now: float) -> Subscription:
    sub = state.live_sub(sub_id, now)
    if sub is None:
        raise NotFoundError(f"subscription {sub_id} not found")
    if sub.manager != manager:
        raise PermissionDeniedError(f"subscription {sub_id} is owned by a different client")
    return sub


def get(state: DssState, manager: str, sub_id: str, now: float
        ) -> tuple[Subscription, tuple[str, ...]]:
    """``manager``'s subscription and the intents relying on it."""
    with state.lock:
        sub = _owned(state, manager, sub_id, now)
        return sub, tuple(state.live_dependents(sub_id, now))


def query(state: DssState, manager: str, volumes: Sequence[Volume4D], now: float
          ) -> list[tuple[Subscription, tuple[str, ...]]]:
    """``manager``'s live subscriptions meeting ``volumes``, with their dependents."""
    state.check_area(volumes)
    with state.lock:
        return [(s, tuple(state.live_dependents(s.id, now)))
                for s in state.subs_touching(volumes, now) if s.manager == manager]


def put(state: DssState, manager: str, scopes: Collection[str], sub_id: str,
        version: str | None, w: SubWrite, now: float) -> SubChange:
    """Create (``version`` None) or update ``manager``'s subscription ``sub_id``."""
    if not w.notify_for_operational_intents and not w.notify_for_constraints:
        raise InputError("no notification requested: set notify_for_operational_intents, "
                         "notify_for_constraints or both")
    if w.notify_for_operational_intents and "utm.strategic_coordination" not in scopes:
        raise PermissionDeniedError(
            "notify_for_operational_intents needs the utm.strategic_coordination scope")
    if w.notify_for_constraints and "utm.constraint_processing" not in scopes:
        raise PermissionDeniedError(
            "notify_for_constraints needs the utm.constraint_processing scope")
    longest = state.settings.max_subscription_s
    with state.lock:
        old = state.live_sub(sub_id, now)
        if old is None and version is not None:
            raise NotFoundError(f"subscription {sub_id} not found")
        if old is not None:
            if version is None:
                raise ConflictingWriteError(f"subscription {sub_id} already exists")
            if version != old.version:
                raise ConflictingWriteError(
                    f"subscription {sub_id}: version {version} is not the current one")
            if old.manager != manager:
                raise PermissionDeniedError(
                    f"subscription {sub_id} is owned by a different client")
        start = w.time_start
        if start is None:
            start = now if old is None else old.time_start
        elif now - start > _MAX_CLOCK_SKEW_S:
            raise InputError("extents.time_start: a subscription may not start in the past")
        end = w.time_end
        if end is None:
            end = old.time_end if old is not None else start + longest
        if end <= start:
            raise InputError("extents.time_end: not after time_start")
        if end - start > longest:
            raise InputError(f"extents: the subscription lasts {(end - start) / 3600:.2f} h, "
                             f"longer than the {longest / 3600:g} h allowed")
        if end < now:
            raise InputError("extents.time_end: in the past")
        volumes: tuple[Volume4D, ...] = ()
        if w.footprint is not None:
            low, high = w.altitude or ALTITUDE_RANGE_M
            volumes = (Volume4D(w.footprint, low, high, start, end),)
            state.check_area(volumes)
            state.project(volumes)  # InputError beyond the area served
        sub = Subscription(
            id=sub_id, manager=manager, version=state.new_version(),
            notification_index=0 if old is None else old.notification_index,
            uss_base_url=w.uss_base_url,
            notify_for_operational_intents=w.notify_for_operational_intents,
            notify_for_constraints=w.notify_for_constraints,
            implicit=False if old is None else old.implicit,
            time_start=start, time_end=end, volumes=volumes)
        dependents = tuple(state.live_dependents(sub_id, now))
        for intent_id in dependents:
            found = state.find_intent(intent_id, now)
            assert found is not None
            if not state.covers(sub, found[1].volumes):
                raise InputError(f"the subscription would no longer cover operational "
                                 f"intent {intent_id}, which relies on it")
        state.tables.commit(state.tables.subscription_steps(sub_id, dump(sub)),
                            f"subscription {sub_id}")
        state.put_sub_in_memory(sub)
        intents = constraints = None
        if volumes and sub.notify_for_operational_intents:
            region, vols = state.project(volumes)
            with region.book.lock:
                region.book.expire(now)
                intents = tuple(state.ref(region, it) for it in region.book.touching(vols))
        elif sub.notify_for_operational_intents:
            intents = ()
        if sub.notify_for_constraints:
            constraints = tuple(state.constraints_touching(volumes, now)) if volumes else ()
        return SubChange(sub, dependents, intents, constraints)


def delete(state: DssState, manager: str, sub_id: str, version: str, now: float
           ) -> Subscription:
    """Delete ``manager``'s subscription ``sub_id`` at ``version``."""
    with state.lock:
        sub = _owned(state, manager, sub_id, now)
        if version != sub.version:
            raise ConflictingWriteError(
                f"subscription {sub_id}: version {version} is not the current one")
        if state.live_dependents(sub_id, now):
            raise InputError(f"subscription {sub_id}: operational intents rely on it; "
                             f"it may not be removed")
        state.tables.commit(state.tables.subscription_steps(sub_id, None),
                            f"subscription {sub_id}")
        state.drop_sub_in_memory(sub_id)
        return sub
