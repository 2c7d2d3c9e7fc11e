"""Picture frames as they go to a party's clients: columns per owning party, not an object per
track, and numbers rounded to what a screen or a watch officer can use.

At 10,000 tracks a frame of objects was ~1.5 MB of JSON and took ~100 ms of the event loop to
encode, for each party, every cycle; in columns it is ~0.6 MB and a few ms. The frame is a
display feed: detection, alerts and the record work on the full-precision picture.

    {"seq": null, "type": "picture", "data": {"t": 1448355600.0, "groups": [
        {"party": "TUR", "precision_m": 0, "id": ["tk1", ...],
         "t": [...], "lat": [...], "lon": [...], "alt_m": [...],
         "gs_mps": [...], "trk_deg": [...], "vs_mps": [...]}, ...]}}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np

from detente.model.reports import REPORT_COLUMNS
from detente.service.sharing import Visible

__all__ = ["encode_picture_frame", "frame_tracks", "shown_tracks"]

# Decimals kept per column: t to 10 ms; lat/lon to 1e-6 deg (11 cm); altitude, speeds and
# track to a tenth of their unit.
_DECIMALS = {"t": 2, "lat": 6, "lon": 6, "alt_m": 1, "gs_mps": 1, "trk_deg": 1, "vs_mps": 1}
_ENCODER = msgspec.json.Encoder()


def _wire(g: Visible) -> dict[str, Any]:
    """One group as it goes on the wire."""
    group: dict[str, Any] = {"party": g.party, "precision_m": g.precision_m,
                             "id": g.ids.tolist()}
    for k, name in enumerate(REPORT_COLUMNS):
        group[name] = np.round(g.values[:, k], _DECIMALS[name]).tolist()
    return group


def encode_picture_frame(groups: Sequence[Visible], now: float) -> bytes:
    """The frame's JSON text (UTF-8), ready for every client of the party."""
    return _ENCODER.encode({"seq": None, "type": "picture",
                            "data": {"t": now, "groups": [_wire(g) for g in groups]}})


def shown_tracks(groups: Sequence[Visible]) -> list[dict[str, Any]]:
    """The tracks exactly as a client decodes them from the frame of ``groups`` (a replay
    shows what was shown)."""
    return frame_tracks({"groups": [_wire(g) for g in groups]})


def frame_tracks(data: dict[str, Any]) -> list[dict[str, Any]]:
    """A decoded frame's tracks, one dict each (party, id, precision_m and the columns): what a
    client does with a frame, for tests and tools."""
    tracks = []
    for g in data["groups"]:
        for k, track_id in enumerate(g["id"]):
            t = {"party": g["party"], "id": track_id, "precision_m": g["precision_m"]}
            t.update((name, g[name][k]) for name in REPORT_COLUMNS)
            tracks.append(t)
    return tracks
