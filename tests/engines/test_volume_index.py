"""VolumeIndex, the pure structure alone: against the all-pairs oracle through inserts,
replacements, removals, expiry, a bulk load and many tree rebuilds."""

from __future__ import annotations

import numpy as np
import pytest

from detente.engines.strategic import project_volumes, touching
from detente.engines.volume_index import VolumeIndex
from detente.geo import LocalProjection
from detente.model.intent import Circle, OperationalIntent, Polygon, Volume4D

PROJ = LocalProjection(40.0, 30.0)
T0 = 1_795_000_000.0


def _intent(rng, ident, owner, t0):
    lat, lon = 40 + rng.uniform(0, .05), 30 + rng.uniform(0, .05)
    if rng.random() < 0.5:
        fp = Circle(lat, lon, float(rng.uniform(50, 800)))
    else:
        d = float(rng.uniform(0.001, 0.006))
        fp = Polygon((lat, lat, lat + d, lat + d), (lon, lon + d, lon + d, lon))
    lo = float(rng.uniform(0, 300))
    vol = Volume4D(fp, lo, lo + float(rng.uniform(0, 200)), t0, t0 + float(rng.uniform(30, 600)))
    return OperationalIntent(ident, owner, "Accepted", 0, (vol,))


def _oracle(probe, live, other_owners):
    """Every live entry whose volume touches the probe's, by the exact test on every pair."""
    others = [x for x in live.values() if not other_owners or x.owner != probe.owner]
    if not others:
        return []
    vols = project_volumes([probe, *others], PROJ)
    b = np.flatnonzero(vols.intent != 0)
    hit = touching(vols, np.zeros(b.size, np.intp), vols, b, PROJ)
    return sorted({others[k - 1].id for k in vols.intent[b[hit]].tolist()})


def _project(index, intent):
    return project_volumes([intent], PROJ, group=[index.group(intent.owner)])


@pytest.mark.parametrize("seed", [1, 2])
def test_hits_equal_all_pairs_oracle(seed):
    rng = np.random.default_rng(seed)
    index = VolumeIndex(PROJ, tail_max=6)
    # Half loaded in bulk, as at start; the rest inserted one by one.
    loaded = [_intent(rng, f"l{k}", f"P{k % 3}", T0 + float(rng.uniform(0, 300)))
              for k in range(30)]
    vols = project_volumes(loaded, PROJ, group=[index.group(x.owner) for x in loaded])
    index.load([x.id for x in loaded], vols, np.array([x.time_end_s for x in loaded]))
    index.rebuild()
    live = {x.id: x for x in loaded}
    now, met = T0, 0
    for k in range(150):
        now += float(rng.uniform(0, 8))
        live = {i: x for i, x in live.items() if x.is_live(now)}
        gone = set(index.expire(now))
        assert gone.isdisjoint(live) and len(index) == len(live)
        assert sorted(index.ids()) == sorted(live)
        probe = _intent(rng, f"p{k}", f"P{k % 3}", now + float(rng.uniform(0, 200)))
        pv = _project(index, probe)
        for other_owners in (False, True):
            found = sorted(set(index.hits(pv, other_groups=other_owners).ids))
            expected = _oracle(probe, live, other_owners)
            assert found == expected
            met += bool(expected)
        action = rng.integers(0, 3)
        if action == 0 or not live:
            index.insert(probe.id, pv, probe.time_end_s)
            live[probe.id] = probe
        elif action == 1:
            victim = sorted(live)[int(rng.integers(0, len(live)))]
            assert index.remove(victim) and not index.remove(victim)
            del live[victim]
        else:  # replaced under the same id
            victim = sorted(live)[int(rng.integers(0, len(live)))]
            moved = _intent(rng, victim, live[victim].owner, now)
            index.insert(victim, _project(index, moved), moved.time_end_s)
            live[victim] = moved
    assert met > 30


def test_hits_name_the_volume_pairs():
    index = VolumeIndex(PROJ)
    box = Polygon((40.0, 40.0, 40.01, 40.01), (30.0, 30.01, 30.01, 30.0))
    far = Circle(41.0, 31.0, 100.0)
    two = OperationalIntent("a", "A", "Accepted", 0, (Volume4D(far, 0, 10, T0, T0 + 60),
                                                    Volume4D(box, 0, 10, T0, T0 + 60)))
    index.insert("a", _project(index, two), two.time_end_s)
    probe = OperationalIntent("q", "B", "Accepted", 0, (
        Volume4D(Circle(40.005, 30.005, 10.0), 5, 20, T0 + 30, T0 + 90),))
    hits = index.hits(_project(index, probe))
    # Worked by hand: the probe's only volume meets volume 1 of "a" (the box), not volume 0.
    assert (hits.ids, hits.probe.tolist(), hits.volume.tolist()) == (["a"], [0], [1])
    assert index.expire(T0 + 60) == [] and index.expire(T0 + 60.001) == ["a"]
    assert len(index.hits(_project(index, probe))) == 0
