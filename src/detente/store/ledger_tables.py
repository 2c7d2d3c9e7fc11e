"""The ledger's tables and the SQL behind ``detente.ledger.Ledger``.

The Merkle logic (``detente.ledger.tree``) never touches the database: it names the nodes it
needs and reports the nodes it completes; this module fetches and persists them. One append
batch is one transaction (entries, the perfect-subtree nodes they complete and the signed tree
head over them), so after a crash the store holds every batch whose COMMIT returned, and no
part of any other.

SQLAlchemy errors become StoreError here; a second writer racing for the same entry index gets
ConflictingWriteError. ``LedgerStore.snapshot`` reads everything an export needs from one
snapshot of the database, page by page (bounded memory, whatever the log's size).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    TextClause,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from detente.errors import ConflictingWriteError, StoreError
from detente.store.database import (
    Base,
    BigId,
    insert_rows,
    read_snapshot,
    store_error,
    write_transaction,
)

__all__ = [
    "LedgerCosignatureRow",
    "LedgerEntryRow",
    "LedgerHeadRow",
    "LedgerMetaRow",
    "LedgerNodeRow",
    "LedgerSnapshot",
    "LedgerStore",
]


class LedgerMetaRow(Base):
    """Facts fixed when the log is created: its origin line and its public key."""

    __tablename__ = "ledger_meta"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerEntryRow(Base):
    """One log entry: the canonical JSON bytes of a signed statement (the Merkle leaf data).

    ``kind`` and ``author`` repeat what the bytes say, as an index for the service's queries.
    """

    __tablename__ = "ledger_entries"
    idx: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    author: Mapped[str] = mapped_column(String(128), index=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerNodeRow(Base):
    """Hash of the complete perfect subtree over leaves [idx << level, (idx + 1) << level)."""

    __tablename__ = "ledger_nodes"
    # Keyed by (level, idx) alone: no rowid b-tree beside the primary key.
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_with_rowid": False}
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerHeadRow(Base):
    """A tree head the log signed, one per append batch: its Ed25519 note signature, and its
    cosignature/v1 (``time_signature``) at ``time`` (whole seconds)."""

    __tablename__ = "ledger_heads"
    size: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    time: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    time_signature: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCosignatureRow(Base):
    """A party's cosignature/v1 on a tree head (at most one per party and head); ``key_id``
    is its C2SP key id (8 hex digits)."""

    __tablename__ = "ledger_cosignatures"
    size: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_heads.size"), primary_key=True)
    party: Mapped[str] = mapped_column(String(128), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32))
    time: Mapped[int] = mapped_column(BigId)  # s: past 2038 on PostgreSQL too
    signature: Mapped[bytes] = mapped_column(LargeBinary)


_ENTRIES = LedgerEntryRow.__table__
_NODES = LedgerNodeRow.__table__
_HEADS = LedgerHeadRow.__table__
_COSIGS = LedgerCosignatureRow.__table__
_META = LedgerMetaRow.__table__

HeadRow = tuple[int, bytes, int, bytes, bytes]
CosignatureRow = tuple[int, str, str, int, bytes]


class LedgerStore:
    """Fetch and persist for the ledger. Holds no state beyond the engine."""

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        try:
            Base.metadata.create_all(engine, tables=[_META, _ENTRIES, _NODES, _HEADS, _COSIGS])
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create the ledger tables: {exc}") from exc

    def meta(self) -> dict[str, bytes]:
        with self._read() as conn:
            rows = conn.execute(select(_META.c.name, _META.c.value))
            return {name: value for name, value in rows}

    def create(self, meta: dict[str, bytes], genesis: HeadRow) -> None:
        """Record the log's fixed facts and its first (empty) tree head, in one transaction."""
        with self._write() as conn:
            conn.execute(_META.insert(), [{"name": k, "value": v} for k, v in meta.items()])
            conn.execute(_HEADS.insert(), [_head_params(genesis)])

    def size(self) -> int:
        """Number of entries."""
        with self._read() as conn:
            last = conn.execute(select(func.max(_ENTRIES.c.idx))).scalar_one()
        return 0 if last is None else last + 1

    def nodes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        """Hashes of nodes ``(level, index)``, in the order asked; StoreError if one is missing."""
        if not ids:
            return []
        found: dict[tuple[int, int], bytes] = {}
        with self._read() as conn:
            for level, idx, value in conn.execute(*_nodes_query(ids)):
                found[(level, idx)] = value
        missing = [node for node in ids if node not in found]
        if missing:
            raise StoreError(f"ledger nodes missing from the store: {missing[:5]}")
        return [found[node] for node in ids]

    def commit_batch(
        self,
        first: int,
        entries: Sequence[tuple[str, str, bytes]],
        nodes: Sequence[tuple[int, int, bytes]],
        head: HeadRow | Callable[[], HeadRow],
    ) -> None:
        """Persist entries ``first, first + 1, ...``, their nodes and the head over them; return
        only once COMMIT returned (durable: synchronous=FULL).

        ``head`` may be a function, called inside the transaction once the rows are written:
        the caller can finish its checks meanwhile. Whatever it raises rolls the transaction
        back and propagates; nothing uncommitted is ever visible to a reader.
        """
        try:
            with write_transaction(self._engine) as conn:
                # Positional rows straight to the driver: the Core insert builds and processes a
                # parameter dict per row, which costs more than SQLite's insert.
                insert_rows(conn, _ENTRIES.name, ("idx", "kind", "author", "data"), [
                    (first + k, kind, author, data)
                    for k, (kind, author, data) in enumerate(entries)])
                insert_rows(conn, _NODES.name, ("level", "idx", "hash"), nodes)
                row = head() if callable(head) else head
                conn.execute(_HEADS.insert(), [_head_params(row)])
        except IntegrityError as exc:
            raise ConflictingWriteError(
                f"entry {first} was written by another writer; reopen the ledger") from exc
        except SQLAlchemyError as exc:
            raise store_error("cannot append to the ledger", exc) from exc

    def entry(self, index: int) -> bytes | None:
        with self._read() as conn:
            return conn.execute(
                select(_ENTRIES.c.data).where(_ENTRIES.c.idx == index)).scalar_one_or_none()

    def last_of_kind(self, kind: str) -> tuple[int, bytes] | None:
        """The latest entry of ``kind`` (the index on kind serves it), if any."""
        with self._read() as conn:
            row = conn.execute(select(_ENTRIES.c.idx, _ENTRIES.c.data)
                               .where(_ENTRIES.c.kind == kind)
                               .order_by(_ENTRIES.c.idx.desc()).limit(1)).first()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def entries(self, start: int = 0, stop: int | None = None,
                kind_prefix: str | None = None) -> Iterator[tuple[int, bytes]]:
        """``(index, data)`` in index order, streamed in chunks."""
        query = select(_ENTRIES.c.idx, _ENTRIES.c.data).where(_ENTRIES.c.idx >= start)
        if stop is not None:
            query = query.where(_ENTRIES.c.idx < stop)
        if kind_prefix is not None:
            query = query.where(_ENTRIES.c.kind.startswith(kind_prefix, autoescape=True))
        with self._read() as conn:
            result = conn.execution_options(yield_per=4096).execute(query.order_by(_ENTRIES.c.idx))
            yield from ((idx, data) for idx, data in result)

    def heads(self, size: int | None = None) -> list[HeadRow]:
        """All heads by size, or the one of ``size`` (empty list when there is none)."""
        query = _HEAD_QUERY
        if size is not None:
            query = query.where(_HEADS.c.size == size)
        with self._read() as conn:
            return [tuple(row) for row in conn.execute(query.order_by(_HEADS.c.size))]

    def latest_head(self) -> HeadRow | None:
        with self._read() as conn:
            row = conn.execute(_HEAD_QUERY.order_by(_HEADS.c.size.desc()).limit(1)).first()
        return None if row is None else tuple(row)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[LedgerSnapshot]:
        """Reads that all see the database as it was at the first of them."""
        try:
            with read_snapshot(self._engine) as conn:
                yield LedgerSnapshot(conn)
        except SQLAlchemyError as exc:
            raise StoreError(f"ledger store: {exc}") from exc

    def entry_of_kind(self, index: int) -> tuple[str, bytes] | None:
        """The kind and bytes of entry ``index``, if there is one."""
        with self._read() as conn:
            row = conn.execute(select(_ENTRIES.c.kind, _ENTRIES.c.data)
                               .where(_ENTRIES.c.idx == index)).first()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def add_cosignature(self, row: CosignatureRow) -> None:
        size, party, key_id, time, signature = row
        try:
            with write_transaction(self._engine) as conn:
                conn.execute(_COSIGS.insert(), [{"size": size, "party": party, "key_id": key_id,
                                                 "time": time, "signature": signature}])
        except IntegrityError as exc:
            raise ConflictingWriteError(
                f"party {party!r} already co-signed the tree head of size {size}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot store a cosignature: {exc}") from exc

    def cosignatures(self, size: int | None = None) -> list[CosignatureRow]:
        query = _COSIG_QUERY
        if size is not None:
            query = query.where(_COSIGS.c.size == size)
        with self._read() as conn:
            return [tuple(row) for row in
                    conn.execute(query.order_by(_COSIGS.c.size, _COSIGS.c.party))]

    def _read(self) -> _Guard:
        return _Guard(self._engine, write=False)

    def _write(self) -> _Guard:
        return _Guard(self._engine, write=True)


