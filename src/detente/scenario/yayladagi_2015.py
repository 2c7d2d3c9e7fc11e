"""24 November 2015, Yayladağı salient (Hatay): a RECONSTRUCTION from public reports.

No claim is made about what really happened; Turkey and Russia disagree, and the figures here
are those of ../shared/SCENARIO.md: two Su-24M of party "RUS" on one straight track at 19,000 ft
(5,791 m), the wingman ~2 km in trail, clipping the southern tip of the Yayladağı salient
(about 35.808 N, 36.154 E on the OpenStreetMap border) for about 17 s, from Syria into Syria;
two Turkish F-16 of party "TUR" on patrol north of the border at 25,000 ft (7,620 m).

The numbers below were designed by ``data-prep/make_2015_scenario.py`` with dense geodesic
sampling only (not with the incursion engine): true track 260 deg, ground speed 120 m/s, the
lateral position chosen so that the sampled time inside Turkey's bundled territory is 17 s,
the lead 150 s of flight before its entry. The same rows are in examples/yayladagi_2015.csv.
"""

from __future__ import annotations

from detente.data import TURKEY_TERRITORY, bundled_path
from detente.formats.airspace_geojson import read_airspace_geojson
from detente.model.airspace import Airspace
from detente.model.states import States

__all__ = [
    "DESIGNED_ENTRY_S",
    "LABEL",
    "REPORTED_SECONDS_INSIDE",
    "ROWS",
    "scenario_states",
    "turkey_territory",
]

LABEL = (
    "Reconstruction from public reports of 24 Nov 2015 (Yayladağı salient); "
    "no claim about what really happened"
)
REPORTED_SECONDS_INSIDE = 17.0  # Turkey's letter to the UN Security Council
DESIGNED_ENTRY_S = 150.0  # the lead's entry, by design: 150 s of flight after this state

# id, party, lat (deg), lon (deg), alt_m (m), gs_mps (m/s), trk_deg (deg), vs_mps (m/s)
ROWS: tuple[tuple[str, str, float, float, float, float, float, float], ...] = (
    ("SU24-LEAD", "RUS", 35.844025, 36.361518, 5791.0, 120.0, 260.1226, 0.0),
    ("SU24-WING", "RUS", 35.847115, 36.383329, 5791.0, 120.0, 260.1354, 0.0),
    ("F16-1", "TUR", 36.050000, 36.250000, 7620.0, 180.0, 90.0, 0.0),
    ("F16-2", "TUR", 36.070000, 36.450000, 7620.0, 180.0, 270.0, 0.0),
)


def scenario_states() -> States:
    """The four aircraft at the reconstruction's start (SI units)."""
    columns = list(zip(*ROWS, strict=True))
    return States.from_columns(
        columns[0], *columns[2:8], party=columns[1]
    )


def turkey_territory() -> list[Airspace]:
    """Turkey's national territory as shipped in detente/data (owner "TUR"); reads ~1 MB."""
    path = bundled_path(TURKEY_TERRITORY)
    with path.open(encoding="utf-8") as stream:
        return read_airspace_geojson(stream, str(path.name))
