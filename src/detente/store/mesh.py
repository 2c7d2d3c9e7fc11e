"""A mesh node's link state: what it has sent each peer, what it has taken in, and evidence.

- ``mesh_outbox``: every durable frame sent to a peer, signed, by sequence number, kept until
  the peer has acknowledged it (and for a while after, as the node's own copy); a link that
  comes back resumes from the peer's last sequence number, and sends the same bytes again.
- ``mesh_inbox``: per peer, the last durable sequence number taken in. It is written in the
  same transaction as what the frame changed (events for the party, hotline rows), so that a
  frame is never applied twice across a restart, nor lost.
- ``mesh_evidence``: frames refused (forged, replayed, out of order, out of agreement) and
  tree heads that contradict each other, kept whole.
- ``mesh_peer_logs``: per peer, its log's key and origin and the last tree head of it this
  node accepted (its witness state).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)

from detente.store.database import Base, reading, write_transaction
from detente.store.recording import Work

__all__ = [
    "evidence",
    "evidence_table",
    "inbox_seqs",
    "insert_evidence",
    "insert_outbox",
    "outbox_after",
    "outbox_seqs",
    "outbox_table",
    "peer_log",
    "prune_outbox",
    "sent_state",
    "set_inbox_seq",
    "set_peer_log",
    "set_sent",
]

outbox_table = Table(
    "mesh_outbox", Base.metadata,
    Column("peer", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("t", Float, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("wire", LargeBinary, nullable=False),  # signature then payload, as sent
    PrimaryKeyConstraint("peer", "seq"),
)

inbox_table = Table(
    "mesh_inbox", Base.metadata,
    Column("peer", String(64), primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("t", Float, nullable=False),
)

evidence_table = Table(
    "mesh_evidence", Base.metadata,
    Column("rowid", Integer, primary_key=True, autoincrement=True),
    Column("peer", String(64), nullable=False),
    Column("t", Float, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("wire", LargeBinary, nullable=False),
    Index("ix_mesh_evidence_peer_t", "peer", "t"),
)

sent_table = Table(
    "mesh_sent", Base.metadata,
    Column("peer", String(64), primary_key=True),
    Column("key_sent", Integer, nullable=False),  # the party's key went to the peer (0/1)
    Column("head_size", Integer, nullable=False),  # the size of the last tree head sent
)

peer_logs_table = Table(
    "mesh_peer_logs", Base.metadata,
    Column("peer", String(64), primary_key=True),
    Column("log_key", LargeBinary, nullable=False),
    Column("origin", Text, nullable=False),
    Column("head", Text, nullable=True),  # JSON of the last accepted TreeHead
)


def insert_outbox(rows: list[tuple[str, int, float, str, bytes]]) -> Work:
    """Frames (peer, seq, t, kind, wire) into the outbox, in the caller's transaction."""
    def work(conn: Any) -> None:
        if rows:
            conn.execute(insert(outbox_table), [
                {"peer": p, "seq": s, "t": t, "kind": k, "wire": w} for p, s, t, k, w in rows])
    return work


def set_sent(peer: str, key_sent: bool, head_size: int) -> Work:
    def work(conn: Any) -> None:
        conn.execute(delete(sent_table).where(sent_table.c.peer == peer))
        conn.execute(insert(sent_table).values(peer=peer, key_sent=int(key_sent),
                                               head_size=head_size))
    return work


def sent_state(engine: Engine) -> dict[str, tuple[bool, int]]:
    """Per peer: whether the party's key was sent, and the size of the last head sent."""
    with reading(engine) as conn:
        rows = conn.execute(select(sent_table)).mappings().all()
    return {r["peer"]: (bool(r["key_sent"]), int(r["head_size"])) for r in rows}


def set_inbox_seq(peer: str, seq: int, t: float) -> Work:
    def work(conn: Any) -> None:
        conn.execute(delete(inbox_table).where(inbox_table.c.peer == peer))
        conn.execute(insert(inbox_table).values(peer=peer, seq=seq, t=t))
    return work


def outbox_seqs(engine: Engine) -> dict[str, int]:
    """The last sequence number given to a frame for each peer."""
    with reading(engine) as conn:
        rows = conn.execute(select(outbox_table.c.peer, func.max(outbox_table.c.seq))
                            .group_by(outbox_table.c.peer)).all()
    return {p: int(s) for p, s in rows}


def inbox_seqs(engine: Engine) -> dict[str, int]:
    with reading(engine) as conn:
        rows = conn.execute(select(inbox_table.c.peer, inbox_table.c.seq)).all()
    return {p: int(s) for p, s in rows}


def outbox_after(engine: Engine, peer: str, seq: int, limit: int = 1_000
                 ) -> list[tuple[int, bytes]]:
    """Up to ``limit`` frames for ``peer`` after ``seq``, in order: (seq, wire)."""
    with reading(engine) as conn:
        rows = conn.execute(
            select(outbox_table.c.seq, outbox_table.c.wire)
            .where(outbox_table.c.peer == peer, outbox_table.c.seq > seq)
            .order_by(outbox_table.c.seq).limit(limit)).all()
    return [(int(s), bytes(w)) for s, w in rows]


def prune_outbox(peer: str, acked: int, before: float) -> Work:
    """Forget frames the peer acknowledged, sent before ``before`` (s)."""
    def work(conn: Any) -> None:
        conn.execute(delete(outbox_table).where(
            outbox_table.c.peer == peer, outbox_table.c.seq <= acked,
            outbox_table.c.t < before))
    return work


def insert_evidence(engine: Engine, peer: str, t: float, reason: str,
                    detail: dict[str, Any], wire: bytes) -> int:
    """Keep a refused frame (or contradicting heads) whole; returns its row number."""
    with write_transaction(engine) as conn:
        result = conn.execute(insert(evidence_table).values(
            peer=peer, t=t, reason=reason, detail=json.dumps(detail), wire=wire))
        return int(result.inserted_primary_key[0])


def evidence(engine: Engine, peer: str | None = None) -> list[dict[str, Any]]:
    """The evidence kept, oldest first (of one peer, or all)."""
    q = select(evidence_table).order_by(evidence_table.c.rowid)
    if peer is not None:
        q = q.where(evidence_table.c.peer == peer)
    with reading(engine) as conn:
        rows = conn.execute(q).mappings().all()
    return [{"id": r["rowid"], "peer": r["peer"], "t": r["t"], "reason": r["reason"],
             "detail": json.loads(r["detail"]), "wire": bytes(r["wire"])} for r in rows]


def peer_log(engine: Engine, peer: str) -> tuple[bytes, str, dict[str, Any] | None] | None:
    """A peer's log key, origin and the last head accepted (JSON), or None if never seen."""
    with reading(engine) as conn:
        row = conn.execute(select(peer_logs_table).where(
            peer_logs_table.c.peer == peer)).mappings().first()
    if row is None:
        return None
    return bytes(row["log_key"]), row["origin"], (
        None if row["head"] is None else json.loads(row["head"]))


def set_peer_log(peer: str, log_key: bytes, origin: str, head: dict[str, Any] | None
                 ) -> Work:
    def work(conn: Any) -> None:
        conn.execute(delete(peer_logs_table).where(peer_logs_table.c.peer == peer))
        conn.execute(insert(peer_logs_table).values(
            peer=peer, log_key=log_key, origin=origin,
            head=None if head is None else json.dumps(head)))
    return work
