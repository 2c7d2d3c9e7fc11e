"""The ASTM F3548-21 rules for writing an operational intent, as pure functions.

A write (create or change) is judged against the live intents of OTHER parties that it
overlaps in 4-D (``engines.strategic``), in this order:

1. State transition. New intents start Accepted or Activated; an Activated intent never goes
   back to Accepted; a Contingent one stays Contingent; Ended ends it, from any state.
2. Prove awareness. In a nominal state (Accepted, Activated) the write must present, in its
   "key", the current version of every overlapped intent: the version is only learnt by
   reading that intent, so a write with a full key cannot claim it did not know. A missing or
   stale version refuses the write (``MissingKeyError``); the error names the intents (id and
   owner) but never their versions, and shows their volumes only where the owner's agreement
   shares them with the writer.
3. Priority. A nominal write may overlap an intent of lower priority; an equal-priority overlap
   is allowed only where the two parties' agreement says so; an Activated intent that already
   overlapped an Activated one may be changed while it still does (it cannot undo a conflict in
   flight). Anything else is refused (``PriorityConflictError``) with the reason per intent.

Off-nominal writes (Nonconforming, Contingent) and Ended skip 2 and 3: F3548 wants an aircraft
that has left its plan reported at once, not negotiated.

Agreements are not decided here: the caller passes an ``AgreementPolicy``. ``DefaultPolicy``
is the cautious one: equal priority refused, nobody's volumes shared.

Error tree (both are ``ConflictingWriteError``)::

    ConflictingWriteError
    ├── MissingKeyError          the key lacks the current version of some overlapped intent
    └── PriorityConflictError    an overlap the priority rule does not allow
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from detente.errors import ConflictingWriteError
from detente.model.intent import NOMINAL_STATES, IntentState, OperationalIntent, Volume4D

__all__ = [
    "AgreementPolicy",
    "DefaultPolicy",
    "MissedIntent",
    "MissingKeyError",
    "Overlap",
    "PriorityConflictError",
    "Refusal",
    "check_transition",
    "check_write",
]


class AgreementPolicy(Protocol):
    """What the parties' agreements decide for the strategic rules."""

    def allows_equal_priority(self, party_a: str, party_b: str) -> bool:
        """May intents of equal priority of these two parties overlap? (symmetric)"""
        ...

    def shares_volumes(self, owner: str, viewer: str) -> bool:
        """May ``viewer`` see the volumes of ``owner``'s intents?"""
        ...


@dataclass(frozen=True, slots=True)
class DefaultPolicy:
    """One answer for every pair of parties; by default the cautious one (F3548's default)."""

    equal_priority_allowed: bool = False
    volumes_shared: bool = False

    def allows_equal_priority(self, party_a: str, party_b: str) -> bool:
        return self.equal_priority_allowed

    def shares_volumes(self, owner: str, viewer: str) -> bool:
        return self.volumes_shared


@dataclass(frozen=True, slots=True)
class Overlap:
    """A live intent of another party that the candidate overlaps.

    ``volume_pairs`` holds (candidate volume index, other volume index) for every pair of
    volumes that intersect.
    """

    other: OperationalIntent
    volume_pairs: tuple[tuple[int, int], ...]


@dataclass(frozen=True, slots=True)
class MissedIntent:
    """An overlapped intent whose current version the key lacks; volumes only where shared."""

    id: str
    owner: str
    volumes: tuple[Volume4D, ...] | None


@dataclass(frozen=True, slots=True)
class Refusal:
    """An overlapped intent the priority rule does not allow, and why."""

    id: str
    owner: str
    priority: int
    reason: str


class MissingKeyError(ConflictingWriteError):
    """The write did not prove awareness of every intent it overlaps."""

    def __init__(self, intent_id: str, missed: Sequence[MissedIntent]) -> None:
        self.intent_id = intent_id
        self.missed = tuple(missed)
        listed = ", ".join(f"{m.id!r} of {m.owner}" for m in self.missed)
        super().__init__(
            f"intent {intent_id!r} overlaps {len(self.missed)} intent(s) whose current version "
            f"is not in its key: {listed}. Read them and present their versions."
        )


class PriorityConflictError(ConflictingWriteError):
    """The write would overlap intents that the priority rule protects."""

    def __init__(self, intent_id: str, refusals: Sequence[Refusal]) -> None:
        self.intent_id = intent_id
        self.refusals = tuple(refusals)
        listed = "; ".join(f"{r.id!r} of {r.owner}: {r.reason}" for r in self.refusals)
        super().__init__(f"intent {intent_id!r} may not overlap {listed}")