class LedgerSnapshot:
    """The ledger's rows as of one moment (``LedgerStore.snapshot``), read in pages of
    ``page`` rows by key: memory stays bounded however long the log. SQLAlchemy errors leave
    as StoreError."""

    __slots__ = ("_conn", "page")

    def __init__(self, conn: Connection, page: int = 1024) -> None:
        self._conn = conn
        self.page = page

    def _rows(self, query: Any) -> list[Any]:
        try:
            return list(self._conn.execute(query))
        except SQLAlchemyError as exc:
            raise StoreError(f"ledger store: {exc}") from exc

    def meta(self) -> dict[str, bytes]:
        return {name: value for name, value in self._rows(select(_META.c.name, _META.c.value))}

    def latest_head(self) -> HeadRow | None:
        rows = self._rows(_HEAD_QUERY.order_by(_HEADS.c.size.desc()).limit(1))
        return tuple(rows[0]) if rows else None

    def heads(self) -> Iterator[HeadRow]:
        """Every head, by size."""
        after = -1
        while True:
            rows = self._rows(_HEAD_QUERY.where(_HEADS.c.size > after)
                              .order_by(_HEADS.c.size).limit(self.page))
            yield from (tuple(row) for row in rows)
            if len(rows) < self.page:
                return
            after = rows[-1][0]

    def cosignatures(self) -> Iterator[CosignatureRow]:
        """Every cosignature, by size then party."""
        after: tuple[int, str] = (-1, "")
        while True:
            rows = self._rows(_COSIG_QUERY.where(
                (_COSIGS.c.size > after[0])
                | ((_COSIGS.c.size == after[0]) & (_COSIGS.c.party > after[1])))
                .order_by(_COSIGS.c.size, _COSIGS.c.party).limit(self.page))
            yield from (tuple(row) for row in rows)
            if len(rows) < self.page:
                return
            after = (rows[-1][0], rows[-1][1])

    def entries(self, start: int, stop: int) -> Iterator[tuple[int, bytes]]:
        """``(index, data)`` for ``start <= index < stop``, in order."""
        while start < stop:
            rows = self._rows(select(_ENTRIES.c.idx, _ENTRIES.c.data)
                              .where(_ENTRIES.c.idx >= start, _ENTRIES.c.idx < stop)
                              .order_by(_ENTRIES.c.idx).limit(self.page))
            if not rows:
                return
            yield from ((int(idx), bytes(data)) for idx, data in rows)
            start = rows[-1][0] + 1

    def nodes(self, ids: Sequence[tuple[int, int]]) -> list[bytes]:
        """As ``LedgerStore.nodes``, in this snapshot."""
        if not ids:
            return []
        try:
            found = {(level, idx): value
                     for level, idx, value in self._conn.execute(*_nodes_query(ids))}
        except SQLAlchemyError as exc:
            raise StoreError(f"ledger store: {exc}") from exc
        missing = [node for node in ids if node not in found]
        if missing:
            raise StoreError(f"ledger nodes missing from the store: {missing[:5]}")
        return [found[node] for node in ids]


