import hashlib

from detente.ledger.hashing import LEAF_HASH_PREFIX, NODE_HASH_PREFIX, RFC9162_SHA256


def test_prefixes_are_rfc9162():
    # RFC 9162 section 2.1.1: 0x00 before a leaf, 0x01 before two children.
    assert LEAF_HASH_PREFIX == b"\x00"
    assert NODE_HASH_PREFIX == b"\x01"


def test_empty_root_known_answer():
    # printf '' | sha256sum
    want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert RFC9162_SHA256.empty_root().hex() == want


def test_leaf_hash_known_answers():
    # echo -n 00 | xxd -r -p | sha256sum          (the empty leaf)
    assert RFC9162_SHA256.hash_leaf(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    # echo -n 004c313233343536 | xxd -r -p | sha256sum   (leaf "L123456")
    assert RFC9162_SHA256.hash_leaf(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")


def test_node_hash_known_answer():
    # echo -n 014e3132334e343536 | xxd -r -p | sha256sum   (children "N123", "N456")
    assert RFC9162_SHA256.hash_children(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb")


def test_leaf_and_node_are_domain_separated():
    # Without the prefixes a leaf holding left||right would hash like the node over them.
    left, right = b"a" * 32, b"b" * 32
    assert RFC9162_SHA256.hash_leaf(left + right) != RFC9162_SHA256.hash_children(left, right)
    assert RFC9162_SHA256.hash_children(left, right) == hashlib.sha256(
        b"\x01" + left + right).digest()
