"""Operational intent references through the DSS: query, read, create with key, update with
OVN, delete; the implicit subscriptions and notification indices that come with them.

The F3548 rules, on detente's intents (``service.intents``):

- a reference is a detente intent of the manager's party; the manager alone may change or
  delete it, presenting its current OVN (the intent's version; 409 when stale);
- a nominal write (Accepted, Activated) presents in its key the OVN of every relevant entity:
  every live intent whose volumes meet its extents in 4-D (exact geometry, not cells), of any
  manager or party, its own included, but itself and an Accepted one of a USS marked Down;
  and the constraints there when its subscription asks for constraints. Otherwise 409 with
  the references missing (their OVNs only to their own manager);
- beside F3548, detente's priority rule against detente's own parties' intents: a reference
  has F3548's default priority 0; it may overlap one of another party's intents of higher
  priority never, of equal priority where their agreement allows it
  (``engines.f3548.check_write``). Between references, priority is left to the USSs, as F3548
  does;
- creation is Accepted; Nonconforming and Contingent need the conformance monitoring scope;
  F3548's state machine otherwise (``engines.f3548.check_transition``);
- every write tells the subscriptions that meet the old or new extents (their notification
  index goes up by one, in the same commit) and returns them grouped by USS.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from detente.engines.f3548 import Overlap, check_transition, check_write
from detente.engines.strategic import Volumes
from detente.errors import ConflictingWriteError, GeometryError, InputError
from detente.model.intent import (
    NOMINAL_STATES,
    IntentState,
    OperationalIntent,
    Volume4D,
    unchecked,
)
from detente.service.dss.model import (
    MissingOvnsError,
    NotFoundError,
    OirMeta,
    OirRef,
    PermissionDeniedError,
    Subscription,
    UssDownError,
)
from detente.service.dss.state import DssState, Region, dump
from detente.service.intents import IntentBook
from detente.store.intents import Step

__all__ = ["Change", "OirWrite", "delete", "get", "put", "query"]

_CMSA_STATES = frozenset({IntentState.NONCONFORMING, IntentState.CONTINGENT})


@dataclass(frozen=True, slots=True)
class OirWrite:
    """A create or update request (F3548 PutOperationalIntentReferenceParameters)."""

    extents: tuple[Volume4D, ...]
    state: IntentState
    uss_base_url: str
    key: frozenset[str] = frozenset()
    subscription_id: str | None = None
    # An implicit subscription: (its uss_base_url, notify_for_constraints), or None.
    new_subscription: tuple[str, bool] | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A write that went through: the reference as it now stands and the subscriptions the
    writer must notify (with their new notification indices)."""

    ref: OirRef
    subscribers: tuple[Subscription, ...]


def query(state: DssState, volumes: Sequence[Volume4D], now: float) -> list[OirRef]:
    """Every live reference meeting ``volumes`` (detente's own parties' intents included)."""
    state.check_area(volumes)
    with state.lock:
        region, vols = state.project(volumes)
        with region.book.lock:
            region.book.expire(now)
            return [state.ref(region, it) for it in region.book.touching(vols)]


def get(state: DssState, intent_id: str, now: float) -> OirRef:
    with state.lock:
        found = state.find_intent(intent_id, now)
        if found is None:
            raise NotFoundError(f"operational intent {intent_id} not found")
        return state.ref(*found)


def _restamp(intent: OperationalIntent, version: str) -> OperationalIntent:
    return unchecked(OperationalIntent, id=intent.id, owner=intent.owner, state=intent.state,
                     priority=intent.priority, volumes=intent.volumes, version=version)


def _owned(state: DssState, manager: str, intent_id: str, ovn: str | None, now: float
           ) -> tuple[Region, OperationalIntent, OirMeta] | None:
    """The live reference ``intent_id`` that ``manager`` may change at OVN ``ovn``, or None
    when there is none (a creation)."""
    found = state.find_intent(intent_id, now)
    if found is None:
        if ovn is not None:
            raise NotFoundError(
                f"operational intent {intent_id} does not exist and therefore is not "
                f"version {ovn}")
        return None
    region, intent = found
    meta = region.book.managed.get(intent_id)
    if meta is None:
        raise PermissionDeniedError(
            f"operational intent {intent_id} belongs to {intent.owner} through detente's own "
            f"API; no USS may change it")
    if meta.manager != manager:
        raise PermissionDeniedError(
            f"operational intent {intent_id} is managed by {meta.manager}, not {manager}")
    if ovn is None:
        raise ConflictingWriteError(
            f"operational intent {intent_id} already exists; update it with its OVN")
    if ovn != intent.version:
        raise ConflictingWriteError(
            f"operational intent {intent_id}: OVN {ovn} is not the current one")
    return region, intent, meta


