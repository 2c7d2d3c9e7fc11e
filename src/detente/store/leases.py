"""The lease that makes one instance of a node its leader, and the fence on the leader's writes
(PostgreSQL; ``service.leadership`` runs the protocol).

One row per node in ``node_leases``: who holds the lease, until when, and its ``epoch``, a
number that grows by one at each change of holder. Every time is the database's own clock
(``clock_timestamp()``), so the instances' clocks may disagree without harm.

- ``acquire`` takes the lease if it has expired (or was never held), with a new epoch.
- ``renew`` extends it while the epoch is still the holder's; a holder whose lease expired
  and that nobody took keeps it (nobody else wrote meanwhile).
- ``fence``, run first in each of the leader's write transactions, takes a share lock on the
  row and refuses the transaction if the epoch is no longer the caller's. A new holder's
  ``acquire`` updates the row, so it waits for every write transaction that passed the fence
  before it, and every one after it sees the new epoch: no write of an old leader commits after
  the lease changed hands. That is what makes a leader paused past its lease (a stopped
  process, a long pause of the collector) harmless when it wakes up.
- A paused leader may be paused inside a transaction that holds the share lock, which would
  keep the new holder waiting for good: the fence sets ``idle_in_transaction_session_timeout``
  on its transaction, so the server ends such a transaction, and ``acquire`` waits at most
  ``lock_timeout`` before trying again. ``end_sessions`` then closes every connection of the
  old holder (found by application_name), so whatever it sends after waking fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Connection, Float, String, Table, text

from detente.errors import UnavailableError
from detente.store.database import Base, BigId

__all__ = ["Lease", "acquire", "current", "end_sessions", "fence", "leases_table", "release",
           "renew"]

leases_table = Table(
    "node_leases", Base.metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("epoch", BigId, nullable=False),
    Column("address", String(256), nullable=False),  # where the holder serves the API
    Column("expires_at", Float, nullable=False),  # s, UTC epoch, the database's clock
    Column("acquired_at", Float, nullable=False),
)

_NOW = "extract(epoch FROM clock_timestamp())"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    holder: str
    epoch: int
    address: str
    expires_in_s: float  # negative: expired that long ago

    @property
    def live(self) -> bool:
        return self.expires_in_s > 0


_INSERT = text(
    f"INSERT INTO node_leases (name, holder, epoch, address, expires_at, acquired_at) "
    f"VALUES (:name, :holder, 1, :address, {_NOW} + :ttl, {_NOW}) "
    "ON CONFLICT (name) DO NOTHING RETURNING epoch")
_TAKE = text(
    f"UPDATE node_leases SET holder = :holder, epoch = epoch + 1, address = :address, "
    f"expires_at = {_NOW} + :ttl, acquired_at = {_NOW} "
    f"WHERE name = :name AND expires_at < {_NOW} RETURNING epoch")
_RENEW = text(
    f"UPDATE node_leases SET expires_at = {_NOW} + :ttl "
    "WHERE name = :name AND epoch = :epoch AND holder = :holder RETURNING epoch")
_RELEASE = text(
    f"UPDATE node_leases SET expires_at = {_NOW} - 1 "
    "WHERE name = :name AND epoch = :epoch AND holder = :holder")
_FENCE = text("SELECT epoch FROM node_leases WHERE name = :name FOR SHARE")
_CURRENT = text(
    f"SELECT holder, epoch, address, expires_at - {_NOW} FROM node_leases WHERE name = :name")


def acquire(conn: Connection, name: str, holder: str, address: str, ttl_s: float,
            lock_timeout_s: float = 0.5) -> int | None:
    """Take the lease ``name`` if nobody holds it or it expired: the new epoch, or None.

    Commits on its own (``conn`` outside a transaction). Waits for the write transactions that
    passed the fence under the previous epoch, at most ``lock_timeout_s`` (then None: try
    again)."""
    from sqlalchemy.exc import OperationalError
    try:
        with conn.begin():
            conn.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'"))
            params = {"name": name, "holder": holder, "address": address, "ttl": ttl_s}
            epoch = conn.execute(_INSERT, params).scalar()
            if epoch is None:
                epoch = conn.execute(_TAKE, params).scalar()
    except OperationalError as exc:  # lock_timeout: an old leader's transaction is open
        if "lock timeout" in str(exc) or "canceling statement" in str(exc):
            return None
        raise
    return None if epoch is None else int(epoch)


def renew(conn: Connection, name: str, holder: str, epoch: int, ttl_s: float) -> bool:
    """Extend the lease by ``ttl_s`` from now; False if it has passed to another epoch."""
    with conn.begin():
        got = conn.execute(_RENEW, {"name": name, "holder": holder, "epoch": epoch,
                                    "ttl": ttl_s}).scalar()
    return got is not None


def release(conn: Connection, name: str, holder: str, epoch: int) -> None:
    """Give the lease up at once (a clean stop): the next instance need not wait it out."""
    with conn.begin():
        conn.execute(_RELEASE, {"name": name, "holder": holder, "epoch": epoch})


def current(conn: Connection, name: str) -> Lease | None:
    row = conn.execute(_CURRENT, {"name": name}).first()
    if conn.in_transaction():
        conn.rollback()
    if row is None:
        return None
    holder, epoch, address, left = row
    return Lease(name, holder, int(epoch), address, float(left))


def fence(conn: Connection, name: str, epoch: int, idle_timeout_s: float,
          retry_after_s: float) -> None:
    """Inside a write transaction, first: refuse it (UnavailableError, retryable) unless the
    lease is still at ``epoch``; the share lock it takes holds off a new holder until the
    transaction ends, and the server ends the transaction if it idles ``idle_timeout_s``."""
    conn.execute(text(
        f"SET LOCAL idle_in_transaction_session_timeout = '{int(idle_timeout_s * 1000)}ms'"))
    got = conn.execute(_FENCE, {"name": name}).scalar()
    if got != epoch:
        raise UnavailableError(
            f"this instance is no longer the node's leader (lease epoch {got}, not {epoch}): "
            "the write was not made; retry, the new leader takes it", retry_after_s)


def end_sessions(conn: Connection, application_name: str) -> int:
    """Close every connection to the database named ``application_name`` (an old leader's):
    returns how many. Needs the role's right to signal those backends (the same role, or
    pg_signal_backend)."""
    with conn.begin():
        rows = conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = :app AND pid <> pg_backend_pid()"),
            {"app": application_name}).all()
    return sum(1 for (ok,) in rows if ok)
