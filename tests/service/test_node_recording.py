"""Two instances of a node record one track (its client moved from one to the other), on a
real PostgreSQL, without their lease or follower threads: the test does what the follower and
the lease do, in order, so what is asserted does not hang on timing.

The oracle is hand-made geometry: a track flying due east at 200 m/s, flown on by hand along
its parallel (at this scale the parallel and the geodesic part by millimetres), and the rows of
report_segments counted with psycopg.
"""

from __future__ import annotations

import asyncio
import math

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.ledger import Ledger
from detente.model.reports import TrackReport
from detente.service.clock import ManualClock
from detente.service.config import Config, Party
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store import recording as rec
from detente.store.database import open_database
from detente.store.report_segments import segments_following
from tests.postgres import raw_rows

T0 = 1_448_349_000.0
LOG = Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32)
CONFIG = Config(region_name="test", centre=(36.0, 36.0), agreements=(), parties={
    p: Party(p, p, (Ed25519PrivateKey.generate().public_key(),)) for p in ("A", "B")})
# Metres per degree of longitude at 36 N on WGS84 (the prime vertical radius times cos lat).
_A, _E2 = 6_378_137.0, 6.694379990141317e-3
M_PER_DEG_LON = (math.pi / 180 * _A * math.cos(math.radians(36.0))
                 / math.sqrt(1 - _E2 * math.sin(math.radians(36.0)) ** 2))


class Instance:
    """What a mechanism needs of its node: whether it leads, and its own segments."""

    def __init__(self) -> None:
        self.leading = False
        self.own: list = []

    def own_segment(self, segment) -> None:
        self.own.append(segment)


def start(url: str, clock: ManualClock) -> tuple[Mechanism, Instance]:
    engine = open_database(url)
    ledger = Ledger(engine, LOG, origin="detente/test", clock=clock.now)
    m = Mechanism(CONFIG, engine, clock, Record(ledger, LOG, CONFIG, clock))
    node = Instance()
    m.following(node)
    return m, node


def east(t: float, sideways_m: float = 0.0, trk: float = 90.0) -> TrackReport:
    """The track at T0 + t (s): due east from 36 N 36 E at 200 m/s, ``sideways_m`` north."""
    return TrackReport("x", T0 + t, 36.0 + sideways_m / 111_000.0,
                       36.0 + 200.0 * t / M_PER_DEG_LON, 7000.0, 200.0, trk, 0.0)


def segments(url: str) -> list[tuple[int, int]]:
    return raw_rows(url, "SELECT first_row, last_row FROM report_segments ORDER BY first_row")


def test_the_new_leader_judges_a_track_against_what_the_old_one_last_kept(postgres_url):
    clock = ManualClock(T0)

    async def go() -> None:
        one, node_one = start(postgres_url, clock)
        two, node_two = start(postgres_url, clock)  # started before anything was recorded
        node_one.leading = True
        for t in range(6):  # the track reports to the first instance, which leads
            clock.set(T0 + t)
            await one.ingest("A", [east(t)])
        assert segments(postgres_url) == [(1, 1)]  # its first report; the others held
        # The first instance stops (its held report, of t = 5, is lost with it); the second
        # takes the lease and reloads, its follower having read nothing yet.
        node_one.leading = False
        node_two.leading = True
        await asyncio.to_thread(two.lead, rec.last_report_row(two.engine))
        assert await two.anchor() == 1  # the first instance's unanchored report
        clock.set(T0 + 7)
        await two.ingest("A", [east(7)])  # on course: within the tolerance, not kept
        await asyncio.wrap_future(two.recorder.submit(lambda conn: None))
        assert segments(postgres_url) == [(1, 1)]
        clock.set(T0 + 8)
        await two.ingest("A", [east(8, sideways_m=80.0)])  # 80 m off: beyond 50 m, kept
        assert segments(postgres_url) == [(1, 1), (2, 2)]
        # The first instance, back as a follower, reads the second's segment: the report it
        # held (t = 5) is overtaken, and is not recorded late when the track leaves.
        _, others = segments_following(one.engine, 1)
        one.take_followed(others, others)
        await asyncio.wrap_future(one.recorder.submit(one.segments.flush(None), fenced=False))
        assert segments(postgres_url) == [(1, 1), (2, 2)]
        assert [s[0] for s in node_two.own] == [2] and [s[0] for s in node_one.own] == [1]
        one.close()
        two.close()

    asyncio.run(go())


def test_an_instance_started_later_learns_what_each_track_last_kept(postgres_url):
    clock = ManualClock(T0)

    async def go() -> None:
        one, node_one = start(postgres_url, clock)
        node_one.leading = True
        await one.ingest("A", [east(0)])
        clock.set(T0 + 3)
        two, _ = start(postgres_url, clock)  # a start reads the recording's last minute
        await two.ingest("A", [east(3)])  # on course: judged against t = 0, not a first
        await asyncio.wrap_future(two.recorder.submit(lambda conn: None))
        assert segments(postgres_url) == [(1, 1)]
        one.close()
        two.close()

    asyncio.run(go())

