"""The hotline state machine in virtual time."""

import pytest

from detente.errors import ConflictingWriteError, InputError
from detente.service.config import parse_config
from detente.service.hotline import Hotline

KEY = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="


def party(pid):
    return {"id": pid, "public_keys": [KEY], "officials": [
        {"id": f"{pid}-{n}", "name": f"{pid} level {n}", "role": "military", "level": n,
         "public_key": KEY} for n in (1, 2, 3)]}


@pytest.fixture
def hotline():
    return Hotline(parse_config({
        "region": {"centre": [36, 36]},
        "parties": [party("T"), party("R"), party("C")],
        "agreements": [{"parties": ["T", "R"], "hotline": {"flash_s": 60, "urgent_s": 300}}],
    }))


def send(h, now=0.0, **kw):
    args = dict(from_party="T", from_official="T-1", to_party="R", to_official=None,
                priority="flash", body="You are approaching our airspace. Turn south.",
                alert_id=None, now=now)
    args.update(kw)
    return h.send(**args)[0]


def test_unanswered_flash_climbs_both_ladders(hotline):
    m = send(hotline)
    assert (m.deadline, m.level, m.sender_level) == (60.0, 1, 1)
    assert hotline.due(59.9) == []
    (step,) = hotline.due(60.0)
    assert step.change == "escalated"
    assert (step.message.level, step.message.sender_level, step.message.deadline) == (2, 2, 120)
    assert hotline.due(119) == []
    (step,) = hotline.due(120.5)
    assert (step.message.level, step.message.sender_level) == (3, 3)
    (step,) = hotline.due(180)
    assert step.change == "overdue" and step.message.deadline is None
    assert hotline.due(10_000) == []
    # Escalated to level 3: the head of government may answer, and the watch officer still can.
    assert hotline.addressed_to(step.message, "R-3") and hotline.addressed_to(step.message, "R-1")
    assert not hotline.addressed_to(step.message, "T-1")


def test_answered_never_escalates(hotline):
    m = send(hotline)
    acked = hotline.acknowledge(m.id, "R", "R-1", "Understood, turning south.", now=30)
    assert (acked.state, acked.ack_by, acked.deadline) == ("acknowledged", "R-1", None)
    assert hotline.due(1_000) == []
    with pytest.raises(ConflictingWriteError, match="already acknowledged by R-1"):
        hotline.acknowledge(m.id, "R", "R-2", None, now=31)


def test_level_two_cannot_answer_before_escalation_when_a_watch_officer_is_named(hotline):
    m = send(hotline, to_official="R-1")
    with pytest.raises(ConflictingWriteError, match="not addressed to R-2"):
        hotline.acknowledge(m.id, "R", "R-2", None, now=1)
    (step,) = hotline.due(60)
    assert hotline.addressed_to(step.message, "R-2")
    assert hotline.acknowledge(m.id, "R", "R-2", None, now=61).ack_by == "R-2"


def test_routine_has_no_deadline_and_urgent_uses_the_agreement(hotline):
    assert send(hotline, priority="routine").deadline is None
    assert send(hotline, priority="urgent", now=10).deadline == 310
    # Without an agreement the defaults hold: flash 60 s.
    assert send(hotline, to_party="C", now=0).deadline == 60


@pytest.mark.parametrize(
    ("kw", "error", "words"),
    [
        ({"to_party": "X"}, InputError, "unknown party"),
        ({"body": "x" * 4001}, InputError, "4001 characters"),
        ({"body": "  "}, InputError, "empty"),
        ({"priority": "high"}, InputError, "routine, urgent, flash"),
        ({"to_official": "T-2"}, InputError, "not an official of R"),
        ({"from_official": "R-1"}, InputError, "not an official of T"),
        ({"from_official": None}, InputError, "only an official"),
    ],
)
def test_bad_messages_are_refused_and_nothing_is_kept(hotline, kw, error, words):
    with pytest.raises(error, match=words):
        send(hotline, **kw)
    assert hotline.messages_for("T") == []


