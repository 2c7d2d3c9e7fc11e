"""The record: signed statements in a tamper-evident Merkle log (RFC 9162, Ed25519, RFC 8785),
tree heads as C2SP checkpoints, cosignatures as C2SP cosignature/v1.

Public surface, for the service and for parties' clients:

- ``Ledger``: the log over a database (append, receipts, tree heads, proofs, cosignatures,
  exports); ``LedgerReader``: the same reads without the log key. ``export_lines(party)``
  streams the operator's full export (``party=None``) or one party's copy; ``entry_for``
  gives an entry only to a party it is addressed to; ``origin_for`` makes a valid origin.
- ``sign_statement``, ``key_statement``, ``Statement``, ``SignedStatement``: what parties
  sign. ``Entry``: a statement as the log holds it, with its salt and audience;
  ``audience_for``, ``visible_to``, ``EVERYONE``: who is party to each kind.
- ``delivery_receipt``, ``KIND_DELIVERY_RECEIPT``: a party's signed proof of what it was told.
- ``LogClient``, ``SplitViewError``: a party's check-and-co-sign of tree heads, and its
  delivery receipts.
- ``TreeHead``, ``Cosignature``, ``Receipt``: what the log hands out; ``vkey`` the C2SP
  verifier key a witness is configured with.
- ``audit_export``, ``read_export``: the offline check behind ``detente verify``.
- ``verify_inclusion``, ``verify_consistency``: the RFC 9162 proof verifiers.

Modules: ``hashing`` (RFC 9162 hasher), ``tree`` (compact range, proof plans; no storage),
``verify`` (proof verification; shares only the hasher with ``tree``), ``keys``, ``note``
(C2SP signed notes), ``statements``, ``entries`` (salt and audience), ``audience`` (who is
party to each kind), ``delivery`` (delivery receipts), ``keyring``, ``heads`` (checkpoints,
cosignatures, receipts), ``signatures`` (checks in threads), ``export`` (the export's lines),
``log``, ``client``, ``audit``.
"""

from detente.ledger.audience import RECEIPTED_KINDS, audience_for, expected_receipts
from detente.ledger.audit import (
    AuditReport,
    RecordExport,
    RecordVerificationError,
    audit_export,
    read_export,
)
from detente.ledger.client import LogClient, SplitViewError, SplitViewEvidence
from detente.ledger.delivery import KIND_DELIVERY_RECEIPT, delivery_receipt
from detente.ledger.entries import EVERYONE, SALT_BYTES, Entry, visible_to
from detente.ledger.export import EXPORT_FORMAT
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.heads import Cosignature, Receipt, TreeHead
from detente.ledger.keyring import KeyRing, PartyKey
from detente.ledger.keys import (
    generate_private_key,
    key_id,
    load_private_key,
    public_key_b64,
    public_key_bytes,
    write_private_key,
)
from detente.ledger.log import Ledger, LedgerReader, origin_for
from detente.ledger.note import SIG_COSIGNATURE_V1, SIG_ED25519, vkey
from detente.ledger.statements import SignedStatement, Statement, key_statement, sign_statement
from detente.ledger.verify import verify_consistency, verify_inclusion

__all__ = [
    "EVERYONE",
    "EXPORT_FORMAT",
    "KIND_DELIVERY_RECEIPT",
    "RECEIPTED_KINDS",
    "RFC9162_SHA256",
    "SALT_BYTES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "AuditReport",
    "Cosignature",
    "Entry",
    "Hasher",
    "KeyRing",
    "Ledger",
    "LedgerReader",
    "LogClient",
    "PartyKey",
    "Receipt",
    "RecordExport",
    "RecordVerificationError",
    "SignedStatement",
    "SplitViewError",
    "SplitViewEvidence",
    "Statement",
    "TreeHead",
    "audience_for",
    "audit_export",
    "delivery_receipt",
    "expected_receipts",
    "generate_private_key",
    "key_id",
    "key_statement",
    "load_private_key",
    "origin_for",
    "public_key_b64",
    "public_key_bytes",
    "read_export",
    "sign_statement",
    "verify_consistency",
    "verify_inclusion",
    "visible_to",
    "vkey",
    "write_private_key",
]
