"""Log in to a detente service with a private key file and print a bearer token.

The service hands out a challenge; this signs it with the key (PEM, PKCS#8 Ed25519, as
`detente keys new` writes it) and exchanges the signature for a token. Use the token as
``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import argparse

from detente.cli.options import add_login_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_login_options(parser)


def run(args: argparse.Namespace) -> int:
    from detente.cli.client import ServiceClient

    with ServiceClient(args.url, args.party, args.key, official=args.official) as client:
        print(client.token)
    return 0
