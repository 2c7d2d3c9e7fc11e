"""Why a feed record gave no track report: the vocabulary every feed reader counts in.

A real surveillance feed always carries records that cannot become a report (an aircraft on the
ground, a position not yet decoded, a noisy value). Those are not errors of the document: the
readers skip them and count them, keyed by ``Reject(reason, field)``, so an operator can see what
a feed lost and why. A document that is malformed (wrong shape, wrong types) is an error instead
and raises :class:`detente.errors.InputError`.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from detente.model.reports import TrackReport

__all__ = [
    "INVALID",
    "NULL",
    "ON_GROUND",
    "Decoded",
    "Reject",
]

NULL = "null"  # a field the report needs is absent (JSON null, empty SBS-1 field)
ON_GROUND = "on ground"  # surface traffic: not part of the airborne picture
INVALID = "invalid"  # converted, then refused by report_problem; field is the TrackReport field


class Reject(NamedTuple):
    """One reason a record was skipped: ``reason`` (a constant above or a reader's own) and the
    ``field`` it concerns (the source's field name for NULL, the TrackReport field for INVALID,
    None when no single field is to blame)."""

    reason: str
    field: str | None = None


class Decoded(NamedTuple):
    """What a feed reader returns: the usable reports, in input order, and the skip counts."""

    reports: list[TrackReport]
    rejected: Counter[Reject]