def put(state: DssState, manager: str, party: str, scopes: Collection[str], intent_id: str,
        ovn: str | None, w: OirWrite, now: float) -> Change:
    """Create (``ovn`` None) or update the reference ``intent_id`` of ``manager`` (a USS
    flying for ``party``)."""
    if w.state is IntentState.ENDED:
        raise InputError("state: Ended is not a state of the DSS; delete the reference")
    if w.state in _CMSA_STATES and "utm.conformance_monitoring_sa" not in scopes:
        raise PermissionDeniedError(
            f"state {w.state.value} needs the utm.conformance_monitoring_sa scope")
    if ovn is None and w.state is not IntentState.ACCEPTED:
        raise InputError(f"state: a new operational intent is Accepted, not {w.state.value}")
    if w.subscription_id is not None and w.new_subscription is not None:
        raise InputError("give subscription_id or new_subscription, not both")
    if (w.state is not IntentState.ACCEPTED and w.subscription_id is None
            and w.new_subscription is None):
        raise InputError(f"state {w.state.value} needs subscription_id or new_subscription")
    if w.new_subscription is not None and w.new_subscription[1] \
            and "utm.constraint_processing" not in scopes:
        raise PermissionDeniedError("notify_for_constraints needs utm.constraint_processing")
    state.check_area(w.extents)
    if max(v.time_end_s for v in w.extents) < now:
        raise InputError("extents: the end time is in the past")
    if (state.availability_of(manager).availability == "Down"
            and w.state in NOMINAL_STATES):
        raise UssDownError(f"{manager} is marked Down; it may not plan {w.state.value}")
    candidate = OperationalIntent(intent_id, party, w.state, 0, w.extents)
    with state.lock:
        region = state.region_for(w.extents)
        book = region.book
        try:
            vols = book.project(candidate)  # with the party's owner code, as stored
        except GeometryError as exc:
            raise InputError(f"outside the area this DSS serves: {exc}") from None
        with book.lock:
            owned = _owned(state, manager, intent_id, ovn, now)
            previous = None if owned is None else owned[1]
            old_meta = None if owned is None else owned[2]
            if owned is not None and owned[0] is not region:
                raise InputError("extents: an operational intent cannot move to another "
                                 "region of this DSS")
            try:
                check_transition(intent_id, None if previous is None else previous.state,
                                 w.state)
            except ConflictingWriteError as exc:
                raise InputError(str(exc)) from None
            steps: list[Step] = []
            attached, new_implicit = _attach(state, manager, w, previous, old_meta, steps, now)
            if w.state in NOMINAL_STATES:
                _check_key(state, region, candidate, vols, w.key, attached, now)
                _check_priority(state, book, candidate, vols, previous, w.key)
            stored = _restamp(candidate, book.new_version())
            meta = OirMeta(manager, w.uss_base_url, None if attached is None else attached.id,
                           1 if old_meta is None else old_meta.version + 1)
            steps += state.tables.oir_steps(intent_id, {
                "manager": meta.manager, "uss_base_url": meta.uss_base_url,
                "subscription_id": meta.subscription_id, "version": meta.version})
            dropped = _dropped_implicit(state, old_meta, meta, intent_id, steps, now)
            extents = list(w.extents) + ([] if previous is None else list(previous.volumes))
            notified = state.notify(extents, steps, now, also=new_implicit, leave=dropped)
            _write(book, stored, previous, vols, steps, now)
            book.managed[intent_id] = meta
            _remember(state, intent_id, old_meta, meta, new_implicit, dropped, notified)
            return Change(OirRef(stored, meta), tuple(notified))


def delete(state: DssState, manager: str, intent_id: str, ovn: str, now: float) -> Change:
    """Delete the reference ``intent_id`` of ``manager`` at OVN ``ovn``."""
    if state.availability_of(manager).availability == "Down":
        raise UssDownError(f"{manager} is marked Down; it may not delete operational intents")
    with state.lock:
        found = state.find_intent(intent_id, now)
        if found is None:
            raise NotFoundError(f"operational intent {intent_id} not found")
        region, _ = found
        book = region.book
        with book.lock:
            owned = _owned(state, manager, intent_id, ovn, now)
            assert owned is not None
            _, previous, meta = owned
            steps: list[Step] = state.tables.oir_steps(intent_id, None)
            dropped = _dropped_implicit(state, meta, None, intent_id, steps, now)
            notified = state.notify(previous.volumes, steps, now)
            ended = unchecked(OperationalIntent, id=previous.id, owner=previous.owner,
                              state=IntentState.ENDED, priority=previous.priority,
                              volumes=previous.volumes, version=book.new_version())
            book.write(ended, previous, None, also=steps)
            _remember(state, intent_id, meta, None, None, dropped, notified)
            return Change(OirRef(previous, meta), tuple(notified))


# --- the parts of a write ---------------------------------------------------------------


