"""The intents table with the service's IntentBook over it: write-through, rebuild from the
table, expiry, and agreement with the engine."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest
import shapely
from sqlalchemy import select, update

from detente.engines import volume_index
from detente.engines.f3548 import DefaultPolicy, MissingKeyError, PriorityConflictError
from detente.engines.strategic import find_conflicts, project_volumes, touching
from detente.errors import ConflictingWriteError, GeometryError, InputError, StoreError
from detente.geo import LocalProjection
from detente.model.intent import Circle, OperationalIntent, Polygon, Volume4D
from detente.service.intents import IntentBook
from detente.store import intent_codecs as codecs
from detente.store import intents as store
from detente.store.database import open_database, write_transaction

T0 = 1_795_000_000.0
PROJ = LocalProjection(40.0, 30.0)


def box(lat0, lon0, d=0.01) -> Polygon:
    return Polygon((lat0, lat0, lat0 + d, lat0 + d), (lon0, lon0 + d, lon0 + d, lon0))


def vol(fp, t0=T0, t1=T0 + 600.0, lo=0.0, hi=120.0) -> Volume4D:
    return Volume4D(fp, lo, hi, t0, t1)


def it(ident, owner, *volumes, priority=0, state="Accepted", version=None):
    return OperationalIntent(ident, owner, state, priority, tuple(volumes), version)


@pytest.fixture
def engine(database_url):
    """Every test here runs on SQLite and on PostgreSQL."""
    return open_database(database_url)


@pytest.fixture
def index(engine):
    counter = itertools.count(1)
    return IntentBook(engine, PROJ, new_version=lambda: f"v{next(counter)}")


def test_create_gives_a_version_and_change_needs_it(index):
    a = index.put(it("a", "TR", vol(box(40.0, 30.0))), now=T0).intent
    assert a.version == "v1"
    with pytest.raises(ConflictingWriteError, match="has changed since the version presented"):
        index.put(it("a", "TR", vol(box(40.0, 30.0)), version="v0"), now=T0)
    with pytest.raises(ConflictingWriteError, match="belongs to TR; RU may not change it"):
        index.put(it("a", "RU", vol(box(40.0, 30.0)), version="v1"), now=T0)
    b = index.put(it("a", "TR", vol(box(40.0, 30.02)), version="v1"), now=T0).intent
    assert b.version == "v2" and index.get("a", now=T0) == b


def test_key_and_priority_enforced_and_nothing_written_on_refusal(index, engine):
    ru = index.put(it("r", "RU", vol(box(40.0, 30.0)), priority=5), now=T0).intent
    low = it("t", "TR", vol(box(40.005, 30.005)), priority=1)
    with pytest.raises(MissingKeyError, match="'r' of RU"):
        index.put(low, now=T0)
    with pytest.raises(PriorityConflictError, match="priority 5 is higher than 1"):
        index.put(low, key={ru.version}, now=T0)
    assert index.get("t", now=T0) is None
    with engine.connect() as conn:
        assert conn.execute(select(store.IntentRow.id)).scalars().all() == ["r"]
    high = index.put(it("t", "TR", vol(box(40.005, 30.005)), priority=9), key={ru.version},
                     now=T0)
    assert [(o.other.id, o.volume_pairs) for o in high.overlaps] == [("r", ((0, 0),))]


def test_equal_priority_follows_the_policy(index):
    ru = index.put(it("r", "RU", vol(box(40.0, 30.0))), now=T0).intent
    tr = it("t", "TR", vol(box(40.0, 30.0)))
    with pytest.raises(PriorityConflictError, match="equal priority"):
        index.put(tr, key={ru.version}, now=T0)
    index.put(tr, key={ru.version}, policy=DefaultPolicy(equal_priority_allowed=True), now=T0)


def test_own_intents_never_block(index):
    index.put(it("a", "TR", vol(box(40.0, 30.0))), now=T0)
    assert index.put(it("b", "TR", vol(box(40.0, 30.0))), now=T0).overlaps == ()


def test_ids_are_never_reused(index):
    first = index.put(it("a", "TR", vol(box(40.0, 30.0))), now=T0).intent
    index.put(it("a", "TR", vol(box(40.0, 30.0)), state="Ended", version=first.version), now=T0)
    assert index.get("a", now=T0) is None
    with pytest.raises(ConflictingWriteError, match="already used"):
        index.put(it("a", "TR", vol(box(40.0, 30.0))), now=T0)


def test_expired_intents_leave_by_themselves(index):
    ru = index.put(it("r", "RU", vol(box(40.0, 30.0), t1=T0 + 60)), now=T0).intent
    late = it("t", "TR", vol(box(40.0, 30.0), t0=T0 + 30, t1=T0 + 600))
    with pytest.raises(MissingKeyError):
        index.put(late, now=T0 + 60)  # closed: at its end time it is still live
    assert len(index) == 1
    # After r's end, nothing is left to overlap: the write passes without a key.
    assert index.put(late, now=T0 + 60.5).overlaps == ()
    assert index.get("r", now=T0 + 60.5) is None and ru.version


def test_refuses_intent_already_over_and_outside_region(index):
    with pytest.raises(InputError, match="before now"):
        index.put(it("a", "TR", vol(box(40.0, 30.0))), now=T0 + 601)
    with pytest.raises(GeometryError, match="from the centre of the region served"):
        index.put(it("a", "TR", vol(box(0.0, -60.0))), now=T0)


def test_rebuild_from_database_equals_written_state(engine, index):
    rng = np.random.default_rng(3)
    written = {}
    for k in range(60):
        fp = (Circle(40 + rng.uniform(0, .1), 30 + rng.uniform(0, .1), float(rng.uniform(10, 500)))
              if k % 2 else box(40 + rng.uniform(0, .1), 30 + rng.uniform(0, .1), 0.003))
        t0 = T0 + float(rng.integers(0, 5)) * 600
        # Each party writes with a full key and the highest priority so far: always allowed.
        cand = it(f"i{k}", f"P{k}", vol(fp, t0=t0, t1=t0 + 600), priority=k)
        key = {o.other.version for o in index.overlaps(cand, now=T0)}
        r = index.put(cand, key=key, now=T0)
        written[r.intent.id] = r.intent
    ended = written.pop("i0")
    index.put(it("i0", "P0", *ended.volumes, state="Ended", version=ended.version), now=T0)
    reloaded = IntentBook.load(engine, PROJ, now=T0)
    assert {i: reloaded.get(i, now=T0) for i in written} == written
    assert reloaded.get("i0", now=T0) is None
    # The rebuilt index answers overlap queries as the engine does on the written intents.
    probe = vol(box(40.03, 30.03, 0.04), t0=T0 + 300, t1=T0 + 900)
    expected = {written[i].id for i in written
                if len(find_conflicts([written[i], it("q", "Q", probe)], PROJ))}
    assert {x.id for x in reloaded.query([probe], now=T0)} == expected
    # Rows stored for another grid are projected afresh, to the same answers.
    other = IntentBook.load(engine, LocalProjection(41.0, 31.0), now=T0)
    assert {i: other.get(i, now=T0) for i in written} == written
    assert {x.id for x in other.query([probe], now=T0)} == expected
    # And after the last volume has ended, it loads nothing.
    assert len(IntentBook.load(engine, PROJ, now=T0 + 3001)) == 0


def test_index_equals_engine_through_tail_and_rebuilds(engine, monkeypatch):
    # A tiny tail forces many tree rebuilds and compactions while intents change and expire.
    monkeypatch.setattr(volume_index, "TAIL_MAX", 7)
    index = IntentBook(engine, PROJ)
    rng = np.random.default_rng(5)
    live = {}
    used = set()
    met = 0
    now = T0
    for k in range(150):
        now += 5.0
        ident = f"i{rng.integers(0, 40)}"
        lat, lon = 40 + rng.uniform(0, .05), 30 + rng.uniform(0, .05)
        fp = Circle(lat, lon, float(rng.uniform(50, 800))) if k % 3 else box(lat, lon, 0.004)
        t0 = now + float(rng.uniform(0, 300))
        prev = index.get(ident, now=now)
        if prev is None and ident in used:  # expired: ids are never reused
            ident = f"{ident}.{k}"
        used.add(ident)
        owner = prev.owner if prev else f"P{k % 4}"
        cand = it(ident, owner, vol(fp, t0=t0, t1=t0 + float(rng.uniform(20, 400))),
                  state="Nonconforming" if prev else "Accepted",
                  version=prev.version if prev else None)
        if prev is None:
            cand = it(ident, owner, *cand.volumes, priority=1000 + k)
        overlaps = index.overlaps(cand, now=now)
        # Oracle: the engine over the intents that are live now.
        live = {i: x for i, x in live.items() if x.is_live(now) and i != ident}
        others = [x for x in live.values() if x.owner != owner]
        found = find_conflicts([cand, *others], PROJ)
        expected = sorted({others[j - 1].id for j in found.j[found.i == 0].tolist()})
        assert [o.other.id for o in overlaps] == expected
        met += bool(expected)
        key = {o.other.version for o in overlaps}
        live[ident] = index.put(cand, key=key, now=now).intent
    assert met > 20  # the draw does meet other intents, through tree and tail alike


# --- the loaded part of the index (sorted expiry array, rows kept undecoded), bulk blobs, and
# the index's own database connection --------------------------------------------------------


def _all_pairs_overlaps(cand, live, proj=PROJ):
    """Oracle: the exact 4-D test on EVERY pair of volumes, no tree, no envelope or interval
    pre-filter: ids of the live intents of other owners that ``cand`` touches."""
    others = [x for x in live if x.owner != cand.owner and x.id != cand.id]
    if not others:
        return []
    vols = project_volumes([cand, *others], proj)
    a = np.flatnonzero(vols.intent == 0)
    b = np.flatnonzero(vols.intent != 0)
    qa, qb = np.repeat(a, b.size), np.tile(b, a.size)
    hit = touching(vols, qa, vols, qb, proj)
    return sorted({others[k - 1].id for k in vols.intent[qb[hit]].tolist()})


def _random_footprint(rng):
    lat, lon = 40 + rng.uniform(0, .05), 30 + rng.uniform(0, .05)
    if rng.random() < 0.5:
        return Circle(lat, lon, float(rng.uniform(50, 800)))
    return box(lat, lon, float(rng.uniform(0.001, 0.006)))


@pytest.mark.parametrize("seed", [11, 12])
def test_loaded_index_equals_all_pairs_oracle_through_changes_and_expiry(engine, monkeypatch,
                                                                        seed):
    monkeypatch.setattr(volume_index, "TAIL_MAX", 5)
    rng = np.random.default_rng(seed)
    writer = IntentBook(engine, PROJ)
    live: dict[str, OperationalIntent] = {}
    for k in range(80):
        t0 = T0 + float(rng.uniform(0, 600))
        cand = it(f"i{k}", f"P{k % 5}", vol(_random_footprint(rng), t0=t0,
                                            t1=t0 + float(rng.uniform(30, 600))),
                  priority=1000 + k)
        key = {o.other.version for o in writer.overlaps(cand, now=T0)}
        live[cand.id] = writer.put(cand, key=key, now=T0).intent

    # Start a new index from the table: the loaded intents expire through the sorted array,
    # while changes and new writes go through the heap and the tail.
    index = IntentBook.load(engine, PROJ, now=T0)
    now, met, checked_loaded = T0, 0, 0
    for k in range(120):
        now += float(rng.uniform(0, 10))
        live = {i: x for i, x in live.items() if x.is_live(now)}
        assert all(index.get(i, now=now) == x for i, x in live.items())
        assert len(index) == len(live)  # and nothing else: the expired ones have left
        t0 = now + float(rng.uniform(0, 300))
        probe = it(f"n{k}", f"P{k % 5}", vol(_random_footprint(rng), t0=t0,
                                           t1=t0 + float(rng.uniform(30, 600))),
                   priority=5000 + k)
        expected = _all_pairs_overlaps(probe, live.values())
        assert [o.other.id for o in index.overlaps(probe, now=now)] == expected
        met += bool(expected)
        # query() sees every owner.
        q = vol(_random_footprint(rng), t0=now, t1=now + 300)
        seen = _all_pairs_overlaps(it("q", "\x01", q), live.values())
        assert [x.id for x in index.query([q], now=now)] == seen
        action = rng.integers(0, 3)
        if action == 0 or not live:
            key = {o.other.version for o in index.overlaps(probe, now=now)}
            live[probe.id] = index.put(probe, key=key, now=now).intent
        else:
            victim = live[sorted(live)[int(rng.integers(0, len(live)))]]
            checked_loaded += victim.id.startswith("i")
            if action == 1:  # end it
                index.put(it(victim.id, victim.owner, *victim.volumes, state="Ended",
                             version=victim.version), now=now)
                del live[victim.id]
            else:  # move it (off-nominal: no key needed), keeping its own serial fresh
                moved = it(victim.id, victim.owner,
                           vol(_random_footprint(rng), t0=now, t1=now + 400),
                           state="Nonconforming", version=victim.version)
                live[victim.id] = index.put(moved, now=now).intent
    assert met > 15 and checked_loaded > 10
    # And a second load from the table agrees with what the index holds.
    again = IntentBook.load(engine, PROJ, now=now)
    assert {i: again.get(i, now=now) for i in live} == live
    assert len(again) == len(live)


def test_bulk_grid_blobs_equal_one_by_one_and_decode_back():
    rng = np.random.default_rng(4)
    intents = [
        it(f"b{k}", "TR", *(vol(_random_footprint(rng)) for _ in range(int(rng.integers(1, 4)))),
           version=f"v{k}")
        for k in range(40)
    ]
    rows = store.row_values(intents, PROJ)
    vols = project_volumes(intents, PROJ)
    per = np.bincount(vols.intent)
    for k, row in enumerate(rows):
        one = vols.take(np.flatnonzero(vols.intent == k))
        assert row["grid"] == codecs.encode_grids(one, np.array([per[k]]))[0]
    head, xy, counts = codecs.decode_grids([r["grid"] for r in rows])
    assert counts.tolist() == per.tolist()
    for col, name in enumerate(codecs.HEADER):
        assert np.array_equal(head[:, col], getattr(vols, name), equal_nan=True)
    expected = []
    for g in vols.geometry:
        c = shapely.get_coordinates(g)
        expected.append(c[:-1] if len(c) > 1 else c)
    assert np.array_equal(xy, np.concatenate(expected))


def test_failed_commit_changes_nothing_and_the_next_write_goes_through(index, engine):
    a = index.put(it("a", "TR", vol(box(40.0, 30.0))), now=T0).intent
    with engine.begin() as conn:  # the table goes away under the index
        conn.exec_driver_sql("ALTER TABLE operational_intents RENAME TO kept_aside")
    with pytest.raises(StoreError, match="cannot write intent 'b'"):
        index.put(it("b", "RU", vol(box(41.0, 31.0))), now=T0)
    assert index.get("b", now=T0) is None and len(index) == 1
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE kept_aside RENAME TO operational_intents")
    b = index.put(it("b", "RU", vol(box(41.0, 31.0))), now=T0).intent
    assert {x.id for x in IntentBook.load(engine, PROJ, now=T0).query(
        [vol(box(39.9, 29.9, 1.5))], now=T0)} == {a.id, b.id}


def test_a_write_waits_its_turn_behind_another_writer(index, engine):
    # Another writer of the same database holds the turn (without having locked the file
    # yet): the index's write waits for it in the queue of this process's writers.
    started, done = threading.Event(), threading.Event()

    def write():
        started.set()
        index.put(it("w", "TR", vol(box(40.0, 30.0))), now=T0)
        done.set()

    with write_transaction(engine):
        worker = threading.Thread(target=write)
        worker.start()
        started.wait(5)
        assert not done.wait(0.3)  # still queued behind this transaction
    worker.join(5)
    assert done.is_set() and index.get("w", now=T0) is not None


def test_a_table_with_rows_of_two_grids_loads_whole(engine, index):
    for k in range(6):
        index.put(it(f"g{k}", f"P{k}", vol(box(40.0 + k * 0.002, 30.0)), priority=k),
                  key={o.other.version for o in index.overlaps(
                      it(f"g{k}", f"P{k}", vol(box(40.0 + k * 0.002, 30.0))), now=T0)},
                  now=T0)
    with engine.begin() as conn:
        conn.execute(update(store.IntentRow).where(store.IntentRow.id.in_(["g1", "g4"]))
                     .values(grid_key="elsewhere"))
    mixed = IntentBook.load(engine, PROJ, now=T0)
    probe = it("p", "Q", vol(box(39.99, 29.99, 0.05)))
    assert [o.other.id for o in mixed.overlaps(probe, now=T0)] == [f"g{k}" for k in range(6)]
    assert len(mixed) == 6


def test_a_failed_read_is_a_store_error(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE operational_intents RENAME TO kept_aside")
    with pytest.raises(StoreError, match="cannot read operational intents") as caught:
        IntentBook.load(engine, PROJ, now=T0)
    assert caught.value.__cause__ is not None  # the driver's error, chained
