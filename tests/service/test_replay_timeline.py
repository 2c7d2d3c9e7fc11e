"""The replay's timeline of an alert, from events written by hand (times in s from 0).

An incursion raised at 10 (advisory, entry predicted 150 s on), warning at 40 (entry at 40 +
120 = 160, exit at 40 + 137 = 177), acknowledged by TUR at 50, critical at 100 (entry at 100 +
60 = 160, exit 177), cleared at 180: the moments are its raising, each change of severity,
the acknowledgement, the clearing, and the entry and exit its last prediction gave.
"""

from __future__ import annotations

import pytest

from detente.service.replay import alert_moments


def event(t, severity, state, t_entry, t_exit, **kw):
    data = {"id": "al", "kind": "incursion", "severity": severity, "state": state,
            "updated_at": t, "tracks": [{"party": "RUS", "id": "SU24-LEAD"}],
            "acknowledged_by": kw.pop("acked", []),
            "detail": {"airspace": "Turkey", "t_entry_s": t_entry, "t_exit_s": t_exit,
                       "violation": kw.pop("violation", False)}}
    data.update(kw)
    return (t, int(t), data)


ITEMS = [
    event(10, "advisory", "raised", 150, None),
    event(25, "advisory", "updated", 135, None),  # re-timed: nothing worth a tick
    event(40, "warning", "updated", 120, 137),
    event(50, "warning", "acknowledged", 110, 127, acked=["TUR"]),
    event(100, "critical", "updated", 60, 77),
    event(180, "critical", "cleared", 60, 77),  # a cleared alert keeps its last detail
]


def moments(items, t_from=0.0, t_to=1_000.0):
    return sorted((m["t"], m["what"]) for m in alert_moments("al", items, t_from, t_to))


def test_each_change_its_moment_with_what_happened():
    assert moments(ITEMS) == [(10, "advisory"), (40, "warning"), (50, "acknowledged"),
                              (100, "critical"), (160, "entry"), (177, "exit"),
                              (180, "cleared")]
    labels = {m["what"]: m["label"] for m in alert_moments("al", ITEMS, 0, 1_000)}
    assert labels["acknowledged"] == "incursion acknowledged by TUR"
    assert labels["entry"] == "entry of RUS SU24-LEAD into Turkey (as last predicted)"


def test_entry_and_exit_only_within_the_recording_and_before_the_alert_cleared():
    assert (160, "entry") not in moments(ITEMS, t_to=159.0)
    assert (177, "exit") not in moments(ITEMS, t_to=170.0)
    assert (160, "entry") in moments(ITEMS, t_to=170.0)
    # It cleared before the predicted entry (the aircraft turned away): no entry happened.
    turned = [*ITEMS[:5], event(120, "critical", "cleared", 60, 77)]
    got = moments(turned)
    assert (120, "cleared") in got and not any(w in ("entry", "exit") for _, w in got)
    # Another party's aircraft it may not name: "aircraft".
    anon = [event(10, "warning", "raised", 100, 120, tracks=[{"party": "RUS", "id": None}])]
    assert alert_moments("al", anon, 0, 1_000)[1]["label"].startswith("entry of RUS aircraft")


@pytest.mark.parametrize("violation", [True, False])
def test_an_aircraft_inside_already_has_an_exit_and_no_entry(violation):
    items = [event(10, "critical", "raised", 0, 12, violation=violation)]
    got = moments(items)
    assert (22, "exit") in got and ((10, "entry") in got) == (not violation)


def test_a_loss_of_separation_has_no_entry_or_exit():
    items = [(10, 1, {"id": "t", "kind": "tactical", "severity": "warning", "state": "raised",
                      "updated_at": 10, "tracks": [], "detail": {"t_in_s": 90}})]
    assert moments(items) == [(10, "warning")]
