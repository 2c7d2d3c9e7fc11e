"""Data contracts shared by every layer."""

from detente.model.airspace import Airspace, AirspaceKind
from detente.model.reports import TrackReport, report_problem
from detente.model.states import MAX_SPEED_MPS, MAX_VERTICAL_RATE_MPS, States

__all__ = [
    "MAX_SPEED_MPS",
    "MAX_VERTICAL_RATE_MPS",
    "Airspace",
    "AirspaceKind",
    "States",
    "TrackReport",
    "report_problem",
]
