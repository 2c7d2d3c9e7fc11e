"""The demo's story from hand-written views: one line per change, at the time it happened."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from detente.cli.demo_story import Story

T0 = datetime(2015, 11, 24, 7, 20, tzinfo=UTC).timestamp()
CONFIG = SimpleNamespace(parties={
    p: SimpleNamespace(id=p, officials=[SimpleNamespace(id=f"{p.lower()}-{n}", level=k)
                                        for k, n in ((1, "watch"), (2, "command"), (3, "head"))])
    for p in ("TUR", "RUS")})


def alert(severity, to_go, tracks):
    return {"id": "a1b2c3d4e5", "kind": "incursion", "severity": severity,
            "parties": ["RUS", "TUR"], "tracks": tracks, "t_to_go_s": to_go,
            "updated_at": T0 + 5, "detail": {"airspace": "Turkey", "owner": "TUR"}}


def message(**changes):
    m = {"id": "f00d" * 8, "from_party": "TUR", "from_official": None, "to_party": "RUS",
         "to_official": None, "priority": "flash", "body": "AUTOMATIC WARNING", "created_at": T0,
         "deadline": T0 + 60, "level": 1, "sender_level": 1, "state": "sent", "ack": None}
    return {**m, **changes}


def story(since=0.0):
    return Story(CONFIG, "http://127.0.0.1:8000", Path("/k"), since=since)


def test_a_warning_its_flash_escalation_acknowledgement_and_clearing():
    s = story()
    # RUS sees its own aircraft's id, TUR only "an aircraft of RUS": the story joins them.
    rus = alert("warning", 118.0, [{"party": "RUS", "id": "SU24-LEAD"}])
    tur = alert("warning", 118.0, [{"party": "RUS", "id": None}])
    lines = s.observe(T0 + 10, {"RUS": ([rus], [message()]), "TUR": ([tur], [message()])})
    assert lines[0] == ("07:20:05  WARNING      incursion: RUS SU24-LEAD enters Turkey in 118 s "
                        "(alert a1b2c3d4; told to RUS and TUR)")
    assert lines[1] == (f"07:20:00  SENT         flash TUR (automatic) -> RUS: \"AUTOMATIC "
                        f"WARNING\" (message {'f00d' * 8})")
    assert "detente hotline ack " + "f00d" * 8 + " --party RUS --official rus-watch" in lines[2]
    assert len(lines) == 3
    # Nothing new: nothing told.
    assert s.observe(T0 + 11, {"RUS": ([rus], [message()]), "TUR": ([tur], [message()])}) == []
    # The deadline passed: told at the deadline, whenever seen.
    up = message(level=2, sender_level=2, state="escalated", deadline=T0 + 120)
    assert s.observe(T0 + 75, {"RUS": ([rus], [up]), "TUR": ([], [])}) == [
        "07:21:00  ESCALATED    message f00df00d unanswered: now to RUS rus-command (level 2) "
        "and TUR tur-command (level 2); next deadline 07:22:00"]
    acked = message(level=2, sender_level=2, state="acknowledged", deadline=None,
                    ack={"by": "rus-watch", "at": T0 + 80, "reply": "Turning south"})
    assert s.observe(T0 + 90, {"RUS": ([], [acked])}) == [
        "07:21:30  CLEARED      alert a1b2c3d4: incursion: RUS SU24-LEAD enters Turkey in 118 s",
        "07:21:20  ACKNOWLEDGED message f00df00d by RUS/rus-watch: \"Turning south\""]


def test_advisories_are_not_told_and_messages_from_before_a_restart_are_one_line():
    s = story(since=T0 + 30)
    old = message(state="overdue", level=3, sender_level=3, deadline=None)
    lines = s.observe(T0 + 40, {"RUS": ([alert("advisory", 200.0, [])], [old])})
    assert lines == ["07:20:40  BEFORE       1 hotline message from before this start (1 overdue)"]
    assert s.observe(T0 + 41, {"RUS": ([], [old])}) == []
