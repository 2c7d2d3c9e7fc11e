"""Hotline statements hold exactly their fields, and a message id names one message for good:
a real server, officials' own signed statements, the record read back to check that nothing
unchecked went in."""

from __future__ import annotations

import httpx
import pytest

from detente.errors import ConflictingWriteError, InputError
from tests.api import test_hotline_live as hot

setup = hot.setup  # the fixture: that module's server, officials and virtual clock
client = hot.client


def record_kinds(c) -> list[tuple[str, dict]]:
    head = c.get("/v1/record/head")
    return [(e["statement"]["kind"], e["statement"]["body"]) for e in (
        c.get(f"/v1/record/receipts/{i}")["entry"] for i in range(head["size"])) if e]


def message(**extra) -> dict:
    return {"id": "stmt-1", "to_party": "R", "priority": "urgent", "body": "Say intentions.",
            **extra}


@pytest.mark.parametrize(("extra", "field"), [
    ({"automatic": True}, "automatic"),
    ({"on_behalf_of": "T watch"}, "on_behalf_of"),
    ({"x": {"y": {"z": 1}}}, "x"),
])
def test_a_message_with_a_field_it_does_not_have_is_refused_and_not_recorded(setup, extra,
                                                                              field):
    t1 = client(setup, "T-1")
    t1.ensure_registered()
    before = t1.get("/v1/record/head")["size"]
    # The API's schema refuses it (422) before the service's own check (400) would.
    with pytest.raises(InputError, match=rf"refused .*\b{field}\b") as info:
        t1.post("/v1/hotline/messages", t1.sign("hotline.message", message(id="x-1", **extra)))
    assert info.value.status in (400, 422)
    assert t1.get("/v1/record/head")["size"] == before
    assert all(m["id"] != "x-1" for m in t1.messages())


def test_deep_nesting_is_refused_without_a_server_error(setup):
    t1 = client(setup, "T-1")
    t1.ensure_registered()
    nested: dict = {}
    for _ in range(400):
        nested = {"a": nested}
    entry = t1.sign("hotline.message", message(id="deep-1", extra=nested))
    r = httpx.post(f"{t1.url}/v1/hotline/messages", json=entry,
                   headers={"Authorization": f"Bearer {t1.token}"})
    assert 400 <= r.status_code < 500, r.text


def test_fields_of_the_wrong_type_and_missing_ones_are_named(setup):
    t1 = client(setup, "T-1")
    t1.ensure_registered()
    with pytest.raises(InputError, match=r"refused .*\bbody\b.*(must be text|string)") as info:
        t1.post("/v1/hotline/messages", t1.sign("hotline.message", message(body=["x"])))
    assert info.value.status in (400, 422)
    no_id = message()
    del no_id["id"]
    with pytest.raises(InputError, match=r"refused .*(missing 'id'|\bid\b.*[Ff]ield required)") \
            as info:
        t1.post("/v1/hotline/messages", t1.sign("hotline.message", no_id))
    assert info.value.status in (400, 422)


def test_an_acknowledgement_holds_exactly_its_fields(setup):
    t1, r1 = client(setup, "T-1"), client(setup, "R-1")
    m = t1.send_message("R", "urgent", "Acknowledge please.", message_id="ack-me")["message"]
    r1.ensure_registered()
    body = {"message_id": "ack-me", "reply": "ok", "on_behalf_of": "T watch"}
    with pytest.raises(InputError, match=r"refused .*\bon_behalf_of\b") as info:
        r1.post("/v1/hotline/messages/ack-me/ack",
                r1.sign("hotline.ack", body, ref=m["record_index"]))
    assert info.value.status in (400, 422)
    assert r1.acknowledge("ack-me", "ok")["message"]["state"] == "acknowledged"


def test_the_same_id_with_other_content_is_a_conflict_and_the_same_is_the_same(setup):
    t1 = client(setup, "T-1")
    first = t1.send_message("R", "flash", "Turn south now.", message_id="retry-1")
    assert first["receipt"] is not None
    size = t1.get("/v1/record/head")["size"]
    # A retry after a lost reply, signed anew: the same message, nothing recorded again.
    again = t1.send_message("R", "flash", "Turn south now.", message_id="retry-1")
    assert again["receipt"] is None
    assert again["message"]["record_index"] == first["message"]["record_index"]
    for other in ({"text": "Turn north now."}, {"text": "Turn south now.", "to_official": "R-2"},
                  {"text": "Turn south now.", "priority": "urgent"}):
        with pytest.raises(ConflictingWriteError, match=r"refused .*different content"):
            t1.send_message("R", other.get("priority", "flash"), other["text"],
                            to_official=other.get("to_official"), message_id="retry-1")
    assert t1.get("/v1/record/head")["size"] == size  # the second statements went nowhere
    said = [b for k, b in record_kinds(t1) if k == "hotline.message" and b["id"] == "retry-1"]
    assert said == [{"id": "retry-1", "to_party": "R", "priority": "flash",
                     "body": "Turn south now."}]
