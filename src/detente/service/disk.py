"""A disk that fills up: free space watched, the oldest recording pruned, new reports refused.

What is measured is the free space of the filesystem that holds the SQLite database (its WAL
grows there too), plus the pages the database holds free: rows deleted leave their pages to
the next writes, so a pruned database stops growing without giving bytes back to the
filesystem. Both in MB (10**6 bytes).

- Below ``disk_warn_mb`` an episode starts: every party is told once (a durable ``service``
  event on its stream, read by its officials' consoles) and a line is logged; then, at every
  check while space is below the threshold, the recorded track reports are pruned oldest
  first, as retention prunes them (whole segments, received before a time, the latest report
  kept: a number the record's anchors name is never given again; ``detente export
  --with-recording`` starts its recording at the first report still held and the replay
  leaves the anchors before it unchecked). The reports of the last ``stale_s`` and future
  tolerance stay: they are the live picture a restart restores. Nothing else is pruned: the
  record (the ledger) never is, and the parties' streams, alerts and hotline messages keep
  their retention.
- Below ``disk_refuse_mb`` (what pruning could not free), new reports are refused with a
  DiskFullError (HTTP 503 with Retry-After): the sender keeps them and sends them again. The
  record's appends (hotline messages, acknowledgements, alerts, receipts) go on for as long
  as SQLite can write; a write SQLite itself refuses (SQLITE_FULL) is a DiskFullError too,
  rolled back whole (``store.database.store_error``).
- The episode ends once the filesystem itself has ``disk_warn_mb`` free again (the operator
  made room): every party is told that too.

Need-to-know: free space on the operator's disk and the time before which the recording was
pruned concern every party alike; no count of reports (another party's traffic) is told.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from detente.errors import DiskFullError
from detente.service.config import ServiceSettings
from detente.store import recording as rec
from detente.store.database import free_page_bytes

__all__ = ["DiskWatch", "Space", "prune_horizon"]

log = logging.getLogger("detente.service")

MB = 1e6
# Pruning goes on until this much more than the warning threshold is free, so that the next
# few seconds of reports do not start it again at once.
_MARGIN = 0.1
_STEPS = 8  # the prunable span is pruned an eighth at a time, oldest first


@dataclass(frozen=True)
class Space:
    """Free space as measured: the filesystem's, and the database's free pages (bytes)."""

    filesystem: int
    pages: int

    @property
    def usable_mb(self) -> float:
        return (self.filesystem + self.pages) / MB

    @property
    def filesystem_mb(self) -> float:
        return self.filesystem / MB


def prune_horizon(first: float | None, keep_from: float, steps: int = _STEPS) -> float | None:
    """The time before which the next step of pruning deletes reports: an ``steps``-th of the
    span from the first report held (``first``) to ``keep_from`` (the reports received since
    then stay), at least a second; None when there is nothing before ``keep_from``."""
    if first is None or first >= keep_from:
        return None
    return min(first + max((keep_from - first) / steps, 1.0), keep_from)


class DiskWatch:
    """The checks of one service. ``publish(events, now)`` writes durable events; ``folder``
    None (an in-memory or non-SQLite database) turns the watch off."""

    def __init__(self, settings: ServiceSettings, folder: Path | None, engine: Engine,
                 recorder: rec.Recorder, parties: Sequence[str],
                 publish: Callable[[list[tuple[str, str, dict[str, Any]]], float],
                                   Awaitable[None]],
                 measure: Callable[[], Space] | None = None) -> None:
        self.warn_mb = settings.disk_warn_mb
        self.refuse_mb = settings.disk_refuse_mb
        self.retry_after_s = max(5.0, 2 * settings.disk_check_s)
        self.keep_s = settings.stale_s + settings.future_tolerance_s
        self.folder = folder
        self.engine = engine
        self.recorder = recorder
        self.parties = list(parties)
        self.publish = publish
        self._measure = measure or self._measure_disk
        self.active = settings.disk_warn_mb > 0 and (folder is not None or measure is not None)
        self.low = False  # in an episode: the filesystem went below disk_warn_mb
        self.refusing = False
        self.pruned_before: float | None = None  # no report received before it is held
        self._told: str | None = None  # what the parties were last told: low, full, ok

    def _measure_disk(self) -> Space:
        assert self.folder is not None
        return Space(shutil.disk_usage(self.folder).free, free_page_bytes(self.engine))

    def refuse_new_reports(self) -> None:
        """Raise DiskFullError while new reports are refused."""
        if self.refusing:
            raise DiskFullError(
                f"the service's disk is nearly full (under {self.refuse_mb:g} MB free after "
                "pruning the oldest recording): new reports are refused, nothing of this "
                "batch was recorded; keep it and send it again later", self.retry_after_s)

    async def check(self, now: float) -> Space | None:
        """Measure, prune while low, set the refusal, tell the parties of a change. The
        measures run in a worker thread, the pruning in the recorder's."""
        if not self.active:
            return None
        space = await asyncio.to_thread(self._measure)
        if space.usable_mb < self.warn_mb:
            if not self.low:
                log.warning("disk low: %.1f MB free for the database (%.1f MB on the "
                            "filesystem), under disk_warn_mb %g: pruning the oldest recording",
                            space.usable_mb, space.filesystem_mb, self.warn_mb)
            self.low = True
            space = await self._prune(space, now)
        elif self.low and space.filesystem_mb >= self.warn_mb * (1 + _MARGIN):
            self.low = False
            log.warning("disk no longer low: %.1f MB free on the filesystem",
                        space.filesystem_mb)
        refusing = space.usable_mb < self.refuse_mb or (
            self.refusing and space.usable_mb < self.refuse_mb * (1 + _MARGIN))
        if refusing != self.refusing:
            self.refusing = refusing
            log.warning("disk %s: %.1f MB free for the database (disk_refuse_mb %g): new "
                        "reports are %s", "full" if refusing else "has room again",
                        space.usable_mb, self.refuse_mb,
                        "refused" if refusing else "accepted again")
        await self._tell(space, now)
        return space

    async def _prune(self, space: Space, now: float) -> Space:
        """Prune the oldest recording a step at a time until enough is free or nothing is
        left that may go."""
        target = self.warn_mb * (1 + _MARGIN)
        keep_from = now - self.keep_s
        horizon: float | None = None
        while space.usable_mb < target:
            first = await asyncio.to_thread(rec.oldest_received, self.engine)
            # Never back: what is held before the last horizon is what may not go (the
            # latest report, an old one when reports stopped coming).
            if first is not None and horizon is not None:
                first = max(first, horizon)
            horizon = prune_horizon(first, keep_from)
            if horizon is None:
                break
            while True:
                work, deleted = rec.prune_reports_before(horizon)
                await asyncio.wrap_future(self.recorder.submit(work))
                if deleted[0] < rec.PRUNE_CHUNK:
                    break
            self.pruned_before = horizon
            space = await asyncio.to_thread(self._measure)
        return space

    async def _tell(self, space: Space, now: float) -> None:
        """One event to every party at each change of state: low, full, ok again."""
        state = "full" if self.refusing else "low" if self.low else "ok"
        if state == self._told or (state == "ok" and self._told is None):
            return
        data = {"disk": state, "free_mb": round(space.usable_mb, 1),
                "warn_mb": self.warn_mb, "refuse_mb": self.refuse_mb,
                "reports_refused": self.refusing, "recording_pruned_before": self.pruned_before}
        try:
            await self.publish([(p, "service", data) for p in self.parties], now)
        except Exception:  # told at the next check, the disk permitting
            log.exception("telling the parties the disk is %s failed", state)
            return
        self._told = state
