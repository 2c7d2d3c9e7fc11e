"""``detente keys new``, ``detente export`` and ``detente verify`` end to end, through main()."""

import base64
import hashlib
import json
import random
import stat
import sys
from pathlib import Path

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from detente.cli.main import main
from detente.ledger import Entry, Ledger, LogClient, TreeHead, key_statement, sign_statement
from detente.ledger.heads import sign_tree_head
from detente.store.database import open_database


def test_keys_new_writes_a_private_pem_and_prints_the_public_key(tmp_path, capsys):
    path = tmp_path / "tur.pem"
    assert main(["keys", "new", "TUR", "--out", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    printed = json.loads(capsys.readouterr().out)
    key = load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.public_key().public_bytes_raw()
    assert printed["party"] == "TUR"
    assert base64.b64decode(printed["public_key"]) == raw
    # echo -n "$PUBLIC_KEY" | base64 -d | sha256sum | cut -c1-32
    assert printed["key_id"] == hashlib.sha256(raw).hexdigest()[:32]


def test_keys_new_never_overwrites(tmp_path, capsys):
    path = tmp_path / "tur.pem"
    path.write_text("precious")
    assert main(["keys", "new", "TUR", "--out", str(path)]) == 1
    assert capsys.readouterr().err.startswith("detente keys: cannot create")
    assert path.read_text() == "precious"


@pytest.fixture
def exported(tmp_path):
    url = f"sqlite:///{tmp_path / 'record.sqlite'}"
    log_key, tur = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    ledger = Ledger(open_database(url), log_key, origin="detente/cli")
    ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
    for n in range(6):
        ledger.append(sign_statement(tur, kind="alert", author="TUR", time=10.0 + n,
                                     body={"n": n}))
    out = tmp_path / "record.jsonl"
    assert main(["export", "--db", url, "--out", str(out)]) == 0
    return ledger, out


def test_export_then_verify_says_ok(exported, capsys):
    ledger, out = exported
    key = base64.b64encode(ledger.log_public_key).decode()
    capsys.readouterr()
    assert main(["verify", str(out), "--log-key", key]) == 0
    verdict = capsys.readouterr().out
    assert verdict.count("\n") == 1
    assert verdict.startswith("OK: 7 entries and 8 tree heads")
    assert ledger.tree_head().root.hex() in verdict


def test_verify_names_the_bad_line(exported, tmp_path, capsys):
    _, out = exported
    data = bytearray(out.read_bytes())
    rng = random.Random(7)
    for _ in range(20):
        bad = bytearray(data)
        bit = rng.randrange(len(bad) * 8)
        bad[bit // 8] ^= 1 << bit % 8
        flipped = tmp_path / "flipped.jsonl"
        flipped.write_bytes(bytes(bad))
        capsys.readouterr()
        assert main(["verify", str(flipped)]) == 1
        line = bad[: bit // 8].count(b"\n") + 1
        assert capsys.readouterr().err.startswith(f"detente verify: line {line}, ")


def test_export_of_a_database_without_ledger_is_refused(tmp_path, capsys):
    assert main(["export", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}"]) == 1
    assert "no database file" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    open_database(url).dispose()
    assert main(["export", "--db", url]) == 1
    assert capsys.readouterr().err == (
        f"detente export: {url}: no ledger in this database (nothing was ever appended); give "
        "the database the service ran with --db\n")


# --- settled heads, and a record rewritten with the log key --------------------------------

sys.path.insert(0, str(Path(__file__).parents[1] / "ledger"))
from merkle_reference import ReferenceTree  # noqa: E402  (an oracle kept beside the ledger tests)

T0 = 1_448_349_600  # 2015-11-24 07:20 UTC


class Minutes:
    """A clock one minute further at each call: the log's heads are a minute apart."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        self.t += 60
        return float(self.t)


@pytest.fixture
def honest(tmp_path):
    """A log of the service (author detente, the log key) and TUR and RUS, who co-sign every
    head at once, a minute apart. Entry 3 is the first alert, receipted by RUS at entry 5;
    entries 4 and 6 to 15 are alerts nobody receipted."""
    url = f"sqlite:///{tmp_path / 'record.sqlite'}"
    log_key, tur, rus = (Ed25519PrivateKey.from_private_bytes(bytes([s]) * 32) for s in (1, 2, 3))
    ledger = Ledger(open_database(url), log_key, origin="detente/cli", clock=Minutes())
    clients = [LogClient(p, k, ledger.log_public_key, "detente/cli", clock=lambda: T0)
               for p, k in (("RUS", rus), ("TUR", tur))]

    def append(statements):
        receipts = ledger.append_many(statements)
        head = ledger.tree_head()
        for c in clients:
            last = c.last_head
            proof = ledger.consistency_proof(last.size, head.size) if last and last.size else []
            ledger.add_cosignature(c.observe(head, proof))
        return receipts

    def alert(n, **body):
        return sign_statement(log_key, kind="alert", author="detente", time=T0 + n,
                              body={"parties": ["RUS", "TUR"], "n": n, **body})

    append([key_statement(k, k, author=a, time=T0) for a, k in
            (("detente", log_key), ("TUR", tur), ("RUS", rus))])            # 0-2
    (first,) = append([alert(3, severity="warning", point=[36.165, 35.816])])  # 3
    append([alert(4)])                                                      # 4
    append([clients[0].delivery_receipt(first.index, first.entry)])         # 5
    for n in range(6, 16):                                                  # 6-15
        append([alert(n)])
    out = tmp_path / "record.jsonl"
    assert main(["export", "--db", url, "--out", str(out)]) == 0
    return ledger, log_key, out


def rewrite(export: Path, at: int, log_key, target: Path) -> Path:
    """What the log-key holder can do alone: change entry ``at`` (a statement of its own,
    signed again), recompute the tree, sign every head from there on again (at the same
    times), and drop the cosignatures that no longer verify."""
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    leaves = [rfc8785.dumps(r["leaf"]) for r in rows if "leaf" in r]
    entry = Entry.parse(leaves[at])
    st = entry.statement
    forged = sign_statement(log_key, kind=st.kind, author=st.author, time=st.time, ref=st.ref,
                            body={**st.body, "severity": "advisory", "point": None})
    leaves[at] = Entry(forged.statement, forged.signature, entry.salt, entry.audience).leaf()
    tree = ReferenceTree(leaves)
    out, previous = [], 0
    for r in rows:
        if "leaf" in r:
            r = {"index": r["index"], "leaf": json.loads(leaves[r["index"]])}
        elif "checkpoint" in r:
            head, cosignatures = TreeHead.from_note(r["checkpoint"])
            if head.size > at:
                head, cosignatures = sign_tree_head(log_key, head.origin, head.size,
                                                    tree.root(head.size), head.time), []
            proof = tree.consistency(previous, head.size) if 0 < previous < head.size else []
            r = {"checkpoint": head.note(cosignatures),
                 "consistency": [base64.b64encode(p).decode() for p in proof]}
            previous = head.size
        out.append(rfc8785.dumps(r) + b"\n")
    target.write_bytes(b"".join(out))
    return target


def test_a_settled_record_verifies_and_says_so(honest, capsys):
    ledger, _, out = honest
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    verdict = capsys.readouterr().out
    assert f"settled: size {ledger.size}, co-signed by every party (RUS, TUR)" in verdict
    assert "the operator's full export" in verdict
    assert "1 delivery receipts match their entries" in verdict
    # 12 alerts, told to both parties: all but RUS's delivery is listed as not receipted.
    assert "23 deliveries not receipted" in verdict
    assert "  entry 4: no delivery receipt from RUS" in verdict
    assert "  ... and 3 more" in verdict
    assert "kept heads" not in verdict  # none were given


def test_a_record_rewritten_with_the_log_key_fails_without_kept_heads(honest, tmp_path, capsys):
    ledger, log_key, out = honest
    # Entry 8, an alert nobody receipted: every head from size 9 on is signed again.
    forged = rewrite(out, 8, log_key, tmp_path / "forged.jsonl")
    capsys.readouterr()
    assert main(["verify", str(forged)]) == 1
    err = capsys.readouterr().err
    rows = forged.read_bytes().split(b"\n")
    line = next(k for k, r in enumerate(rows) if r.startswith(b'{"checkpoint":"detente/cli\\n9\\n'))
    assert err.startswith(f"detente verify: line {line + 1}, tree head of size 9: "
                          "not settled (not co-signed by RUS, TUR)")
    assert "The largest head co-signed by every party is of size 8" in err
    # Everything else about it holds: signatures, roots and proofs all verify.
    assert main(["verify", str(forged), "--allow-unsettled"]) == 0
    assert "settled: size 8" in capsys.readouterr().out
    # Within a longer grace period (the first forged head is 7 minutes older than the last),
    # it is not yet refused.
    assert main(["verify", str(forged), "--grace", "600"]) == 0
    # Heads a party kept catch it too, whatever the grace.
    kept = tmp_path / "heads.jsonl"
    kept.write_text("".join(json.dumps(h.to_json()) + "\n" for h in ledger.heads()))
    capsys.readouterr()
    assert main(["verify", str(forged), "--heads", str(kept), "--allow-unsettled"]) == 1
    assert "the log rewrote history" in capsys.readouterr().err
    assert main(["verify", str(out), "--heads", str(kept)]) == 0
    kept_count = sum(1 for h in ledger.heads() if h.size)
    assert f"; {kept_count} kept heads match" in capsys.readouterr().out


def test_a_receipt_the_rewritten_entry_no_longer_matches_is_named(honest, tmp_path, capsys):
    _, log_key, out = honest
    forged = rewrite(out, 3, log_key, tmp_path / "forged.jsonl")
    capsys.readouterr()
    assert main(["verify", str(forged), "--allow-unsettled"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("detente verify: line ")
    assert ", entry 5: RUS's delivery receipt names leaf hash " in err
    assert "for entry 3, whose leaf hash is " in err


def test_a_partys_copy_verifies_with_detente_verify(honest, tmp_path, capsys):
    ledger, _, _ = honest
    url = str(ledger._store._engine.url)
    copy = tmp_path / "rus.jsonl"
    assert main(["export", "--db", url, "--party", "RUS", "--out", str(copy)]) == 0
    capsys.readouterr()
    assert main(["verify", str(copy)]) == 0
    verdict = capsys.readouterr().out
    # Every entry here is addressed to RUS (alerts, its receipt) or to everyone (keys).
    assert f"RUS's copy: {ledger.size} entries in full, 0 as leaf hashes only" in verdict
    coa = tmp_path / "coa.jsonl"
    assert main(["export", "--db", url, "--party", "COA", "--out", str(coa)]) == 0
    assert main(["verify", str(coa)]) == 0
    verdict = capsys.readouterr().out
    assert f"COA's copy: 3 entries in full, {ledger.size - 3} as leaf hashes only" in verdict
    assert f"settled: size {ledger.size}" in verdict
    assert b"severity" not in coa.read_bytes()
    assert main(["export", "--db", url, "--party", "C O A"]) == 1
    assert "party id" in capsys.readouterr().err
