"""The record: signed statements in a tamper-evident Merkle log (RFC 9162, Ed25519, RFC 8785).

Public surface, for the service and for parties' clients:

- ``Ledger``: the log over a database (append, receipts, tree heads, proofs, cosignatures,
  export); ``LedgerReader``: the same reads without the log key.
- ``sign_statement``, ``key_statement``, ``Statement``, ``SignedStatement``: what parties sign.
- ``LogClient``, ``SplitViewError``: a party's check-and-co-sign of tree heads.
- ``TreeHead``, ``Cosignature``, ``Receipt``: what the log hands out.
- ``audit_export``: the offline check behind ``detente verify``.
- ``verify_inclusion``, ``verify_consistency``: the RFC 9162 proof verifiers.

Modules: ``hashing`` (RFC 9162 hasher), ``tree`` (compact range, proof plans; no storage),
``verify`` (proof verification; shares only the hasher with ``tree``), ``keys``, ``statements``,
``keyring``, ``heads``, ``log``, ``client``, ``audit``.
"""

from detente.ledger.audit import AuditReport, RecordVerificationError, audit_export
from detente.ledger.client import LogClient, SplitViewError, SplitViewEvidence
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
from detente.ledger.log import Ledger, LedgerReader
from detente.ledger.statements import SignedStatement, Statement, key_statement, sign_statement
from detente.ledger.verify import verify_consistency, verify_inclusion

__all__ = [
    "RFC9162_SHA256",
    "AuditReport",
    "Cosignature",
    "Hasher",
    "KeyRing",
    "Ledger",
    "LedgerReader",
    "LogClient",
    "PartyKey",
    "Receipt",
    "RecordVerificationError",
    "SignedStatement",
    "SplitViewError",
    "SplitViewEvidence",
    "Statement",
    "TreeHead",
    "audit_export",
    "generate_private_key",
    "key_id",
    "key_statement",
    "load_private_key",
    "public_key_b64",
    "public_key_bytes",
    "sign_statement",
    "verify_consistency",
    "verify_inclusion",
    "write_private_key",
]