def _attach(state: DssState, manager: str, w: OirWrite, previous: OperationalIntent | None,
            old_meta: OirMeta | None, steps: list[Step], now: float
            ) -> tuple[Subscription | None, Subscription | None]:
    """The subscription the intent will rely on, and the implicit one made or grown for it
    (to be committed and remembered)."""
    if w.new_subscription is not None:
        url, for_constraints = w.new_subscription
        sub = Subscription(
            id=state.new_id(), manager=manager, version=state.new_version(),
            notification_index=0, uss_base_url=url, notify_for_operational_intents=True,
            notify_for_constraints=for_constraints, implicit=True,
            time_start=min(v.time_start_s for v in w.extents),
            time_end=max(v.time_end_s for v in w.extents), volumes=w.extents)
        steps += state.tables.subscription_steps(sub.id, dump(sub))
        return sub, sub
    if w.subscription_id is None:
        return None, None
    sub = state.live_sub(w.subscription_id, now)
    if sub is None:
        raise InputError(f"subscription_id: subscription {w.subscription_id} does not exist")
    if sub.manager != manager:
        raise PermissionDeniedError("subscription_id: the subscription is another client's")
    if state.covers(sub, w.extents):
        return sub, None
    if not sub.implicit:
        raise InputError("subscription_id: the subscription does not cover the operational "
                         "intent's extents (in time or on the ground)")
    grown = Subscription(
        id=sub.id, manager=sub.manager, version=state.new_version(),
        notification_index=sub.notification_index, uss_base_url=sub.uss_base_url,
        notify_for_operational_intents=sub.notify_for_operational_intents,
        notify_for_constraints=sub.notify_for_constraints, implicit=True,
        time_start=min(sub.time_start, *(v.time_start_s for v in w.extents)),
        time_end=max(sub.time_end, *(v.time_end_s for v in w.extents)),
        volumes=sub.volumes + w.extents)
    steps += state.tables.subscription_steps(grown.id, dump(grown))
    return grown, grown


def _dropped_implicit(state: DssState, old: OirMeta | None, new: OirMeta | None,
                      intent_id: str, steps: list[Step], now: float) -> str | None:
    """The implicit subscription the intent relied on and no longer does, when nothing else
    relies on it: deleted with the write."""
    if old is None or old.subscription_id is None:
        return None
    if new is not None and new.subscription_id == old.subscription_id:
        return None
    sub = state.live_sub(old.subscription_id, now)
    if sub is None or not sub.implicit:
        return None
    if [i for i in state.live_dependents(sub.id, now) if i != intent_id]:
        return None
    steps += state.tables.subscription_steps(sub.id, None)
    return sub.id


def _check_key(state: DssState, region: Region, candidate: OperationalIntent, vols: Volumes,
               key: frozenset[str], attached: Subscription | None, now: float) -> None:
    missing = []
    for other in region.book.touching(vols):
        if other.id == candidate.id or other.version in key:
            continue
        meta = region.book.managed.get(other.id)
        if (meta is not None and other.state is IntentState.ACCEPTED
                and state.availability_of(meta.manager).availability == "Down"):
            continue
        missing.append(OirRef(other, meta))
    constraints = []
    if attached is not None and attached.notify_for_constraints:
        constraints = [c for c in state.constraints_touching(candidate.volumes, now)
                       if c.ovn not in key]
    if missing or constraints:
        raise MissingOvnsError(missing, constraints)


def _check_priority(state: DssState, book: IntentBook, candidate: OperationalIntent,
                    vols: Volumes, previous: OperationalIntent | None, key: frozenset[str]
                    ) -> None:
    """detente's priority rule, against the other parties' intents made through detente's
    own API (those with no manager)."""
    native: list[Overlap] = [o for o in book.overlapping(candidate, vols)
                             if o.other.id not in book.managed]
    if not native:
        return
    before: set[str] = set()
    if previous is not None and previous.state is IntentState.ACTIVATED:
        before = {o.other.id for o in book.overlapping(previous, book.project(previous))}
    check_write(candidate, native, key, policy=state.policy, previous=previous,
                previously_overlapped=before)


def _write(book: IntentBook, stored: OperationalIntent, previous: OperationalIntent | None,
           vols: Volumes, steps: list[Step], now: float) -> None:
    """Commit; a creation under the id of an intent that is over (deleted or past its end)
    writes over its row (F3548 ids may come back)."""
    if previous is not None:
        book.write(stored, previous, vols, also=steps)
        return
    try:
        book.write(stored, None, vols, also=steps)
    except ConflictingWriteError:
        book.write(stored, None, vols, also=steps, reuse_at=now)


def _remember(state: DssState, intent_id: str, old: OirMeta | None, new: OirMeta | None,
              implicit: Subscription | None, dropped: str | None,
              notified: Sequence[Subscription]) -> None:
    """Bring the subscriptions in memory to what was just committed."""
    if dropped is not None:
        state.drop_sub_in_memory(dropped)
    if implicit is not None:
        state.put_sub_in_memory(implicit)
    if old is not None and old.subscription_id is not None:
        state.dependents.get(old.subscription_id, set()).discard(intent_id)
    if new is not None and new.subscription_id is not None:
        state.dependents.setdefault(new.subscription_id, set()).add(intent_id)
    state.notified(notified)
