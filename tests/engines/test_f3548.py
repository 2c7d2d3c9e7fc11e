"""F3548 write rules: prove awareness, priority, agreements, state transitions."""

from __future__ import annotations

import pytest

from detente.engines.f3548 import (
    DefaultPolicy,
    MissingKeyError,
    Overlap,
    PriorityConflictError,
    check_transition,
    check_write,
)
from detente.errors import ConflictingWriteError
from detente.model.intent import IntentState, OperationalIntent, Polygon, Volume4D

T0 = 1_795_000_000.0
SQ = Polygon((40.0, 40.0, 40.01, 40.01), (30.0, 30.01, 30.01, 30.0))
V = Volume4D(SQ, 0.0, 120.0, T0, T0 + 600.0)


def it(ident, owner, priority=0, state="Accepted", version=None) -> OperationalIntent:
    return OperationalIntent(ident, owner, state, priority, (V,), version)


def over(other) -> Overlap:
    return Overlap(other, ((0, 0),))


class Policy:
    """An agreement between TR and RU only: equal priority allowed, RU shares volumes with TR."""

    def allows_equal_priority(self, a, b):
        return {a, b} == {"TR", "RU"}

    def shares_volumes(self, owner, viewer):
        return (owner, viewer) == ("RU", "TR")


def test_full_key_and_higher_priority_passes_and_returns_the_overlaps():
    others = [over(it("r1", "RU", 1, version="v1")), over(it("u1", "US", 0, version="v9"))]
    allowed = check_write(it("t1", "TR", 2), others, {"v1", "v9"}, policy=DefaultPolicy())
    assert allowed == tuple(others)


def test_missing_key_names_intent_and_owner_but_no_version_or_volumes():
    ru = it("r1", "RU", 0, version="secret-ru-version")
    us = it("u1", "US", 0, version="secret-us-version")
    with pytest.raises(MissingKeyError) as err:
        check_write(it("t1", "TR", 9), [over(ru), over(us)], {"secret-ru-version"},
                    policy=DefaultPolicy())
    assert [(m.id, m.owner, m.volumes) for m in err.value.missed] == [("u1", "US", None)]
    text = str(err.value)
    assert "'u1' of US" in text and "r1" not in text and "secret" not in text


def test_stale_key_is_a_missing_key():
    with pytest.raises(MissingKeyError, match="'r1' of RU"):
        check_write(it("t1", "TR", 9), [over(it("r1", "RU", version="v2"))], {"v1"},
                    policy=DefaultPolicy())


def test_missed_volumes_are_shown_only_where_the_agreement_shares_them():
    ru, us = it("r1", "RU", version="a"), it("u1", "US", version="b")
    with pytest.raises(MissingKeyError) as err:
        check_write(it("t1", "TR", 9), [over(ru), over(us)], (), policy=Policy())
    assert {m.id: m.volumes for m in err.value.missed} == {"r1": (V,), "u1": None}


def test_key_is_checked_before_priority():
    # A lower-priority write without the key learns nothing about the other's priority.
    with pytest.raises(MissingKeyError):
        check_write(it("t1", "TR", 0), [over(it("r1", "RU", 5, version="a"))], (),
                    policy=DefaultPolicy())


def test_lower_priority_is_refused_with_the_reason():
    with pytest.raises(PriorityConflictError) as err:
        check_write(it("t1", "TR", 1), [over(it("r1", "RU", 5, version="a"))], {"a"},
                    policy=DefaultPolicy())
    (r,) = err.value.refusals
    assert (r.id, r.owner, r.priority) == ("r1", "RU", 5)
    assert "priority 5 is higher than 1" in str(err.value)


@pytest.mark.parametrize(("other_owner", "allowed"), [("RU", True), ("US", False)])
def test_equal_priority_per_agreement(other_owner, allowed):
    other = it("o1", other_owner, 3, version="a")
    if allowed:
        assert check_write(it("t1", "TR", 3), [over(other)], {"a"}, policy=Policy())
    else:
        with pytest.raises(PriorityConflictError, match=r"equal priority \(3\) and the agreement "
                           "between TR and US does not allow"):
            check_write(it("t1", "TR", 3), [over(other)], {"a"}, policy=Policy())


def test_default_policy_refuses_equal_priority_and_can_allow_it():
    other = [over(it("r1", "RU", 3, version="a"))]
    with pytest.raises(PriorityConflictError):
        check_write(it("t1", "TR", 3), other, {"a"}, policy=DefaultPolicy())
    assert check_write(it("t1", "TR", 3), other, {"a"},
                       policy=DefaultPolicy(equal_priority_allowed=True))


@pytest.mark.parametrize("state", ["Nonconforming", "Contingent"])
def test_off_nominal_writes_need_neither_key_nor_priority(state):
    prev = it("t1", "TR", 0, "Activated", version="p")
    other = [over(it("r1", "RU", 9, "Activated", version="a"))]
    assert check_write(it("t1", "TR", 0, state), other, (), policy=DefaultPolicy(),
                       previous=prev) == tuple(other)


def test_activated_change_keeps_a_conflict_that_was_already_in_flight():
    prev = it("t1", "TR", 0, "Activated", version="p")
    other = it("r1", "RU", 9, "Activated", version="a")
    cand = it("t1", "TR", 0, "Activated")
    assert check_write(cand, [over(other)], {"a"}, policy=DefaultPolicy(), previous=prev,
                       previously_overlapped={"r1"})
    with pytest.raises(PriorityConflictError):  # a new conflict is still refused
        check_write(cand, [over(other)], {"a"}, policy=DefaultPolicy(), previous=prev)
    with pytest.raises(PriorityConflictError):  # the other is only Accepted: no exception
        check_write(cand, [over(it("r1", "RU", 9, version="a"))], {"a"},
                    policy=DefaultPolicy(), previous=prev, previously_overlapped={"r1"})


@pytest.mark.parametrize(
    ("previous", "new", "ok"),
    [
        (None, "Accepted", True),
        (None, "Activated", True),
        (None, "Nonconforming", False),
        (None, "Ended", False),
        ("Accepted", "Contingent", True),
        ("Activated", "Accepted", False),
        ("Nonconforming", "Activated", True),
        ("Contingent", "Activated", False),
        ("Contingent", "Ended", True),
        ("Ended", "Accepted", False),
    ],
)
def test_transitions(previous, new, ok):
    prev = None if previous is None else IntentState(previous)
    if ok:
        check_transition("x", prev, IntentState(new))
    else:
        with pytest.raises(ConflictingWriteError, match=f"may not go to {new}"):
            check_transition("x", prev, IntentState(new))
