"""Constraint references through the DSS: query, read, create, update with OVN, delete.

A constraint reference marks an area a manager restricts (its details stay with that USS). Only
its manager changes or deletes it, naming its current OVN. Every write tells the subscriptions
for constraints that meet the old or new extents. A USS that processes constraints must show
their OVNs in the key of its intents' writes (``oirs``).

Need-to-know: references (no OVN but to their manager) go to any USS with a constraint scope
that asks about their area, as F3548 has it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from detente.errors import ConflictingWriteError, InputError
from detente.model.intent import Volume4D
from detente.service.dss.model import (
    Constraint,
    NotFoundError,
    PermissionDeniedError,
    Subscription,
)
from detente.service.dss.state import DssState
from detente.store.intents import Step

__all__ = ["ConstraintChange", "delete", "get", "put", "query"]


@dataclass(frozen=True, slots=True)
class ConstraintChange:
    constraint: Constraint
    subscribers: tuple[Subscription, ...]


def get(state: DssState, cr_id: str, now: float) -> Constraint:
    with state.lock:
        cr = state.live_constraint(cr_id, now)
        if cr is None:
            raise NotFoundError(f"constraint {cr_id} not found")
        return cr


def query(state: DssState, volumes: Sequence[Volume4D], now: float) -> list[Constraint]:
    state.check_area(volumes)
    with state.lock:
        return state.constraints_touching(volumes, now)


def _owned(state: DssState, manager: str, cr_id: str, ovn: str | None, now: float
           ) -> Constraint | None:
    old = state.live_constraint(cr_id, now)
    if old is None:
        if ovn is not None:
            raise NotFoundError(f"constraint {cr_id} does not exist and therefore is not "
                                f"version {ovn}")
        return None
    if old.manager != manager:
        raise PermissionDeniedError(f"constraint {cr_id} is managed by another client")
    if ovn is None:
        raise ConflictingWriteError(f"constraint {cr_id} already exists; update it with its "
                                    f"OVN")
    if ovn != old.ovn:
        raise ConflictingWriteError(f"constraint {cr_id}: OVN {ovn} is not the current one")
    return old


def put(state: DssState, manager: str, cr_id: str, ovn: str | None,
        extents: Sequence[Volume4D], uss_base_url: str, now: float) -> ConstraintChange:
    """Create (``ovn`` None) or update ``manager``'s constraint reference ``cr_id``."""
    state.check_area(extents)
    if max(v.time_end_s for v in extents) < now:
        raise InputError("extents: the end time is in the past")
    with state.lock:
        old = _owned(state, manager, cr_id, ovn, now)
        state.project(extents)  # InputError beyond the area served
        cr = Constraint(id=cr_id, manager=manager, version=1 if old is None else old.version + 1,
                        ovn=state.new_version(), uss_base_url=uss_base_url,
                        volumes=tuple(extents))
        steps: list[Step] = state.tables.constraint_steps(cr_id, {
            f: getattr(cr, f) for f in Constraint.__slots__})
        touched = list(extents) + ([] if old is None else list(old.volumes))
        notified = state.notify(touched, steps, now, constraints=True)
        state.tables.commit(steps, f"constraint {cr_id}")
        state.put_constraint_in_memory(cr)
        state.notified(notified)
        return ConstraintChange(cr, tuple(notified))


def delete(state: DssState, manager: str, cr_id: str, ovn: str, now: float
           ) -> ConstraintChange:
    with state.lock:
        old = _owned(state, manager, cr_id, ovn, now)
        if old is None:
            raise NotFoundError(f"constraint {cr_id} not found")
        steps = state.tables.constraint_steps(cr_id, None)
        notified = state.notify(old.volumes, steps, now, constraints=True)
        state.tables.commit(steps, f"constraint {cr_id}")
        state.drop_constraint_in_memory(cr_id)
        state.notified(notified)
        return ConstraintChange(old, tuple(notified))
