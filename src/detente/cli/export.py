"""Write the whole record (entries, signed tree heads, cosignatures, the log's public key) as
canonical JSON lines, for ``detente verify``, or with --party a party's copy of it. Needs no
private key.

With --with-recording (and --out FILE), also write FILE's recording beside it
(record.jsonl -> record.recording.jsonl), for ``detente replay``: the configuration the service
ran (agreements and their sharing terms, airspaces), the track reports it accepted and each
party's events (alerts as that party was told them, hotline traffic, tree heads), between
--from and --to. The recording is NOT signed; the record export is, and ``detente replay``
holds the recording's hotline traffic and alerts to it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from detente.errors import InputError
from detente.ledger.log import LedgerReader, origin_for
from detente.store.database import DEFAULT_DATABASE_URL, open_database

__all__ = ["add_arguments", "run"]


def _instant(text: str) -> float:
    """Seconds of the UTC epoch, or an ISO 8601 time (UTC unless it says otherwise)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither seconds of the UTC epoch nor an ISO 8601 time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=DEFAULT_DATABASE_URL, metavar="URL",
                        help="database URL (default %(default)s)")
    parser.add_argument("--out", metavar="FILE", help="file to write (default: stdout)")
    parser.add_argument("--party", metavar="P",
                        help="write party P's copy: the entries addressed to P whole, the "
                             "others as leaf hashes (default: the operator's full export)")
    parser.add_argument("--with-recording", action="store_true",
                        help="also write the recorded states beside FILE (FILE.recording.jsonl) "
                             "for detente replay; NOT signed")
    parser.add_argument("--config", metavar="FILE",
                        help="with --with-recording: the configuration the service ran "
                             "(default: the built-in demo configuration)")
    parser.add_argument("--from", dest="t_from", type=_instant, metavar="T",
                        help="with --with-recording: from this time (UTC epoch s or ISO 8601)")
    parser.add_argument("--to", dest="t_to", type=_instant, metavar="T",
                        help="with --with-recording: to this time (UTC epoch s or ISO 8601)")


def _write_atomically(target: Path, write: Callable[[IO[bytes]], Any]) -> Any:
    """Written beside the target and renamed: a reader never sees half a file."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    except OSError as exc:
        raise InputError(f"cannot write {target}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


def _must_exist(url: str) -> None:
    """An export never makes a database: SQLite would create an empty file for a wrong path."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:  # open_database says what is wrong with it, in words
        return
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise InputError(f"no database file {parsed.database} (from --db {url}): give the "
                             "database the service ran with --db")


def run(args: argparse.Namespace) -> int:
    recording = args.with_recording
    if not recording and (args.config or args.t_from is not None or args.t_to is not None):
        raise InputError("--config, --from and --to go with --with-recording")
    if recording and args.out is None:
        raise InputError("--with-recording needs --out FILE (the recording goes beside it)")
    if recording and None not in (args.t_from, args.t_to) and args.t_from > args.t_to:
        raise InputError("--from is after --to")
    if recording and args.party is not None:
        raise InputError("--with-recording goes with the operator's full export, not --party")
    _must_exist(args.db)
    engine = open_database(args.db, create=False)
    try:
        reader = LedgerReader(engine)
    except InputError as exc:
        raise InputError(f"{args.db}: {exc}; give the database the service ran with --db") \
            from None
    if args.out is None:
        lines = reader.export(sys.stdout.buffer, args.party)
        sys.stdout.buffer.flush()
    else:
        lines = _write_atomically(Path(args.out), lambda out: reader.export(out, args.party))
    head = reader.tree_head()
    print(f"exported {lines} lines: {head.size} entries, root {head.root.hex()}", file=sys.stderr)
    if recording:
        _export_recording(args, engine)
    return 0


def _export_recording(args: argparse.Namespace, engine: Any) -> None:
    from detente.data import bundled_path
    from detente.service.config import load_config
    from detente.service.replay import (
        UNSIGNED_NOTE,
        ledger_binding,
        recording_path,
        write_recording,
    )

    config = load_config(Path(args.config) if args.config else bundled_path("demo/border.toml"))
    target = recording_path(args.out)
    binding = ledger_binding(Path(args.out))
    # The record's log is named after the region the service ran: a configuration of another
    # region is not the one it ran, and would replay the wrong sharing terms.
    if binding["origin"] != origin_for(f"detente/{config.region_name}"):
        raise InputError(
            f"the record is of log {binding['origin']!r}, the configuration "
            f"{args.config or 'built in'} of region {config.region_name!r}: give the "
            "configuration the service ran with --config")
    counts = _write_atomically(target, lambda out: write_recording(
        out, engine, config, binding, args.t_from, args.t_to))
    print(f"recording {target}: {counts['reports']} track reports, {counts['events']} party "
          f"events. {UNSIGNED_NOTE}", file=sys.stderr)
