"""The mechanism's side of the record: what it says itself, and what it lets parties say.

The service speaks as author ``detente`` with the log's own key (alerts, escalations,
deliveries, automatic warnings); its key is registered in the log at first start. Parties and
officials speak for themselves: the service checks that a statement's author is the caller
(``TUR`` for a party login, ``TUR/tur-watch`` for an official), and that a key registered in
the log is one the configuration lists for that author, then appends it. Appends are durable
(fsync) before any receipt is returned, so they run in a worker thread.

Group commit: callers that come while an append is running wait for it to end, then all go
into the next one together (``Ledger.append_groups``: one transaction, one fsync, one signed
tree head), each caller's statements in its order, and all or nothing for that caller alone:
one caller's bad statement refuses that caller, not the others. A lone caller waits for no one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from detente.errors import ConflictingWriteError, DetenteError, InputError
from detente.ledger import Ledger, Receipt, SignedStatement, key_statement, sign_statement
from detente.ledger.keys import Ed25519PrivateKey, b64decode_strict, public_key_bytes
from detente.ledger.statements import KIND_KEY_REGISTER, KIND_KEY_ROTATE
from detente.service.auth import Principal
from detente.service.clock import Clock
from detente.service.config import Config

__all__ = ["SERVICE_AUTHOR", "Record", "author_of"]

SERVICE_AUTHOR = "detente"
# Statements per combined append, at most (a single caller's batch may be larger).
GROUP_COMMIT_MAX = 10_000
_SIGN_IN_THREAD_FROM = 16  # statements


def author_of(p: Principal) -> str:
    """How a caller signs in the record: the party, or ``party/official``."""
    return p.party if p.official is None else f"{p.party}/{p.official}"


class Record:
    def __init__(self, ledger: Ledger, log_key: Ed25519PrivateKey, config: Config,
                 clock: Clock) -> None:
        self.ledger = ledger
        self.log_key = log_key
        self.config = config
        self.clock = clock
        if ledger.keys.current(SERVICE_AUTHOR) is None:
            ledger.append(key_statement(log_key, log_key, author=SERVICE_AUTHOR,
                                        time=clock.now()))
        # Callers waiting for the next append, in order of arrival, and the task running them.
        self._waiting: list[tuple[list[SignedStatement], asyncio.Future[list[Receipt]]]] = []
        self._committer: asyncio.Task[None] | None = None
        # Told of every append's receipts (entries included), in the order of the log: the
        # mechanism hands each party the entries addressed to it, for its delivery receipt.
        self.on_appended: Callable[[list[Receipt]], None] | None = None

    def configured_keys(self, author: str) -> list[bytes]:
        """The raw public keys the configuration allows ``author`` to register."""
        party, _, official = author.partition("/")
        if party not in self.config.parties:
            return []
        if official:
            o = self.config.official(official)
            return [] if o is None or o.party != party else [public_key_bytes(o.public_key)]
        return [public_key_bytes(k) for k in self.config.parties[party].public_keys]

    async def say(self, items: Sequence[tuple[str, dict[str, Any], int | None]]
                  ) -> list[Receipt]:
        """Append the service's own statements (kind, body, ref), in order, durably."""
        if not items:
            return []
        now = self.clock.now()

        def sign() -> list[SignedStatement]:
            return [sign_statement(self.log_key, kind=kind, author=SERVICE_AUTHOR, time=now,
                                   body=body, ref=ref) for kind, body, ref in items]

        # A few statements sign in tens of microseconds; a cycle's many (automatic warnings
        # in a dense picture) would hold the event loop for milliseconds.
        signed = sign() if len(items) < _SIGN_IN_THREAD_FROM else await asyncio.to_thread(sign)
        return await self._append(signed)

    def check_party_statement(self, caller: Principal, signed: SignedStatement,
                              kinds: Sequence[str] | None = None) -> None:
        """Refuse a statement the caller may not make (before anything is stored)."""
        st = signed.statement
        author = author_of(caller)
        if st.author != author:
            raise ConflictingWriteError(
                f"statement author {st.author!r} is not the caller ({author})")
        if kinds is not None and st.kind not in kinds:
            raise InputError(f"statement kind {st.kind!r} is not one of {', '.join(kinds)}")
        if st.kind in (KIND_KEY_REGISTER, KIND_KEY_ROTATE):
            raw = b64decode_strict(str(st.body.get("public_key", "")), "public_key")
            if raw not in self.configured_keys(author):
                raise ConflictingWriteError(
                    f"key {st.body.get('public_key')} is not a key the configuration lists "
                    f"for {author}")
        if abs(st.time - self.clock.now()) > 300:
            raise InputError(f"statement time is {st.time - self.clock.now():+.0f} s from the "
                             "service's clock (limit 300 s): check the signer's clock")

    async def append_party(self, caller: Principal, statements: Sequence[SignedStatement],
                           kinds: Sequence[str] | None = None) -> list[Receipt]:
        """Append a caller's own signed statements, all or none, once each passes
        ``check_party_statement``; the ledger checks signatures and key rules."""
        if not statements:
            raise InputError("append needs at least one statement")
        for s in statements:
            self.check_party_statement(caller, s, kinds)
        return await self._append(list(statements))

    async def _append(self, statements: list[SignedStatement]) -> list[Receipt]:
        """Append one caller's statements, all or none, with whoever else is waiting."""
        future: asyncio.Future[list[Receipt]] = asyncio.get_running_loop().create_future()
        self._waiting.append((statements, future))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_waiting())
        return await future

    async def _commit_waiting(self) -> None:
        """Append what the callers wait for, a group commit at a time, until none waits."""
        while self._waiting:
            take, count = 0, 0
            while take < len(self._waiting) and (
                    take == 0 or count + len(self._waiting[take][0]) <= GROUP_COMMIT_MAX):
                count += len(self._waiting[take][0])
                take += 1
            batch, self._waiting = self._waiting[:take], self._waiting[take:]
            try:
                results = await asyncio.to_thread(self.ledger.append_groups,
                                                  [statements for statements, _ in batch])
            except Exception as exc:  # the store failed: nobody in the batch is in
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled: the event loop is going away
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting = []
                raise
            appended: list[Receipt] = []
            for (_, future), result in zip(batch, results, strict=True):
                if not isinstance(result, DetenteError):
                    appended += result
                if future.done():  # the caller gave up; its statements are in all the same
                    continue
                if isinstance(result, DetenteError):
                    future.set_exception(result)
                else:
                    future.set_result(result)
            if appended and self.on_appended is not None:
                self.on_appended(appended)
