"""``detente keys new``, ``detente export`` and ``detente verify`` end to end, through main()."""

import base64
import hashlib
import json
import random
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from detente.cli.main import main
from detente.ledger import Ledger, key_statement, sign_statement
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
