"""Checking a batch of Ed25519 signatures in several threads at once.

The check (``keys.ed25519_verifies``, libsodium) releases the GIL, so threads check
signatures in parallel, with nothing to pickle or send to another process. The checks of a
batch go to a thread pool in chunks once the caller has done its pure-Python work; the caller
then writes the batch's rows to the database, which releases the GIL at each row, and
``finish`` has it take every chunk no pool thread has started (the last first: the pool takes
them from the front) and wait for the rest.

Why not start the threads at once, to overlap the caller's Python work too: a thread that
comes back from a check needs the GIL for a moment, and waits for it while the caller runs
Python, up to the interpreter's switch interval (5 ms), then forces a switch; on a machine
whose cores are busy with other work, each forced switch also waits for the scheduler. In
measurements that made the threads a loss (see the README's record section).
"""

from __future__ import annotations

from collections.abc import Hashable
from concurrent.futures import Executor, Future

from detente.ledger.keys import ed25519_verifies

__all__ = ["CHUNK", "SignatureChecks", "invalid_signatures"]

# Signatures per task: some 4 ms of work, against some 20 us to hand a task to a thread.
CHUNK = 32

Check = tuple[Hashable, bytes, bytes, bytes]


def invalid_signatures(checks: list[Check]) -> list[Hashable]:
    """Tags of the ``(tag, public_key, signature, message)`` checks that do not verify, in
    order."""
    return [tag for tag, raw, signature, message in checks
            if not ed25519_verifies(raw, signature, message)]


class SignatureChecks:
    """The signature checks of one batch: ``add`` them, ``start``, then ``finish``.

    With no executor, ``finish`` checks them all in the calling thread.
    """

    __slots__ = ("_chunk", "_chunks", "_executor", "_size", "_tasks", "tags")

    def __init__(self, executor: Executor | None, chunk: int = CHUNK) -> None:
        self._executor = executor
        self._size = chunk
        self._chunk: list[Check] = []
        self._chunks: list[list[Check]] = []
        self._tasks: list[tuple[list[Check], Future[list[Hashable]] | None]] = []
        self.tags: list[Hashable] = []  # of every check added, in order

    def add(self, tag: Hashable, public_key: bytes, signature: bytes, message: bytes) -> None:
        """Queue a check of ``signature`` over ``message`` with the raw 32-byte key."""
        self._chunk.append((tag, public_key, signature, message))
        self.tags.append(tag)
        if len(self._chunk) >= self._size:
            self._chunks.append(self._chunk)
            self._chunk = []

    def start(self) -> None:
        """No more checks: hand every chunk to the threads, which start at once.

        Call it once the caller's own pure-Python work is done: a thread that finishes a check
        while the caller holds the GIL waits for it (``sys.getswitchinterval``, 5 ms), then
        forces a switch, and on a busy machine each such switch can wait for the scheduler.
        """
        if self._chunk:
            self._chunks.append(self._chunk)
            self._chunk = []
        for chunk in self._chunks[len(self._tasks):]:
            future = None if self._executor is None else self._executor.submit(
                invalid_signatures, chunk)
            self._tasks.append((chunk, future))

    def finish(self) -> list[Hashable]:
        """Tags of the checks that failed, in the order they were added."""
        self.start()
        mine: dict[int, list[Hashable]] = {}
        for k in range(len(self._tasks) - 1, -1, -1):
            chunk, future = self._tasks[k]
            # A task no thread has started can be cancelled, and is then checked here.
            if future is None or future.cancel():
                mine[k] = invalid_signatures(chunk)
        bad: list[Hashable] = []
        for k, (_chunk, future) in enumerate(self._tasks):
            found = mine.get(k)
            if found is None:
                assert future is not None
                found = future.result()
            bad += found
        return bad
