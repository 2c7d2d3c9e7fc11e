"""The service's own check of hotline statement bodies, behind the API's schema: exactly the
kind's fields, each text; an optional one may be missing or null. Oracle: the fields listed by
hand from the README's hotline section."""

from __future__ import annotations

import pytest

from detente.errors import InputError
from detente.service.hotline_flow import ACK_FIELDS, MESSAGE_FIELDS, statement_fields

MESSAGE = {"id": "m-1", "to_party": "RUS", "priority": "flash", "body": "Turn south."}


def test_a_message_with_its_fields_reads_them_and_the_optional_ones_as_none():
    assert statement_fields(MESSAGE, MESSAGE_FIELDS, "hotline.message") == {
        **MESSAGE, "to_official": None, "alert_id": None}


@pytest.mark.parametrize("extra", ["automatic", "on_behalf_of", "x"])
def test_a_field_the_kind_does_not_have_is_named(extra):
    with pytest.raises(InputError, match=f"no field '{extra}'"):
        statement_fields({**MESSAGE, extra: True}, MESSAGE_FIELDS, "hotline.message")


@pytest.mark.parametrize("field", ["id", "to_party", "priority", "body"])
def test_a_missing_required_field_is_named(field):
    body = {k: v for k, v in MESSAGE.items() if k != field}
    with pytest.raises(InputError, match=f"missing '{field}'"):
        statement_fields(body, MESSAGE_FIELDS, "hotline.message")


@pytest.mark.parametrize("value", [["x"], {"a": 1}, 3, True])
def test_a_field_that_is_not_text_is_named(value):
    with pytest.raises(InputError, match="'body' must be text"):
        statement_fields({**MESSAGE, "body": value}, MESSAGE_FIELDS, "hotline.message")


def test_an_acknowledgement_holds_its_two_fields_only():
    assert statement_fields({"message_id": "m-1"}, ACK_FIELDS, "hotline.ack") == {
        "message_id": "m-1", "reply": None}
    with pytest.raises(InputError, match="no field 'on_behalf_of'"):
        statement_fields({"message_id": "m-1", "on_behalf_of": "x"}, ACK_FIELDS, "hotline.ack")
    with pytest.raises(InputError, match="is an object"):
        statement_fields(["m-1"], ACK_FIELDS, "hotline.ack")
