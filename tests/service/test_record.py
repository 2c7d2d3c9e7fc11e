"""The service's record: group commit of concurrent callers, each all or nothing on its own."""

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.errors import ConflictingWriteError, InputError, VerificationError
from detente.ledger import Entry, Ledger, LedgerReader, key_statement, sign_statement
from detente.ledger.hashing import RFC9162_SHA256
from detente.ledger.statements import SignedStatement
from detente.ledger.verify import verify_inclusion
from detente.service.auth import Principal
from detente.service.clock import ManualClock
from detente.service.config import Config, Official, Party
from detente.service.record import SERVICE_AUTHOR, Record
from detente.store.database import open_database

T0 = 1_448_349_000.0


def key(seed):
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


LOG, TUR, RUS, WATCH = key(1), key(2), key(3), key(4)


def config():
    watch = Official("tur-watch", "TUR", "TUR watch", "military", 1, WATCH.public_key())
    return Config(region_name="test", centre=(36.0, 36.0), agreements=(), parties={
        "TUR": Party("TUR", "Turkey", (TUR.public_key(),), (watch,)),
        "RUS": Party("RUS", "Russia", (RUS.public_key(),)),
    })


def caller(party, official=None):
    return Principal(party, official, T0 + 3600)


def alert(signer, author, n, kind="alert"):
    return sign_statement(signer, kind=kind, author=author, time=T0 + n / 1000,
                          body={"n": n})


def bad_signature(signed):
    sig = bytearray(signed.signature)
    sig[3] ^= 1
    return SignedStatement(signed.statement, bytes(sig))


@pytest.fixture
def record(database_url):
    ledger = Ledger(open_database(database_url), LOG,
                    origin="detente/test", clock=ManualClock(T0).now, verify_workers=1)
    with ledger:
        yield Record(ledger, LOG, config(), ManualClock(T0))


async def register(record):
    for party, signer in (("TUR", TUR), ("RUS", RUS), ("TUR/tur-watch", WATCH)):
        p = party.partition("/")
        await record.append_party(caller(p[0], p[2] or None),
                                  [key_statement(signer, signer, author=party, time=T0)])


def check(record, receipt, statement):
    """The receipt is for this statement and verifies with the independent RFC 9162 verifier
    against a head the log signed."""
    data = record.ledger.entry_bytes(receipt.index)
    assert Entry.parse(data).signed == statement
    receipt.head.verify(record.ledger.log_public_key)
    verify_inclusion(RFC9162_SHA256, receipt.index, receipt.head.size,
                     RFC9162_SHA256.hash_leaf(data), list(receipt.proof), receipt.head.root)


def test_concurrent_callers_share_one_commit_and_get_their_own_receipts(record):
    async def go():
        await register(record)
        heads = len(record.ledger.heads())
        mine = {n: alert(TUR if n % 2 else RUS, "TUR" if n % 2 else "RUS", n)
                for n in range(300)}
        three = [alert(WATCH, "TUR/tur-watch", n, "hotline.message") for n in (1000, 1001, 1002)]
        calls = [record.append_party(caller("TUR" if n % 2 else "RUS"), [s])
                 for n, s in mine.items()]
        calls.append(record.append_party(caller("TUR", "tur-watch"), three))
        calls.append(record.say([("alert", {"n": "service"}, None),
                                 ("alert", {"n": "service 2"}, 0)]))
        results = await asyncio.gather(*calls)
        # Every caller was waiting when the commit began: one transaction, one head.
        assert len(record.ledger.heads()) == heads + 1
        indexes = [r.index for receipts in results for r in receipts]
        assert sorted(indexes) == list(range(4, 4 + 305))
        for (receipt,), statement in zip(results[:300], mine.values(), strict=True):
            check(record, receipt, statement)
        # A caller's statements stay together and in its order.
        assert [r.index for r in results[300]] == list(range(results[300][0].index,
                                                             results[300][0].index + 3))
        for receipt, statement in zip(results[300], three, strict=True):
            check(record, receipt, statement)
        said = [record.ledger.entry(r.index).statement for r in results[301]]
        assert [(s.author, s.body, s.ref) for s in said] == [
            (SERVICE_AUTHOR, {"n": "service"}, None), (SERVICE_AUTHOR, {"n": "service 2"}, 0)]

    asyncio.run(go())


def test_one_callers_bad_statement_refuses_only_that_caller(record):
    async def go():
        await register(record)
        before = record.ledger.size
        good = [[alert(TUR, "TUR", n)] for n in range(50)]
        # A batch of three with a bad signature in the middle: none of the three goes in.
        bad = [alert(RUS, "RUS", 100), bad_signature(alert(RUS, "RUS", 101)),
               alert(RUS, "RUS", 102)]
        second_key = [key_statement(TUR, TUR, author="TUR", time=T0)]  # TUR has its key
        calls = [record.append_party(caller("TUR"), g) for g in good[:25]]
        calls.append(record.append_party(caller("RUS"), bad))
        calls.append(record.append_party(caller("TUR"), second_key,
                                         ["key.register", "key.rotate"]))
        calls += [record.append_party(caller("TUR"), g) for g in good[25:]]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert isinstance(results[25], VerificationError)
        assert "does not verify" in str(results[25])
        assert isinstance(results[26], ConflictingWriteError)
        assert "already registered" in str(results[26])
        ok = results[:25] + results[27:]
        assert [r.index for (r,) in ok] == list(range(before, before + 50))
        for (receipt,), (statement,) in zip(ok, good, strict=True):
            check(record, receipt, statement)
        reader = LedgerReader(record.ledger._store._engine)
        assert reader.size == before + 50
        stored = {reader.entry_bytes(i) for i in range(reader.size)}
        assert not {s.signature for s in bad} & {Entry.parse(d).signature for d in stored}
        # The caller that was refused can try again, alone, with good statements.
        again = await record.append_party(caller("RUS"), [bad[0], bad[2]])
        assert [r.index for r in again] == [before + 50, before + 51]

    asyncio.run(go())


def test_checks_before_the_ledger_still_refuse_at_once(record):
    async def go():
        await register(record)
        with pytest.raises(ConflictingWriteError, match="not the caller"):
            await record.append_party(caller("RUS"), [alert(TUR, "TUR", 1)])
        with pytest.raises(InputError, match="at least one"):
            await record.append_party(caller("RUS"), [])
        assert await record.say([]) == []

    asyncio.run(go())


def test_callers_that_come_during_a_commit_go_into_the_next(record):
    async def go():
        await register(record)
        heads = len(record.ledger.heads())
        first = asyncio.create_task(record.append_party(caller("TUR"), [alert(TUR, "TUR", 1)]))
        await asyncio.sleep(0)  # the first commit is under way
        later = [record.append_party(caller("RUS"), [alert(RUS, "RUS", n)]) for n in range(2, 40)]
        results = await asyncio.gather(first, *later)
        assert [r.index for (r,) in results] == list(range(results[0][0].index,
                                                          results[0][0].index + 39))
        assert len(record.ledger.heads()) <= heads + 3

    asyncio.run(go())
