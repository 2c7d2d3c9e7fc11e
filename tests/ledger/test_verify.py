"""The verifier against the published vectors and against the brute-force reference tree."""

import base64
import json
from pathlib import Path

import pytest
from merkle_reference import ReferenceTree

from detente.errors import VerificationError
from detente.ledger.hashing import RFC9162_SHA256
from detente.ledger.verify import (
    ProofShapeError,
    RootMismatchError,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parents[1] / "data" / "merkle-vectors" / "testdata"
H = RFC9162_SHA256


def _b64(value):
    return base64.b64decode(value) if value else b""


def _load(kind):
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [pytest.param(json.loads(f.read_text()), id=str(f.relative_to(VECTORS))) for f in files]


INCLUSION = _load("inclusion")
CONSISTENCY = _load("consistency")


def test_vectors_are_all_there():
    # A loader that found nothing would let every parametrized test below pass vacuously.
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98
    assert sum(not p.values[0]["wantErr"] for p in INCLUSION + CONSISTENCY) == 12


@pytest.mark.parametrize("v", INCLUSION)
def test_inclusion_vector(v):
    args = (H, v["leafIdx"], v["treeSize"], _b64(v["leafHash"]),
            [_b64(p) for p in v["proof"] or []], _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("v", CONSISTENCY)
def test_consistency_vector(v):
    args = (H, v["size1"], v["size2"], [_b64(p) for p in v["proof"] or []],
            _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


N_MAX = 64
REF = ReferenceTree([f"entry {i}".encode() for i in range(N_MAX + 1)])


def _flips(proof):
    for k in range(len(proof)):
        for bit in (0, 7, 255):
            bad = list(proof)
            bad[k] = bad[k][: bit // 8] + bytes([bad[k][bit // 8] ^ 1 << bit % 8]) + bad[k][
                bit // 8 + 1:]
            yield bad


def test_inclusion_brute_force_all_i_lt_n_le_64():
    for n in range(1, N_MAX + 1):
        root = REF.root(n)
        for i in range(n):
            proof = REF.inclusion(i, n)
            leaf = REF.leaf_hash(i)
            verify_inclusion(H, i, n, leaf, proof, root)
            for bad in _flips(proof):
                with pytest.raises(RootMismatchError):
                    verify_inclusion(H, i, n, leaf, bad, root)
            with pytest.raises(VerificationError):
                verify_inclusion(H, i, n, REF.leaf_hash(i + 1), proof, root)
            for j in {i - 1, i + 1, i ^ 1, i ^ 2} - {i}:
                with pytest.raises(VerificationError):
                    verify_inclusion(H, j, n, leaf, proof, root)
            # A wrong tree size is not always caught by the proof alone (leaf 0 has the same
            # path shape in trees of 3 and 4 leaves): the signed tree head binds size to root.
            with pytest.raises(ProofShapeError):
                verify_inclusion(H, i, n, leaf, [*proof, root], root)
            if proof:
                with pytest.raises(ProofShapeError):
                    verify_inclusion(H, i, n, leaf, proof[:-1], root)


def test_consistency_brute_force_all_m_le_n_le_64():
    for n in range(1, N_MAX + 1):
        root2 = REF.root(n)
        for m in range(1, n + 1):
            root1 = REF.root(m)
            proof = REF.consistency(m, n)
            verify_consistency(H, m, n, proof, root1, root2)
            if m == n:
                continue
            for bad in _flips(proof):
                with pytest.raises(VerificationError):
                    verify_consistency(H, m, n, bad, root1, root2)
            with pytest.raises(VerificationError):
                verify_consistency(H, m, n, proof, root2, root1)
            with pytest.raises(VerificationError):
                verify_consistency(H, m, n, proof, REF.root(m - 1), root2)
            with pytest.raises(VerificationError):
                verify_consistency(H, m, n, proof, root1, REF.root(n + 1))
            for size1 in {m - 1, m + 1} - {n}:
                with pytest.raises(VerificationError):
                    verify_consistency(H, size1, n, proof, root1, root2)
            with pytest.raises(ProofShapeError):
                verify_consistency(H, m, n, [*proof, root1], root1, root2)
            with pytest.raises(ProofShapeError):
                verify_consistency(H, m, n, proof[:-1], root1, root2)


def test_errors_carry_got_and_want():
    with pytest.raises(ProofShapeError) as info:
        verify_inclusion(H, 2, 8, REF.leaf_hash(2), REF.inclusion(2, 8)[:2], REF.root(8))
    assert (info.value.got, info.value.want) == (2, "3 elements")
    with pytest.raises(RootMismatchError) as mismatch:
        verify_inclusion(H, 2, 8, REF.leaf_hash(3), REF.inclusion(2, 8), REF.root(8))
    assert mismatch.value.want == REF.root(8)
    assert mismatch.value.got != REF.root(8)
