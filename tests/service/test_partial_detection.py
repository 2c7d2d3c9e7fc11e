"""A partial look (the fresh tracks of an ingest) narrows the picture to the aircraft near them.

Oracle: the whole picture, every pair, keeping the pairs that involve a fresh track. The
narrowing must change nothing but the time it takes.
"""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.geo import WGS84
from detente.model.reports import ReportBatch
from detente.service.clock import ManualClock
from detente.service.config import parse_config
from detente.service.detection import findings
from detente.service.mechanism import Mechanism
from detente.store.database import open_database
from tests.live_server import public_b64


def mechanism(tmp_path, centre: tuple[float, float]) -> Mechanism:
    keys = {p: Ed25519PrivateKey.generate() for p in "ABC"}
    cfg = parse_config({
        "region": {"name": "t", "centre": list(centre)},
        "service": {"log_key": str(tmp_path / "log.pem")},
        "parties": [{"id": p, "public_keys": [public_b64(k)]} for p, k in keys.items()],
        "agreements": [{"parties": ["A", "B"]},
                       {"parties": ["B", "C"], "h_min_m": 20_000, "lookahead_s": 600}],
    })
    return Mechanism(cfg, open_database(f"sqlite:///{tmp_path / 'd.sqlite'}"),
                     ManualClock(1000.0))


def fill(m: Mechanism, centre: tuple[float, float], n: int, half_m: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lat0, lon0 = centre
    for k, party in enumerate("ABC"):
        north, east = rng.uniform(-half_m, half_m, n), rng.uniform(-half_m, half_m, n)
        lon, lat, _ = WGS84.fwd(np.full(n, lon0), np.full(n, lat0), np.zeros(n), north)
        lon, lat, _ = WGS84.fwd(lon, lat, np.full(n, 90.0), east)
        values = np.column_stack([
            np.full(n, 1000.0), lat, lon, rng.uniform(3000, 4000, n),
            rng.uniform(50, 600 if k == 2 else 250, n), rng.uniform(0, 360, n), np.zeros(n)])
        m.picture.accept(party, ReportBatch([f"{party}{j}" for j in range(n)], values), 1000.0)


def keys_of(findings) -> set:
    return {f.key for f in findings}


@pytest.mark.parametrize(("centre", "half_m"), [((36.0, 36.0), 600_000.0),
                                                 ((71.0, 25.0), 900_000.0),
                                                 ((-10.0, 179.0), 500_000.0)])
def test_a_partial_look_finds_what_the_whole_picture_finds(tmp_path, centre, half_m):
    m = mechanism(tmp_path, centre)
    fill(m, centre, 1500, half_m, seed=int(abs(centre[0])))
    states, _ = m.picture.snapshot(1000.0)
    everything = findings(states, m.terms)
    assert len(everything) > 20  # dense enough for the comparison to mean something
    rng = np.random.default_rng(7)
    for size in (1, 5, 64, 65, 400):
        subset = np.sort(rng.choice(len(states), size, replace=False))
        fresh = {(str(states.party[i]), str(states.id[i])) for i in subset.tolist()}
        expected = {f.key for f in everything if set(f.tracks) & fresh}
        assert keys_of(findings(states, m.terms, subset)) == expected, size
    m.close()
