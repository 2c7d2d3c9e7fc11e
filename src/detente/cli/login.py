"""Log in to a detente service with a private key file and print a bearer token.

The service hands out a challenge; this signs it with the key (PEM, PKCS#8 Ed25519, as
`detente keys new` writes it) and exchanges the signature for a token. Use the token as
``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from detente.errors import InputError, VerificationError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="service base URL")
    parser.add_argument("--party", required=True)
    parser.add_argument("--official", default=None, help="log in as this official of the party")
    parser.add_argument("--key", required=True, metavar="FILE", help="private key (PEM)")


def run(args: argparse.Namespace) -> int:
    import httpx
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from detente.service.keys import login_message

    try:
        key = serialization.load_pem_private_key(Path(args.key).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot load private key {args.key}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{args.key} is not an Ed25519 private key")
    try:
        with httpx.Client(base_url=args.url, timeout=10) as c:
            r = c.post("/v1/auth/challenge", json={"party": args.party,
                                                   "official": args.official})
            if r.status_code != 200:
                raise VerificationError(r.json().get("detail", r.text))
            challenge = r.json()["challenge"]
            sig = key.sign(login_message(base64.b64decode(challenge)))
            r = c.post("/v1/auth/token", json={"challenge": challenge,
                                               "signature": base64.b64encode(sig).decode()})
            if r.status_code != 200:
                raise VerificationError(r.json().get("detail", r.text))
    except httpx.HTTPError as exc:
        raise InputError(f"cannot reach {args.url}: {exc}") from None
    print(r.json()["token"])
    return 0
