"""Errors on the command line: one line of words, what is wrong, where, what to do.

Never an exception's class name, an HTTP method, a path of the API or a status code; always
the command's name first and exit status 1 (2 for a mistake in the arguments). Against a real
service on loopback where the error is the service's.
"""

from __future__ import annotations

import re
import socket

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.cli.main import main
from detente.ledger.keys import write_private_key
from detente.service.config import parse_config
from tests.live_server import public_b64, serve

# What a user must never read in an error.
LEAKS = re.compile(r"\b(?:\w+Error|Exception|Traceback|GET|POST|/v1/\S*|[45]\d\d)\b")


def one_line_in_words(capsys, argv: list[str], code: int = 1) -> str:
    capsys.readouterr()
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse's own exit
        got = exc.code
    err = capsys.readouterr().err
    assert got == code, err
    assert err.count("\n") == 1, err
    assert err.startswith(f"detente {argv[0]}: "), err
    assert not LEAKS.search(err.split(": ", 1)[1]), err
    return err.strip()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("errors")
    party, official = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    write_private_key(tmp / "A.pem", party)
    write_private_key(tmp / "a-watch.pem", official)
    write_private_key(tmp / "stranger.pem", Ed25519PrivateKey.generate())
    cfg = parse_config({
        "region": {"name": "errors", "centre": [36.0, 36.0]},
        "service": {"log_key": str(tmp / "log.pem")},
        "parties": [{"id": "A", "public_keys": [public_b64(party)],
                     "officials": [{"id": "a-watch", "name": "A watch", "level": 1,
                                    "public_key": public_b64(official)}]},
                    {"id": "B", "public_keys": [public_b64(Ed25519PrivateKey.generate())]}],
        "agreements": [{"parties": ["A", "B"]}],
    })
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}")) as base:
        yield base, tmp


def test_a_failed_login_says_who_could_not_log_in_and_what_to_check(service, capsys):
    base, keys = service
    err = one_line_in_words(capsys, ["login", "--url", base, "--party", "A",
                                     "--key", str(keys / "stranger.pem")])
    # The middle is the service's own reason.
    assert err.startswith(f"detente login: cannot log in to {base} as A: ")
    assert "does not verify" in err and err.endswith("; check --party and --key")
    err = one_line_in_words(capsys, ["login", "--url", base, "--party", "Z",
                                     "--key", str(keys / "A.pem")])
    assert err.startswith(f"detente login: cannot log in to {base} as Z: ")
    assert err.endswith("check --party and --key")


def test_a_refused_message_says_what_was_refused_and_why(service, capsys):
    base, keys = service
    err = one_line_in_words(capsys, ["hotline", "send", "--url", base, "--party", "A",
                                     "--official", "a-watch", "--key",
                                     str(keys / "a-watch.pem"), "--to", "Q", "hello"])
    assert err == ("detente hotline: the service refused the message: to_party: unknown party "
                   "'Q'")
    err = one_line_in_words(capsys, ["hotline", "ack", "0123abcd", "--url", base, "--party",
                                     "A", "--official", "a-watch", "--key",
                                     str(keys / "a-watch.pem")])
    assert "no hotline message '0123abcd'" in err and "detente hotline list" in err


def test_no_service_and_the_wrong_service_say_to_check_the_address(service, capsys, tmp_path):
    base, keys = service
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    err = one_line_in_words(capsys, ["login", "--url", closed, "--party", "A",
                                     "--key", str(keys / "A.pem")])
    assert err.startswith(f"detente login: cannot reach the service at {closed} (")
    assert "is it running?" in err and err.endswith("--url")
    err = one_line_in_words(capsys, ["login", "--url", base + "/elsewhere", "--party", "A",
                                     "--key", str(keys / "A.pem")])
    assert err == f"detente login: {base}/elsewhere does not answer as a detente service: " \
                  "check --url"


def test_files_databases_ports_and_options(service, capsys, tmp_path):
    base, _ = service
    err = one_line_in_words(capsys, ["export", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}"])
    assert "no database file" in err and err.endswith("with --db")
    assert not (tmp_path / "none.sqlite").exists()  # and none was made
    err = one_line_in_words(capsys, ["conflicts", str(tmp_path / "none.csv")])
    assert err == f"detente conflicts: cannot read {tmp_path / 'none.csv'}: No such file or " \
                  "directory"
    port = base.rsplit(":", 1)[1]
    err = one_line_in_words(capsys, ["serve", "--port", port])
    assert err == (f"detente serve: port {port} on 127.0.0.1 is in use (another detente?): "
                   "stop that program, or choose another port with --port")
    err = one_line_in_words(capsys, ["conflicts", "x.csv", "--lookahead", "-1"], code=2)
    assert err == ("detente conflicts: argument --lookahead: must be > 0, got -1; see detente "
                   "conflicts --help")
    err = one_line_in_words(capsys, ["witness", "--url", base, "--party", "A", "--key", "k",
                                     "--log-key", "AAAA", "--once"])
    assert err.startswith("detente witness: --log-key: 3 bytes")
