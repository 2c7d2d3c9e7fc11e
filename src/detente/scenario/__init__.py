"""Model cases rebuilt from public reports, for tests, demos and the README."""

from detente.scenario.yayladagi_2015 import (
    LABEL,
    REPORTED_SECONDS_INSIDE,
    scenario_states,
    turkey_territory,
)

__all__ = ["LABEL", "REPORTED_SECONDS_INSIDE", "scenario_states", "turkey_territory"]
