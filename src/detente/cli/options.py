"""Argument types and input handling shared by the sub-commands."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from detente.errors import InputError

__all__ = [
    "add_login_options",
    "check_port_free",
    "non_negative_float",
    "open_input",
    "positive_float",
]


def add_login_options(parser: argparse.ArgumentParser, official: str = "optional") -> None:
    """--url, --party, --key and, unless ``official`` is "none", --official ("optional" or
    "required"): how a command logs in to a service."""
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="service base URL")
    parser.add_argument("--party", required=True)
    if official != "none":
        parser.add_argument("--official", required=official == "required", default=None,
                            help="the official acting for the party")
    parser.add_argument("--key", required=True, metavar="FILE",
                        help="the key (PEM) of the official, or of the party")


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _finite(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another program listens on, in words, before a server is started on it
    (the server's own failure is a logged traceback after its start-up)."""
    import errno
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(f"port {port} on {host} is in use (another detente?): stop "
                                 "that program, or choose another port with --port") from None
            raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}; choose "
                             "another --host or --port") from None


@contextmanager
def open_input(path: str) -> Iterator[tuple[TextIO, str]]:
    """Open a text input (``-`` is stdin); yields the stream and the name to show in errors."""
    if path == "-":
        yield sys.stdin, "<stdin>"
        return
    try:
        stream = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    try:
        yield stream, path
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    finally:
        stream.close()
