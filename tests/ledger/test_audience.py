"""Who is party to each kind of statement: the table of detente.ledger.audience, case by case."""

import pytest

from detente.errors import InputError
from detente.ledger import EVERYONE, audience_for, expected_receipts
from detente.ledger.statements import Statement

KID = "0" * 32
MESSAGE = ("RUS", "TUR")  # the audience of entry 7, a TUR-RUS hotline message
ANCHOR = ()              # entry 8, an anchor of every party's reports


def st(kind, author="detente", body=None, ref=None):
    return Statement(kind=kind, author=author, key_id=KID, time=1.0, body=body or {}, ref=ref)


def ref_audience(index):
    return {7: MESSAGE, 8: ANCHOR}.get(index)


CASES = [
    # kind, author, by the log's key, body, ref -> audience
    ("key.register", "COA", False, {"public_key": "x"}, None, (EVERYONE,)),
    ("key.rotate", "TUR/tur-watch", False, {"public_key": "x"}, None, (EVERYONE,)),
    ("key.register", "detente", True, {"public_key": "x"}, None, (EVERYONE,)),
    ("alert", "detente", True, {"parties": ["TUR", "RUS"]}, None, ("RUS", "TUR")),
    ("alert", "detente", True, {"parties": ["TUR", "RUS"], "to": "RUS"}, None, ("RUS",)),
    ("alert", "detente", True, {"n": 1}, None, ()),
    ("intent.overlap", "detente", True, {"parties": ["COA", "RUS"]}, None, ("COA", "RUS")),
    ("hotline.message", "TUR/tur-watch", False, {"to_party": "RUS"}, None, ("RUS", "TUR")),
    ("hotline.message", "TUR", False, {"to_party": "TUR"}, None, ("TUR",)),
    # An automatic warning, said by the service on TUR's behalf.
    ("hotline.message", "detente", True, {"to_party": "RUS", "from_party": "TUR"}, None,
     ("RUS", "TUR")),
    ("hotline.message", "detente", True, {"to_party": "RUS"}, None, ("RUS",)),
    ("hotline.ack", "RUS/rus-watch", False, {"message_id": "m"}, 7, MESSAGE),
    ("hotline.delivery", "detente", True, {"message_id": "m"}, 7, MESSAGE),
    ("hotline.escalated", "detente", True, {"message_id": "m"}, 7, MESSAGE),
    ("hotline.overdue", "detente", True, {"message_id": "m"}, 7, MESSAGE),
    ("delivery.receipt", "RUS", False, {"leaf_hash": "x"}, 7, MESSAGE),
    ("delivery.receipt", "TUR/tur-watch", False, {"leaf_hash": "x"}, 7, MESSAGE),
    ("recording.anchor", "detente", True, {"first_row": 1}, None, ()),
    ("recording.anchor", "detente", True, {"first_row": 1, "party": "COA"}, None, ("COA",)),
]


@pytest.mark.parametrize("kind, author, by_log, body, ref, want", CASES)
def test_the_audience_of_each_kind(kind, author, by_log, body, ref, want):
    got = audience_for(st(kind, author, body, ref), by_log=by_log, ref_audience=ref_audience)
    assert got == want


@pytest.mark.parametrize("statement, by_log, problem", [
    (st("note"), True, "no audience rule"),
    (st("hotline.ack", "RUS/rus-watch", {"message_id": "m"}), False, "ref"),
    # COA may not answer (acknowledge, receipt) what was not addressed to it.
    (st("hotline.ack", "COA/coa-watch", {"message_id": "m"}, 7), False, "not addressed"),
    (st("delivery.receipt", "COA", {"leaf_hash": "x"}, 7), False, "not addressed"),
    # An entry the caller holds only as a leaf hash: its audience is unknown.
    (st("hotline.ack", "RUS/rus-watch", {}, 5), False, "not held in full"),
    # A party writes for itself only.
    (st("hotline.message", "COA/coa-watch", {"to_party": "RUS", "from_party": "TUR"}), False,
     "from_party"),
    (st("alert", body={"parties": "TUR"}), True, "list of party ids"),
    (st("alert", body={"parties": ["TUR", "R S"]}), True, "party id"),
    (st("hotline.message", "TUR", {"to_party": 7}), False, "party id"),
])
def test_statements_without_a_rule_or_with_a_bad_field_are_refused(statement, by_log, problem):
    with pytest.raises(InputError, match=problem):
        audience_for(statement, by_log=by_log, ref_audience=ref_audience)


@pytest.mark.parametrize("statement, by_log, audience, want", [
    (st("alert", body={"parties": ["RUS", "TUR"]}), True, ("RUS", "TUR"), ("RUS", "TUR")),
    (st("hotline.message", "TUR/tur-watch", {"to_party": "RUS"}), False, ("RUS", "TUR"),
     ("RUS",)),
    (st("hotline.message", body={"to_party": "RUS", "from_party": "TUR"}), True,
     ("RUS", "TUR"), ("RUS",)),
    (st("intent.overlap", body={"parties": ["COA", "RUS"]}), True, ("COA", "RUS"),
     ("COA", "RUS")),
    (st("hotline.ack", "RUS/rus-watch", {}, 7), False, MESSAGE, ()),
    (st("key.register", "TUR", {}), False, (EVERYONE,), ()),
])
def test_who_should_answer_with_a_delivery_receipt(statement, by_log, audience, want):
    assert expected_receipts(statement, audience, by_log) == want
