"""The DSS's state: the regions it serves, and beside detente's intents its subscriptions,
constraint references and USS availability, rebuilt from the store at start.

A region is a grid (``LocalProjection``) with its ``IntentBook`` (the first is detente's own,
shared with detente's API) and a ``VolumeIndex`` each for subscriptions and constraints. An
entity belongs to the region nearest its first footprint point; regions lie more than twice
``MAX_REGION_RADIUS_M`` apart, so no entity can fit two. Everything the DSS does happens under
``lock``, and, for intents, under their book's lock inside it.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import shapely
from pyproj import Geod

from detente.engines.f3548 import AgreementPolicy
from detente.engines.strategic import MAX_REGION_RADIUS_M, Volumes, project_volumes
from detente.engines.volume_index import VolumeIndex
from detente.errors import GeometryError, InputError
from detente.geo.geodesic import geodesic_distance
from detente.geo.projection import LocalProjection
from detente.model.intent import Circle, OperationalIntent, Volume4D
from detente.service.dss.model import (
    AreaTooLargeError,
    Availability,
    Constraint,
    OirMeta,
    OirRef,
    Subscription,
)
from detente.service.dss.settings import DssSettings
from detente.service.intents import IntentBook
from detente.store.dss import DssTables
from detente.store.intents import Step

__all__ = ["DssState", "Region"]

_GEOD = Geod(ellps="WGS84")

# Grid slack when asking whether a subscription's footprints cover an intent's: the grid's
# stretch (< 0.4 % within 1,000 km of the centre) and circles drawn as 64-gons.
_COVER_SLACK_M = 1.0


class Region:
    """One grid of the area served, with what the DSS indexes in it."""

    __slots__ = ("book", "constraints", "subs")

    def __init__(self, book: IntentBook) -> None:
        self.book = book
        self.subs = VolumeIndex(book.projection)
        self.constraints = VolumeIndex(book.projection)

    @property
    def projection(self) -> LocalProjection:
        return self.book.projection

    def project(self, volumes: Sequence[Volume4D], group: int = -1) -> Volumes:
        probe = OperationalIntent("\x00probe", "\x00probe", "Accepted", 0, tuple(volumes))
        return project_volumes([probe], self.projection, group=[group])


def _far_apart(centres: Sequence[tuple[float, float]]) -> None:
    for a in range(len(centres)):
        for b in range(a):
            d = float(geodesic_distance(*centres[a], *centres[b]))
            if d <= 2 * MAX_REGION_RADIUS_M:
                raise InputError(
                    f"dss.regions: the areas about {centres[b]} and {centres[a]} are "
                    f"{d / 1000:.0f} km apart; regions must be more than "
                    f"{2 * MAX_REGION_RADIUS_M / 1000:.0f} km apart (one grid each)")


class DssState:
    """Everything the DSS interface keeps; see the module docstring.

    Parameters
    ----------
    settings : DssSettings
    main : IntentBook
        detente's own book (the region of ``region.centre``).
    policy : AgreementPolicy
        The agreements, for the priority rule against detente's own intents.
    now : float
        s, UTC epoch: what is live at start.
    """

    def __init__(self, settings: DssSettings, main: IntentBook, policy: AgreementPolicy, *,
                 now: float, new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.settings = settings
        self.policy = policy
        self.new_id = new_id
        self.lock = threading.RLock()
        engine = main.engine
        self.tables = DssTables(engine)
        centres = [(main.projection.lat0, main.projection.lon0), *settings.regions]
        _far_apart(centres)
        self.regions = [Region(main)] + [
            Region(IntentBook.load(engine, LocalProjection(*c), now=now, foreign=False))
            for c in settings.regions
        ]
        self._centres = np.array(centres, dtype=float)
        self.subs: dict[str, Subscription] = {}
        self.dependents: dict[str, set[str]] = {}  # subscription id -> intent ids
        self.constraints: dict[str, Constraint] = {}
        self.availability: dict[str, Availability] = {}
        with self.lock:
            self._load(now)

    # --- start ---------------------------------------------------------------------------

    def _load(self, now: float) -> None:
        for ident, manager, url, sub_id, version in self.tables.oir_metas():
            for region in self.regions:
                if region.book.get(ident, now=now) is not None:
                    region.book.managed[ident] = OirMeta(manager, url, sub_id, version)
                    if sub_id is not None:
                        self.dependents.setdefault(sub_id, set()).add(ident)
        for row in self.tables.live_subscriptions(now):
            sub = Subscription(
                id=row["id"], manager=row["manager"], version=row["version"],
                notification_index=row["notification_index"], uss_base_url=row["uss_base_url"],
                notify_for_operational_intents=bool(row["notify_oi"]),
                notify_for_constraints=bool(row["notify_c"]), implicit=bool(row["implicit"]),
                time_start=row["time_start"], time_end=row["time_end"], volumes=row["volumes"])
            self.put_sub_in_memory(sub)
        for row in self.tables.live_constraints(now):
            cr = Constraint(id=row["id"], manager=row["manager"], version=row["version"],
                            ovn=row["ovn"], uss_base_url=row["uss_base_url"],
                            volumes=row["volumes"])
            self.put_constraint_in_memory(cr)
        for uss, availability, version in self.tables.availabilities():
            self.availability[uss] = Availability(uss, availability, version)

    # --- regions -------------------------------------------------------------------------

    def region_for(self, volumes: Sequence[Volume4D]) -> Region:
        """The region nearest the first footprint point of ``volumes``."""
        fp = volumes[0].footprint
        lat, lon = (fp.lat, fp.lon) if isinstance(fp, Circle) else (fp.lat[0], fp.lon[0])
        if len(self.regions) == 1:
            return self.regions[0]
        d = geodesic_distance(self._centres[:, 0], self._centres[:, 1], lat, lon)
        return self.regions[int(np.argmin(d))]

    def project(self, volumes: Sequence[Volume4D]) -> tuple[Region, Volumes]:
        """The region of ``volumes`` and their rows in its grid; InputError beyond it."""
        region = self.region_for(volumes)
        try:
            return region, region.project(volumes)
        except GeometryError as exc:
            raise InputError(f"outside the area this DSS serves: {exc}") from None

    def check_area(self, volumes: Sequence[Volume4D]) -> None:
        """AreaTooLargeError for a footprint larger than ``max_area_km2``."""
        limit = self.settings.max_area_km2 * 1e6
        for k, v in enumerate(volumes):
            fp = v.footprint
            if isinstance(fp, Circle):
                area = np.pi * fp.radius_m ** 2
            else:
                area, _ = _GEOD.polygon_area_perimeter(fp.lon, fp.lat)
                area = abs(area)
            if area > limit:
                raise AreaTooLargeError(
                    f"volume {k}: the area is {area / 1e6:,.0f} km², more than the "
                    f"{self.settings.max_area_km2:,.0f} km² this DSS accepts")

    def find_intent(self, intent_id: str, now: float) -> tuple[Region, OperationalIntent] | None:
        for region in self.regions:
            intent = region.book.get(intent_id, now=now)
            if intent is not None:
                return region, intent
        return None

    def ref(self, region: Region, intent: OperationalIntent) -> OirRef:
        return OirRef(intent, region.book.managed.get(intent.id))

    def live_dependents(self, sub_id: str, now: float) -> list[str]:
        """The live intents that rely on subscription ``sub_id``."""
        out = []
        for intent_id in sorted(self.dependents.get(sub_id, ())):
            found = self.find_intent(intent_id, now)
            if found is not None:
                meta = found[0].book.managed.get(intent_id)
                if meta is not None and meta.subscription_id == sub_id:
                    out.append(intent_id)
        return out

    # --- subscriptions and constraints in memory (after their commit) -------------------

    def live_sub(self, sub_id: str, now: float) -> Subscription | None:
        sub = self.subs.get(sub_id)
        if sub is not None and sub.time_end < now:
            self.drop_sub_in_memory(sub_id)
            return None
        return sub

    def put_sub_in_memory(self, sub: Subscription) -> None:
        """``sub`` as committed (the intents relying on it stay as they were)."""
        for region in self.regions:
            region.subs.remove(sub.id)
        self.subs[sub.id] = sub
        if sub.volumes:
            region, vols = self.project(sub.volumes)
            region.subs.insert(sub.id, vols, sub.time_end)

    def drop_sub_in_memory(self, sub_id: str) -> None:
        """The subscription ``sub_id`` deleted (or over), and what relied on it with it."""
        self.dependents.pop(sub_id, None)
        if self.subs.pop(sub_id, None) is not None:
            for region in self.regions:
                region.subs.remove(sub_id)

    def put_constraint_in_memory(self, cr: Constraint) -> None:
        self.drop_constraint_in_memory(cr.id)
        self.constraints[cr.id] = cr
        region, vols = self.project(cr.volumes)
        region.constraints.insert(cr.id, vols, cr.time_end)

    def drop_constraint_in_memory(self, cr_id: str) -> None:
        if self.constraints.pop(cr_id, None) is not None:
            for region in self.regions:
                region.constraints.remove(cr_id)

    def live_constraint(self, cr_id: str, now: float) -> Constraint | None:
        cr = self.constraints.get(cr_id)
        if cr is not None and cr.time_end < now:
            self.drop_constraint_in_memory(cr_id)
            return None
        return cr

    # --- searches ------------------------------------------------------------------------

    def subs_touching(self, volumes: Sequence[Volume4D], now: float) -> list[Subscription]:
        """Live subscriptions whose volumes meet one of ``volumes`` (sorted by id)."""
        if not volumes:
            return []
        region = self.region_for(volumes)
        for gone in region.subs.expire(now):
            self.subs.pop(gone, None)
            self.dependents.pop(gone, None)
        if not len(region.subs):  # nothing to meet: spare the projection
            return []
        _, vols = self.project(volumes)
        return [self.subs[i] for i in sorted(set(region.subs.hits(vols).ids))]

    def constraints_touching(self, volumes: Sequence[Volume4D], now: float
                             ) -> list[Constraint]:
        region = self.region_for(volumes)
        for gone in region.constraints.expire(now):
            self.constraints.pop(gone, None)
        if not len(region.constraints):
            return []
        _, vols = self.project(volumes)
        return [self.constraints[i] for i in sorted(set(region.constraints.hits(vols).ids))]

    def covers(self, sub: Subscription, volumes: Sequence[Volume4D]) -> bool:
        """Does ``sub`` cover ``volumes`` in time and on the ground (F3548: a subscription an
        intent relies on covers it)?"""
        if not sub.volumes:
            return False
        if (sub.time_start > min(v.time_start_s for v in volumes)
                or sub.time_end < max(v.time_end_s for v in volumes)):
            return False
        region, mine = self.project(sub.volumes)
        theirs = region.project(volumes)
        area = shapely.union_all(_shapes(mine)).buffer(_COVER_SLACK_M)
        return bool(np.all(shapely.covers(area, _shapes(theirs))))

    def notify(self, volumes: Sequence[Volume4D], steps: list[Step], now: float, *,
               constraints: bool = False, also: Subscription | None = None,
               leave: str | None = None) -> list[Subscription]:
        """The subscriptions (for operational intents, or ``constraints``) meeting
        ``volumes``, each with its notification index one up, the updates added to ``steps``;
        ``also`` one made or grown in this write (as it now is), ``leave`` one deleted in it.
        Call ``notified`` once committed."""
        subs = {s.id: s for s in self.subs_touching(volumes, now)
                if (s.notify_for_constraints if constraints
                    else s.notify_for_operational_intents)}
        if also is not None:
            subs[also.id] = also
        if leave is not None:
            subs.pop(leave, None)
        out = []
        for sub_id in sorted(subs):
            sub = subs[sub_id].notified()
            steps.append(self.tables.notification_step(sub.id, sub.notification_index))
            out.append(sub)
        return out

    def notified(self, subs: Sequence[Subscription]) -> None:
        """Bring the notification indices in memory to what was committed."""
        for sub in subs:
            current = self.subs.get(sub.id)
            if current is not None and current.notification_index < sub.notification_index:
                self.subs[sub.id] = sub

    def availability_of(self, uss: str) -> Availability:
        return self.availability.get(uss) or Availability(uss, "Unknown", "")

    @staticmethod
    def new_version() -> str:
        return secrets.token_hex(16)


def _shapes(vols: Volumes) -> np.ndarray:
    """Footprints in the grid as areas: circles drawn as polygons about their centres."""
    out = vols.geometry.copy()
    circle = np.flatnonzero(~np.isnan(vols.radius_m))
    if circle.size:
        out[circle] = shapely.buffer(vols.geometry[circle], vols.radius_m[circle], quad_segs=16)
    return out


def dump(sub: Subscription) -> dict[str, Any]:
    """The fields of ``sub``, for its row."""
    return {f: getattr(sub, f) for f in Subscription.__slots__}
