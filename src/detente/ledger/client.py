"""The party's side of the log: check every tree head against the last one, then co-sign.

A single operator could show each party a different history (a split view). Each party runs a
``LogClient`` that keeps the last tree head it accepted, accepts a new head only with a
consistency proof from that one, and co-signs what it accepts. A head that does not follow is
refused with ``SplitViewError``, whose ``evidence`` (both signed heads and the proof) is what
the service turns into an alert to the client's own party: two heads signed by the log that
cannot both be true are proof that the log misbehaved.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detente.errors import VerificationError
from detente.ledger.delivery import delivery_receipt
from detente.ledger.entries import Entry
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.heads import Cosignature, Receipt, TreeHead, cosign
from detente.ledger.keys import Ed25519PrivateKey
from detente.ledger.statements import SignedStatement
from detente.ledger.verify import verify_consistency

__all__ = ["LogClient", "SplitViewError", "SplitViewEvidence"]


@dataclass(frozen=True, slots=True)
class SplitViewEvidence:
    """Two tree heads signed by the log that no single append-only history can have."""

    party: str
    held: TreeHead
    offered: TreeHead
    proof: tuple[bytes, ...]
    reason: str


class SplitViewError(VerificationError):
    """The log offered a head inconsistent with one this party already accepted: alert it."""

    def __init__(self, evidence: SplitViewEvidence) -> None:
        self.evidence = evidence
        super().__init__(
            f"{evidence.party}: tree head of size {evidence.offered.size} is inconsistent with "
            f"the head of size {evidence.held.size} already accepted: {evidence.reason}")


class LogClient:
    """One party's view of one log.

    Parameters
    ----------
    party : str
        The party this client speaks for; its cosignatures carry this name.
    key : Ed25519PrivateKey
        The party's current key (the one registered in the log).
    log_public_key : bytes
        The log's raw Ed25519 public key, known out of band (from the agreement).
    origin : str
        The log's origin line.
    last_head : TreeHead, optional
        The head accepted last time, as persisted by the party between runs.
    """

    def __init__(
        self,
        party: str,
        key: Ed25519PrivateKey,
        log_public_key: bytes,
        origin: str,
        *,
        last_head: TreeHead | None = None,
        clock: Callable[[], float] = _time.time,
        hasher: Hasher = RFC9162_SHA256,
    ) -> None:
        self.party = party
        self._key = key
        self._log_key = log_public_key
        self._origin = origin
        self._clock = clock
        self._hasher = hasher
        if last_head is not None:
            self._check_signed(last_head)
        self._last = last_head

    @property
    def last_head(self) -> TreeHead | None:
        """The largest head accepted so far: persist it, and keep every head for ``verify``."""
        return self._last

    def observe(self, head: TreeHead, proof: Sequence[bytes] = ()) -> Cosignature:
        """Check ``head`` against the last accepted head and co-sign it.

        ``proof`` is the log's consistency proof between the smaller and the larger of the two
        sizes (empty for equal sizes, or when nothing was accepted yet, or from size 0).
        Raises VerificationError for a head that is not the log's (wrong origin or signature)
        and SplitViewError for a head that contradicts the accepted one; either way the
        accepted head is unchanged and nothing is signed. With no head accepted yet, the
        first is taken on its signature alone: pass ``last_head`` when resuming.
        """
        self._check_signed(head)
        last = self._last
        if last is not None:
            older, newer = (last, head) if last.size <= head.size else (head, last)
            try:
                if older.size == 0:
                    # Every tree extends the empty one; only the empty root itself is checked.
                    if older.root != self._hasher.empty_root():
                        raise VerificationError("a head of size 0 with a non-empty root")
                    if proof:
                        raise VerificationError("a non-empty proof from size 0")
                else:
                    verify_consistency(self._hasher, older.size, newer.size, proof,
                                       older.root, newer.root)
            except VerificationError as exc:
                raise SplitViewError(
                    SplitViewEvidence(self.party, last, head, tuple(proof), str(exc))) from exc
        if last is None or head.size > last.size:
            self._last = head
        return cosign(head, self.party, self._key, self._clock())

    def check_receipt(self, receipt: Receipt, entry: bytes | None = None) -> None:
        """VerificationError unless ``receipt`` proves ``entry`` (if given) is in the log.

        The receipt's head should also go through ``observe`` so that it is checked for
        consistency with the others; a receipt head of the same size as the accepted one but
        another root is refused here as a split view.
        """
        receipt.verify(self._log_key, entry, self._hasher)
        if receipt.head.origin != self._origin:
            raise VerificationError(f"receipt from log {receipt.head.origin!r}, "
                                    f"not {self._origin!r}")
        last = self._last
        if last is not None and last.size == receipt.head.size and last.root != receipt.head.root:
            raise SplitViewError(SplitViewEvidence(
                self.party, last, receipt.head, (), "same size, different root"))

    def delivery_receipt(self, index: int, entry: Entry) -> SignedStatement:
        """The party's signed ``delivery.receipt`` for entry ``index``, received whole (salt
        included) over the stream: to send back to the log, which records it."""
        if not entry.visible_to(self.party):
            raise VerificationError(f"entry {index} is addressed to {list(entry.audience)}, "
                                    f"not to {self.party}")
        return delivery_receipt(self._key, author=self.party, index=index, entry=entry,
                                time=self._clock(), hasher=self._hasher)

    def _check_signed(self, head: TreeHead) -> None:
        if head.origin != self._origin:
            raise VerificationError(f"tree head from log {head.origin!r}, not {self._origin!r}")
        head.verify(self._log_key)