# F3548-21 state machine (what interuss/monitoring's mock USS accepts); None = no intent yet.
_TRANSITIONS: dict[IntentState | None, frozenset[IntentState]] = {
    None: frozenset({IntentState.ACCEPTED, IntentState.ACTIVATED}),
    IntentState.ACCEPTED: frozenset(IntentState),
    IntentState.ACTIVATED: frozenset(IntentState) - {IntentState.ACCEPTED},
    IntentState.NONCONFORMING: frozenset(
        {IntentState.NONCONFORMING, IntentState.ACTIVATED, IntentState.CONTINGENT,
         IntentState.ENDED}
    ),
    IntentState.CONTINGENT: frozenset({IntentState.CONTINGENT, IntentState.ENDED}),
    IntentState.ENDED: frozenset(),
}


def check_transition(intent_id: str, previous: IntentState | None, new: IntentState) -> None:
    """Raise ConflictingWriteError if F3548 does not allow ``previous`` -> ``new``."""
    if new not in _TRANSITIONS[previous]:
        was = "a new intent" if previous is None else f"an intent in state {previous.value}"
        allowed = ", ".join(sorted(s.value for s in _TRANSITIONS[previous])) or "none"
        raise ConflictingWriteError(
            f"intent {intent_id!r}: {was} may not go to {new.value} (allowed: {allowed})"
        )


def check_write(
    candidate: OperationalIntent,
    overlaps: Sequence[Overlap],
    key: Collection[str],
    *,
    policy: AgreementPolicy,
    previous: OperationalIntent | None = None,
    previously_overlapped: Collection[str] = (),
) -> tuple[Overlap, ...]:
    """Judge a write of ``candidate``; return the overlaps it is allowed to make.

    Parameters
    ----------
    candidate : OperationalIntent
        The intent as it would be written.
    overlaps : sequence of Overlap
        Every live intent of another party that ``candidate`` overlaps (the caller's query).
    key : collection of str
        The versions the writer presents.
    policy : AgreementPolicy
    previous : OperationalIntent, optional
        The intent as it stands, for a change; None for a creation.
    previously_overlapped : collection of str
        Ids of the intents that ``previous`` overlapped (only read when ``previous`` and the
        candidate are both Activated).

    Raises
    ------
    ConflictingWriteError
        A transition F3548 does not allow, or an overlap with an intent of the same owner.
    MissingKeyError, PriorityConflictError
        See the module docstring.
    """
    check_transition(candidate.id, None if previous is None else previous.state, candidate.state)
    for o in overlaps:
        if o.other.owner == candidate.owner or o.other.id == candidate.id:
            raise ValueError(f"overlap with {o.other.id!r} is not another party's intent")
    if candidate.state not in NOMINAL_STATES:
        return tuple(overlaps)

    held = set(key)
    missed = [
        MissedIntent(
            id=o.other.id,
            owner=o.other.owner,
            volumes=o.other.volumes
            if policy.shares_volumes(o.other.owner, candidate.owner)
            else None,
        )
        for o in overlaps
        if o.other.version is None or o.other.version not in held
    ]
    if missed:
        raise MissingKeyError(candidate.id, missed)

    in_flight = (
        previous is not None
        and previous.state is IntentState.ACTIVATED
        and candidate.state is IntentState.ACTIVATED
    )
    refusals: list[Refusal] = []
    for o in overlaps:
        other = o.other
        if candidate.priority > other.priority:
            continue
        if candidate.priority == other.priority and policy.allows_equal_priority(
            candidate.owner, other.owner
        ):
            continue
        if in_flight and other.state is IntentState.ACTIVATED and other.id in previously_overlapped:
            continue
        if candidate.priority == other.priority:
            reason = (
                f"equal priority ({other.priority}) and the agreement between "
                f"{candidate.owner} and {other.owner} does not allow equal-priority overlaps"
            )
        else:
            reason = (
                f"its priority {other.priority} is higher than {candidate.priority}; "
                f"a lower-priority intent may not overlap a higher-priority one"
            )
        refusals.append(Refusal(other.id, other.owner, other.priority, reason))
    if refusals:
        raise PriorityConflictError(candidate.id, refusals)
    return tuple(overlaps)
