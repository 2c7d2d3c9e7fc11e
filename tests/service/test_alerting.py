"""Alert life cycle, cycle by cycle, against hand-written expectations."""

from detente.service.alerting import AlertBook, Finding, severity_for


def finding(t_to_go, key="k", severity=None):
    return Finding(kind="tactical", key=(key,), parties=("A", "B"),
                   tracks=(("A", "a"), ("B", "b")), t_to_go_s=t_to_go,
                   severity=severity or severity_for(t_to_go, 120, 60), point=(0.0, 0.0))


def test_severity_bands():
    assert [severity_for(t, 120, 60) for t in (300, 121, 120, 61, 60, 0)] == [
        "advisory", "advisory", "warning", "warning", "critical", "critical"]


def test_raise_keep_update_clear_with_hysteresis():
    book = AlertBook(clear_after=2, retime_s=5)
    (tr,) = book.cycle([finding(200)], now=0)
    assert tr.change == "raised" and tr.alert.severity == "advisory"
    alert_id = tr.alert.id
    # Same conflict, prediction consistent with the clock: nothing to announce.
    assert book.cycle([finding(199)], now=1) == []
    assert book.cycle([finding(198.5)], now=2) == []
    # Crossing into the warning band is an update of the same alert.
    (tr,) = book.cycle([finding(119)], now=81)
    assert (tr.change, tr.alert.id, tr.alert.severity, tr.previous_severity) == (
        "updated", alert_id, "warning", "advisory")
    # The prediction jumps (the intruder sped up): re-announced although the band is the same.
    (tr,) = book.cycle([finding(90)], now=82)
    assert tr.change == "updated" and tr.alert.t_to_go_s == 90
    # One clean cycle is not enough to clear; the conflict coming back keeps the id.
    assert book.cycle([], now=83) == []
    assert book.cycle([finding(88)], now=84) == []
    assert book.get(alert_id).quiet_cycles == 0
    assert book.cycle([], now=85) == []
    (tr,) = book.cycle([], now=86)
    assert (tr.change, tr.alert.id, tr.previous_severity) == ("cleared", alert_id, "warning")
    assert book.open_alerts() == [] and book.get(alert_id) is None
    # A new conflict on the same pair later is a new alert.
    (tr,) = book.cycle([finding(100)], now=100)
    assert tr.change == "raised" and tr.alert.id != alert_id


def test_acknowledge_once_per_party():
    book = AlertBook()
    (tr,) = book.cycle([finding(50)], now=0)
    ack = book.acknowledge(tr.alert.id, "A", now=1)
    assert ack.change == "acknowledged" and ack.alert.acknowledged_by == ("A",)
    assert book.acknowledge(tr.alert.id, "A", now=2) is None  # twice
    assert book.acknowledge(tr.alert.id, "C", now=2) is None  # not its alert
    assert book.acknowledge("nope", "A", now=2) is None
    # Acknowledged alerts stay acknowledged through same-band updates.
    (upd,) = book.cycle([finding(30)], now=3)
    assert upd.alert.state == "acknowledged"


def test_many_independent_conflicts():
    book = AlertBook()
    raised = book.cycle([finding(100, key=f"k{n}") for n in range(50)], now=0)
    assert len({t.alert.id for t in raised}) == 50
    kept = book.cycle([finding(99, key=f"k{n}") for n in range(0, 50, 2)], now=1)
    assert kept == []
    book.cycle([finding(98, key=f"k{n}") for n in range(0, 50, 2)], now=2)
    assert len(book.open_alerts()) == 25


def test_partial_looks_raise_and_update_but_never_clear():
    book = AlertBook()
    (tr,) = book.observe([finding(100, key="a")], now=0)
    assert tr.change == "raised"
    assert book.observe([finding(50, key="b")], now=1)[0].change == "raised"
    # "a" absent from three partial looks: still open; one full cycle without it starts the
    # quiet count, the second clears it.
    for t in (2, 3, 4):
        assert book.observe([], now=t) == []
    assert len(book.open_alerts()) == 2
    assert book.cycle([finding(45, key="b")], now=5) == []
    (cleared,) = book.cycle([finding(44, key="b")], now=6)
    assert cleared.change == "cleared" and cleared.alert.key == ("a",)


def test_acknowledging_keeps_the_countdown():
    book = AlertBook()
    (tr,) = book.cycle([finding(100)], now=0)
    ack = book.acknowledge(tr.alert.id, "A", now=30)
    # 30 s later the alert is 70 s away, and says so from its new update time.
    assert ack.alert.t_to_go_s == 70 and ack.alert.updated_at == 30


def test_acknowledging_or_clearing_keeps_the_predicted_instants():
    # Raised at 0: loss of separation at 0 + 100, closest approach at 0 + 130. Whenever the
    # alert is told again, its times count from the new updated_at and name the same instants.
    book = AlertBook(clear_after=1)
    f = Finding(kind="tactical", key=("k",), parties=("A", "B"), tracks=(("A", "a"), ("B", "b")),
                t_to_go_s=100, severity="advisory", point=(0.0, 0.0),
                detail={"t_in_s": 100.0, "t_cpa_s": 130.0, "t_out_s": 160.0, "d_cpa_m": 50})
    (tr,) = book.cycle([f], now=0)
    ack = book.acknowledge(tr.alert.id, "A", now=30).alert
    assert ack.updated_at + ack.detail["t_in_s"] == 100
    assert ack.updated_at + ack.detail["t_cpa_s"] == 130 and ack.detail["d_cpa_m"] == 50
    assert tr.alert.detail["t_in_s"] == 100.0  # the announcement itself is left as it was
    (cleared,) = book.cycle([], now=45)
    c = cleared.alert
    assert (c.state, c.updated_at, c.t_to_go_s) == ("cleared", 45, 55)
    assert c.updated_at + c.detail["t_in_s"] == 100 and c.updated_at + c.detail["t_out_s"] == 160
