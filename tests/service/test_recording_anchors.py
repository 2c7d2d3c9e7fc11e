"""The mechanism anchors the reports it records in the record, and a hard stop leaves none
unanchored for good: the next start anchors them. The oracle is the database read with its own
driver (sqlite3 or psycopg), its segments decoded by hand (tests/store/test_report_segments.py),
and the bytes packed by hand (tests/store/test_report_digest.py). On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.errors import InputError
from detente.ledger import Ledger
from detente.model.reports import TrackReport
from detente.service.clock import ManualClock
from detente.service.config import Config, Party
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store.database import open_database
from detente.store.report_digest import ANCHOR_KIND
from tests.store.test_report_digest import by_hand
from tests.store.test_report_segments import recorded

T0 = 1_448_349_000.0
LOG = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
CONFIG = Config(region_name="test", centre=(36.0, 36.0), agreements=(), parties={
    p: Party(p, p, (Ed25519PrivateKey.generate().public_key(),)) for p in ("A", "B")})


def start(url, clock):
    engine = open_database(url)
    ledger = Ledger(engine, LOG, origin="detente/test", clock=clock.now)
    return Mechanism(CONFIG, engine, clock, Record(ledger, LOG, CONFIG, clock)), ledger


def reports(prefix, n, t):
    return [TrackReport(f"{prefix}{k}", t, 36.0 + k / 100, 36.0, 7000.0, 200.0, 90.0, -0.0)
            for k in range(n)]


def anchors(ledger):
    return [e.statement.body for e in (ledger.entry(i) for i in range(ledger.size))
            if e.statement.kind == ANCHOR_KIND]


def digest_of_rows(url, first, last):
    rows = [r[1:] for r in recorded(url) if first <= r[0] <= last]
    assert len(rows) == last - first + 1
    return hashlib.sha256(b"".join(by_hand(*r) for r in rows)).hexdigest()


def test_reports_recorded_before_a_hard_stop_are_anchored_at_the_next_start(database_url):
    path = database_url
    clock = ManualClock(T0)

    async def first_run():
        m, ledger = start(path, clock)
        await m.ingest("A", reports("a", 3, T0))
        clock.advance(1.0)
        await m.ingest("B", reports("b", 2, T0 + 1))
        assert await m.anchor() == 5
        clock.advance(1.0)
        await m.ingest("A", reports("a", 4, T0 + 2))
        m.close()  # a hard stop: these four were never anchored
        return ledger

    ledger = asyncio.run(first_run())
    (one,) = anchors(ledger)
    assert (one["first_row"], one["last_row"], one["reports"]) == (1, 5, 5)
    assert one["sha256"] == digest_of_rows(path, 1, 5)
    assert (one["received_from"], one["received_to"]) == (T0, T0 + 1)

    async def second_run():
        m, ledger = start(path, clock)
        assert await m.anchor() == 4  # the hard stop's four, from the database
        assert await m.anchor() == 0  # nothing new: no statement
        size = ledger.size
        clock.advance(1.0)
        await m.ingest("B", reports("c", 1, T0 + 3))
        assert await m.anchor() == 1
        assert ledger.size == size + 1
        m.close()
        return ledger

    ledger = asyncio.run(second_run())
    one, two, three = anchors(ledger)
    assert (two["first_row"], two["last_row"]) == (6, 9)
    assert two["sha256"] == digest_of_rows(path, 6, 9)
    assert (three["first_row"], three["last_row"]) == (10, 10)
    assert three["sha256"] == digest_of_rows(path, 10, 10)

    async def third_run():
        m, _ = start(path, clock)
        assert await m.anchor() == 0  # every report is anchored already
        m.close()

    asyncio.run(third_run())


def test_a_time_before_1970_is_refused_naming_the_state_and_nothing_is_recorded(database_url):
    """The recording keeps times in integer milliseconds: -1e300 s would not fit (feeds and
    clients of the service reach this check; the API's schema refuses it first)."""
    clock = ManualClock(T0)

    async def go():
        m, _ = start(database_url, clock)
        bad = [*reports("a", 1, T0), TrackReport("b", -1e300, 36.0, 36.0, 7000.0, 200.0,
                                                 90.0, 0.0)]
        with pytest.raises(InputError, match=r"states\[1\]\.t: -1e\+300 is before 1970"):
            await m.ingest("A", bad)
        await m.ingest("A", reports("a", 1, T0))
        m.close()

    asyncio.run(go())
    assert [r[2] for r in recorded(database_url)] == ["a0"]