def test_bad_acknowledgements(hotline):
    m = send(hotline)
    with pytest.raises(ConflictingWriteError, match="not addressed to T-1"):
        hotline.acknowledge(m.id, "T", "T-1", None, now=1)  # the sender's own side
    with pytest.raises(InputError, match="not an official of R"):
        hotline.acknowledge(m.id, "R", "T-1", None, now=1)  # an official of another party
    with pytest.raises(InputError, match="only an official"):
        hotline.acknowledge(m.id, "R", None, None, now=1)
    with pytest.raises(InputError, match="no hotline message"):
        hotline.acknowledge("nope", "R", "R-1", None, now=1)


def test_idempotent_ids(hotline):
    a = send(hotline, message_id="m-1")
    again, new = hotline.send(from_party="T", from_official="T-1", to_party="R",
                              to_official=None, priority="flash", body=a.body, alert_id=None,
                              now=5, message_id="m-1")
    assert not new and again == a
    with pytest.raises(ConflictingWriteError, match="different content"):
        send(hotline, message_id="m-1", body="something else")


def test_prune_forgets_closed_messages_only_and_escalation_goes_on(hotline):
    acked = send(hotline, now=0.0)
    hotline.acknowledge(acked.id, "R", "R-1", None, now=10)
    routine = send(hotline, now=0.0, priority="routine")
    overdue = send(hotline, now=0.0)
    for t in (60.0, 120.0, 180.0):
        hotline.due(t)
    waiting = send(hotline, now=150.0)  # deadline at 210
    fresh_routine = send(hotline, now=190.0, priority="routine")
    assert hotline.get(overdue.id).state == "overdue"
    assert hotline.prune(before=190.0) == 3  # acked, routine, overdue: sent before 190
    assert [hotline.get(m.id) is not None for m in (acked, routine, overdue)] == [False] * 3
    assert hotline.get(waiting.id) is not None and hotline.get(fresh_routine.id) is not None
    (step,) = hotline.due(210.0)
    assert step.message.id == waiting.id and step.change == "escalated"


def test_an_alert_that_clears_overtakes_the_messages_awaiting_an_acknowledgement(hotline):
    flash = send(hotline, alert_id="al", now=0.0)
    escalated = send(hotline, alert_id="al", priority="urgent", now=0.0)
    overdue = send(hotline, alert_id="al", now=0.0)
    acked = send(hotline, alert_id="al", now=0.0)
    routine = send(hotline, alert_id="al", priority="routine", now=0.0)
    other = send(hotline, alert_id="other", now=0.0)
    hotline.acknowledge(acked.id, "R", "R-1", None, now=10.0)
    for t in (60.0, 120.0, 180.0):  # the flashes climb to the top and go overdue
        hotline.due(t)
    assert hotline.get(overdue.id).state == "overdue"
    # The urgent one (300 s deadlines) has not escalated yet: send it on once by hand.
    assert hotline.due(300.0)[0].message.id == escalated.id
    steps = hotline.overtake("al", now=310.0)
    changed = {st.message.id for st in steps}
    # The two unanswered flashes are overdue by 180 s; the urgent one escalated.
    assert changed == {flash.id, escalated.id, overdue.id}
    for st in steps:
        m = hotline.get(st.message.id)
        assert (st.change, m.state, m.deadline, m.overtaken_at) == (
            "overtaken", "overtaken", None, 310.0)
    assert hotline.get(acked.id).state == "acknowledged"
    assert hotline.get(routine.id).state == "sent"  # nothing was due: nothing to overtake
    assert hotline.get(other.id).state == "overdue"  # another alert's
    assert hotline.due(10_000.0) == []  # escalation has stopped
    assert hotline.overtake("al", now=320.0) == []  # once
    # An overtaken message may still be acknowledged, by whoever could before.
    late = hotline.acknowledge(flash.id, "R", "R-3", "Seen, too late.", now=400.0)
    assert (late.state, late.ack_by, late.overtaken_at) == ("acknowledged", "R-3", 310.0)


def test_an_overtaken_message_to_a_named_official_stays_theirs(hotline):
    m = send(hotline, to_official="R-1", alert_id="al")
    hotline.overtake("al", now=5.0)
    with pytest.raises(ConflictingWriteError, match="not addressed to R-2"):
        hotline.acknowledge(m.id, "R", "R-2", None, now=6.0)
    assert hotline.acknowledge(m.id, "R", "R-1", None, now=7.0).ack_by == "R-1"
