"""Sharing at the source: what a node puts on a link of its own party's aircraft, and the
receiving node's check that a peer sent no more than its agreement gives.

``states_body`` is applied BEFORE anything leaves the node: only the reports inside the zones
the agreement gives (their exact positions), rounded to its grid (positions in the region's
projection, altitudes, speed, track, rate and time, as ``SharingPolicy.coarsen`` rounds them for
a hub's client). A delayed share is held back by the node (``MeshNode``) and put through here
when it is due.

``check_states`` is the receiver's side, a pure function of the frame's body and the terms:
it names the first thing that breaks them (a track of another party, a position outside
every shared zone by more than the grid's rounding could move it, a value off the grid, a
report younger than the delay allows, a malformed column), or returns the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from detente.geo.projection import LocalProjection
from detente.model.reports import REPORT_COLUMNS, ReportBatch
from detente.service.config import Share
from detente.service.sharing import SharingPolicy

__all__ = ["OutOfAgreement", "ZoneCheck", "check_states", "states_body"]

# Reports' times are rounded to the second on a coarse share: a report may then seem up to
# half a second younger than it is; and the two clocks' offset is measured to some ms.
_DELAY_SLACK_S = 1.5
_GRID_SLACK_DEG = 2e-6  # positions are written with 6 decimals
_VALUE_SLACK = 1e-6


class OutOfAgreement(Exception):
    """A peer sent what its agreement does not give; the message says what and where."""


def states_body(policy: SharingPolicy, party: str, ids: list[str], values: np.ndarray,
                share: Share) -> dict[str, Any] | None:
    """The states of ``party``'s reports (``ids``, (n, 7) ``values``) that ``share`` gives,
    as a frame body; None when none of them does."""
    if share.zones is not None:
        if share.zones.is_empty:
            return None
        inside = shapely.contains_xy(share.zones, values[:, 2], values[:, 1])
        if not inside.all():
            keep = np.flatnonzero(inside)
            ids = [ids[k] for k in keep.tolist()]
            values = values[keep]
    if not ids:
        return None
    values = policy.coarsen(values, share.precision_m, share.alt_precision_m)
    return {"party": party, "precision_m": share.precision_m, "ids": ids,
            "v": values.tolist()}


@dataclass(frozen=True)
class ZoneCheck:
    """A share's zones in the region's grid, widened by what rounding to the grid may move a
    position (half a cell's diagonal), prepared: built once per agreement."""

    zones: shapely.Geometry | None  # None: everywhere

    @classmethod
    def of(cls, share: Share, projection: LocalProjection) -> ZoneCheck:
        if share.zones is None:
            return cls(None)
        grid = shapely.transform(share.zones, lambda xy: np.column_stack(
            projection.forward(xy[:, 1], xy[:, 0])))
        widened = grid.buffer(share.precision_m * math.sqrt(0.5) + 1.0)
        shapely.prepare(widened)
        return cls(widened)

    def outside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.zones is None:
            return np.zeros(x.shape, dtype=bool)
        return ~shapely.contains_xy(self.zones, x, y)


def check_states(body: dict[str, Any], peer: str, share: Share | None, zones: ZoneCheck,
                 policy: SharingPolicy, sent_at: float, max_batch: int) -> ReportBatch:
    """The reports of a ``states`` frame from ``peer``'s node, checked against what ``peer``
    shares with this node (``share``: None when nothing) and sent at ``sent_at`` (the
    peer's clock, s). OutOfAgreement names the first breach."""
    if share is None or (share.zones is not None and share.zones.is_empty):
        raise OutOfAgreement(f"{peer} shares no tracks with this party, yet sent some")
    if body.get("party") != peer:
        raise OutOfAgreement(f"party: {body.get('party')!r}: a node sends its own party's "
                             f"aircraft only ({peer})")
    ids, rows = body.get("ids"), body.get("v")
    if (not isinstance(ids, list) or not isinstance(rows, list) or len(ids) != len(rows)
            or not 0 < len(ids) <= max_batch):
        raise OutOfAgreement("ids, v: not two lists of the same length, 1 to "
                             f"{max_batch} long")
    if not all(isinstance(i, str) for i in ids):
        raise OutOfAgreement("ids: a track id is text")
    try:
        values = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        raise OutOfAgreement("v: not rows of numbers") from None
    if values.shape != (len(ids), len(REPORT_COLUMNS)):
        raise OutOfAgreement(f"v: rows of {len(REPORT_COLUMNS)} numbers "
                             f"({', '.join(REPORT_COLUMNS)})")
    batch = ReportBatch(ids, values)
    problem = batch.first_problem()
    if problem is not None:
        k, name, words = problem
        raise OutOfAgreement(f"states[{k}].{name}: {words}")
    x, y = policy.projection.forward(values[:, 1], values[:, 2])
    outside = zones.outside(x, y)
    if outside.any():
        k = int(np.argmax(outside))
        raise OutOfAgreement(f"states[{k}] ({ids[k]}) at {values[k, 1]:.5f} N "
                             f"{values[k, 2]:.5f} E: outside every zone {peer} shares")
    if share.precision_m > 0:
        again = policy.coarsen(values, share.precision_m, share.alt_precision_m)
        off = np.abs(again - values)
        slack = np.array([_VALUE_SLACK, _GRID_SLACK_DEG, _GRID_SLACK_DEG, _VALUE_SLACK,
                          _VALUE_SLACK, _VALUE_SLACK, _VALUE_SLACK])
        bad = (off > slack).any(axis=1)
        if bad.any():
            k = int(np.argmax(bad))
            column = REPORT_COLUMNS[int(np.argmax(off[k] > slack))]
            raise OutOfAgreement(f"states[{k}].{column} ({ids[k]}): finer than the agreed "
                                 f"grid ({share.precision_m:g} m)")
    # Without a delay the sender's feed may run a little ahead of its node's clock: the
    # receiver's own bound on reports from the future holds then.
    young = values[:, 0] > sent_at - share.delay_s + _DELAY_SLACK_S
    if share.delay_s > 0 and young.any():
        k = int(np.argmax(young))
        raise OutOfAgreement(f"states[{k}].t ({ids[k]}): {sent_at - values[k, 0]:.1f} s old "
                             f"when sent; the agreement delays them {share.delay_s:g} s")
    return batch
