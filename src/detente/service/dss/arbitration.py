"""USS availability and reports: what the DSS is told about USSs, and about other DSSs.

Availability: any USS is ``Unknown`` until a client with the availability arbitration scope
sets it; each change names the version it replaces ("" for the first). A USS marked ``Down``
may not plan (Accepted, Activated) nor delete (``oirs``), and its Accepted intents need not
be in others' keys. Anybody allowed to coordinate may read any USS's availability: F3548
publishes it in every reference.

Reports: kept in the store, with who sent them and when, for the operator; the API shows them
to nobody.
"""

from __future__ import annotations

from typing import Any

from detente.errors import ConflictingWriteError, InputError
from detente.service.dss.model import AVAILABILITY_STATES, Availability
from detente.service.dss.state import DssState

__all__ = ["get_availability", "report", "set_availability"]


def get_availability(state: DssState, uss: str) -> Availability:
    with state.lock:
        return state.availability_of(uss)


def set_availability(state: DssState, uss: str, old_version: str, availability: str
                     ) -> Availability:
    if availability not in AVAILABILITY_STATES:
        raise InputError(f"availability: {availability!r} is not one of "
                         f"{', '.join(AVAILABILITY_STATES)}")
    with state.lock:
        current = state.availability_of(uss)
        if old_version != current.version:
            raise ConflictingWriteError(
                f"availability of {uss}: version {old_version!r} is not the current one")
        new = Availability(uss, availability, state.new_version())
        state.tables.commit(state.tables.availability_steps(uss, availability, new.version),
                            f"availability of {uss}")
        state.availability[uss] = new
        return new


def report(state: DssState, reporter: str, body: Any, now: float) -> str:
    """Keep a report; returns the id given to it."""
    report_id = state.new_id()
    with state.lock:
        state.tables.commit([state.tables.report_step(report_id, reporter, now, body)],
                            "a report")
    return report_id
