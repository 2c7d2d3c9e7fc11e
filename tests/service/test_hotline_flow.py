"""A message id names one message for good: after the hotline has forgotten the message (an
hour on, or a restart), a retry with the same id is the same message, and other content under
it a conflict. Oracle: the record, read entry by entry."""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.errors import ConflictingWriteError
from detente.ledger import Ledger, key_statement, sign_statement
from detente.service.auth import Principal
from detente.service.clock import ManualClock
from detente.service.config import Agreement, Config, Official, Party, Share
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store.database import open_database

T0 = 1_448_349_000.0
LOG = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)
WATCH = Ed25519PrivateKey.from_private_bytes(bytes([4]) * 32)


def config() -> Config:
    watch = Official("tur-watch", "TUR", "TUR watch", "military", 1, WATCH.public_key())
    return Config(region_name="test", centre=(36.0, 36.0),
                  agreements=(Agreement(("TUR", "RUS"), {"TUR": Share(), "RUS": Share()}),),
                  parties={"TUR": Party("TUR", "Turkey", (Ed25519PrivateKey.generate()
                                                          .public_key(),), (watch,)),
                           "RUS": Party("RUS", "Russia", (Ed25519PrivateKey.generate()
                                                          .public_key(),))})


def start(url, clock):
    cfg, engine = config(), open_database(url)
    ledger = Ledger(engine, LOG, origin="detente/test", clock=clock.now, verify_workers=1)
    return Mechanism(cfg, engine, clock, Record(ledger, LOG, cfg, clock)), ledger


def message(clock, text):
    return sign_statement(WATCH, kind="hotline.message", author="TUR/tur-watch",
                          time=clock.now(), body={"id": "m-1", "to_party": "RUS",
                                                  "priority": "routine", "body": text})


def said(ledger) -> list[dict]:
    return [e.statement.body for e in (ledger.entry(i) for i in range(ledger.size))
            if e.statement.kind == "hotline.message"]


@pytest.mark.parametrize("restart", [False, True])
def test_a_forgotten_message_id_still_names_its_message(database_url, restart):
    clock = ManualClock(T0)
    me = Principal("TUR", "tur-watch", T0 + 10 * 3600)

    async def go():
        m, ledger = start(database_url, clock)
        await m.record.append_party(me, [key_statement(WATCH, WATCH, author="TUR/tur-watch",
                                                       time=clock.now())])
        first, receipt = await m.send_message(me, message(clock, "Say intentions."))
        assert receipt is not None
        clock.advance(2 * 3600)
        await m.prune()
        assert m.hotline.get("m-1") is None  # routine and two hours old: out of memory
        if restart:
            m.close()
            m, ledger = start(database_url, clock)
            m.hotline.prune(clock.now() - 3600)  # as a long-running service would have
        again, receipt = await m.send_message(me, message(clock, "Say intentions."))
        assert receipt is None and again.record_index == first.record_index
        with pytest.raises(ConflictingWriteError, match="different content"):
            await m.send_message(me, message(clock, "Something else."))
        m.close()
        return ledger

    ledger = asyncio.run(go())
    assert said(ledger) == [{"id": "m-1", "to_party": "RUS", "priority": "routine",
                             "body": "Say intentions."}]
