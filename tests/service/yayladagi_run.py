"""The 2015 reconstruction flown through a real Mechanism in virtual time, for service tests.

The demo configuration (TUR, RUS, COA; Turkey's territory protected), a ManualClock, a real
store and record; every ``step_s`` of virtual time each party reports its aircraft of
``detente.scenario.yayladagi_2015`` flown on along its geodesic from the scenario's start, and
the mechanism runs one detection cycle and its escalation. ``terms`` changes what RUS shares
with TUR and the hotline's flash deadline.

By design (SCENARIO.md, data-prep/make_2015_scenario.py) the lead enters Turkey 150 s after
the start and leaves 17 s later; the wingman follows 16.7 s behind.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyproj import Geod

from detente.data import bundled_path
from detente.ledger import Ledger, origin_for
from detente.model.reports import TrackReport
from detente.scenario.yayladagi_2015 import ROWS
from detente.service.alerting import Transition
from detente.service.clock import ManualClock
from detente.service.config import Config, load_config
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store.database import open_database

GEOD = Geod(ellps="WGS84")
LOG = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)
START = 1_448_349_000.0  # 2015-11-24 07:10:00 UTC
LEAD_ENTRY_S = 150.0
LEAD_INSIDE_S = 17.0


def demo_config(rus_to_tur: dict[str, Any] | None = None, flash_s: float | None = None
                ) -> Config:
    """The demo configuration; ``rus_to_tur`` replaces fields of what RUS shares with TUR."""
    config = load_config(bundled_path("demo/border.toml"))
    agreements = []
    for ag in config.agreements:
        if set(ag.parties) == {"TUR", "RUS"}:
            shares = dict(ag.shares)
            if rus_to_tur:
                shares["RUS"] = dataclasses.replace(shares["RUS"], **rus_to_tur)
            ag = dataclasses.replace(ag, shares=shares, flash_deadline_s=(
                ag.flash_deadline_s if flash_s is None else flash_s))
        agreements.append(ag)
    return dataclasses.replace(config, agreements=tuple(agreements))


@dataclass
class Run:
    mechanism: Mechanism
    ledger: Ledger
    clock: ManualClock
    transitions: list[tuple[float, Transition]] = field(default_factory=list)

    def close(self) -> None:
        self.mechanism.close()


def reports(party: str, elapsed_s: float, now: float) -> list[TrackReport]:
    """``party``'s aircraft of the reconstruction ``elapsed_s`` after its start."""
    out = []
    for ident, owner, lat, lon, alt_m, gs, trk, vs in ROWS:
        if owner == party:
            lon2, lat2, back = GEOD.fwd(lon, lat, trk, gs * elapsed_s)
            out.append(TrackReport(ident, now, lat2, lon2, alt_m, gs, (back + 180) % 360, vs))
    return out


def fly(folder: Path, config: Config, until_s: float, step_s: float = 2.0,
        each: Callable[[Run, float], None] | None = None) -> Run:
    """Fly the reconstruction from its start to ``until_s`` (s); ``each(run, elapsed)``
    after every step's cycle."""
    clock = ManualClock(START)
    engine = open_database(f"sqlite:///{folder / 'detente.sqlite'}")
    ledger = Ledger(engine, LOG, origin=origin_for(f"detente/{config.region_name}"),
                    clock=clock.now, verify_workers=1)
    run = Run(Mechanism(config, engine, clock, Record(ledger, LOG, config, clock)), ledger,
              clock)

    async def go() -> None:
        m = run.mechanism
        elapsed = 0.0
        while elapsed <= until_s:
            now = clock.now()
            for party in ("RUS", "TUR"):
                await m.ingest(party, reports(party, elapsed, now))
            run.transitions += [(elapsed, tr) for tr in await m.cycle()]
            if each is not None:
                each(run, elapsed)
            clock.advance(step_s)
            elapsed += step_s

    asyncio.run(go())
    return run