class _Guard:
    """A connection (or transaction) whose SQLAlchemy errors leave as StoreError."""

    __slots__ = ("_conn", "_engine", "_write")

    def __init__(self, engine: Engine, write: bool) -> None:
        self._engine, self._write = engine, write

    def __enter__(self) -> Any:
        try:
            self._conn = write_transaction(self._engine) if self._write else self._engine.connect()
            return self._conn.__enter__()
        except SQLAlchemyError as exc:
            raise StoreError(f"ledger store: {exc}") from exc

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        try:
            self._conn.__exit__(kind, exc, tb)
        except SQLAlchemyError as err:
            raise StoreError(f"ledger store: {err}") from err
        if isinstance(exc, SQLAlchemyError):
            raise StoreError(f"ledger store: {exc}") from exc
        return False


def _nodes_query(ids: Sequence[tuple[int, int]]) -> tuple[TextClause, dict[str, int]]:
    """One query for at most ~2 log2(n) nodes, each found by a primary-key search.

    Spelled as OR of (level = ? AND idx = ?): SQLite plans the row-value form
    ``(level, idx) IN (...)`` as a scan of the whole table, which is O(n).
    """
    params: dict[str, int] = {}
    for k, (level, idx) in enumerate(ids):
        params[f"l{k}"] = level
        params[f"i{k}"] = idx
    return _nodes_sql(len(ids)), params


@functools.lru_cache(maxsize=128)
def _nodes_sql(count: int) -> TextClause:
    # Text, cached per count: building the same expression with the ORM costs ten times more
    # than the query itself.
    where = " OR ".join(f"(level = :l{k} AND idx = :i{k})" for k in range(count))
    return text(f"SELECT level, idx, hash FROM {_NODES.name} WHERE {where}")



_HEAD_QUERY = select(_HEADS.c.size, _HEADS.c.root, _HEADS.c.time, _HEADS.c.signature,
                     _HEADS.c.time_signature)
_COSIG_QUERY = select(_COSIGS.c.size, _COSIGS.c.party, _COSIGS.c.key_id, _COSIGS.c.time,
                      _COSIGS.c.signature)


def _head_params(head: HeadRow) -> dict[str, Any]:
    size, root, time, signature, time_signature = head
    return {"size": size, "root": root, "time": time, "signature": signature,
            "time_signature": time_signature}
