"""Time, injected: the service reads the clock through this, so tests run in virtual time.

Two readings: ``now``, the calendar (seconds of the UTC epoch: what reports, alerts and the
record are stamped with), and ``monotonic``, a clock that never steps, for pacing the
detection cycle and timing its chores. A manual or scaled calendar still paces the cycle by
the machine: a test that holds the calendar still must not stall the loop.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds of the UTC epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never stepping back (for pacing)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to (tests, replays)."""

    def __init__(self, start: float = 1_448_349_000.0) -> None:  # 2015-11-24 07:10 UTC
        self._t = float(start)

    def now(self) -> float:
        return self._t

    def monotonic(self) -> float:
        return time.monotonic()

    def advance(self, seconds: float) -> float:
        self._t += float(seconds)
        return self._t

    def set(self, t: float) -> None:
        self._t = float(t)


class ScaledClock:
    """A clock that starts at ``start`` (default: now) and runs ``rate`` times faster than the
    machine's: a compressed demo or replay. ``rate`` is public so that clients can follow."""

    def __init__(self, rate: float = 1.0, start: float | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"clock rate must be > 0, got {rate}")
        self.rate = float(rate)
        self._wall0 = time.time()
        self._start = self._wall0 if start is None else float(start)

    def now(self) -> float:
        return self._start + (time.time() - self._wall0) * self.rate

    def monotonic(self) -> float:
        return time.monotonic()
