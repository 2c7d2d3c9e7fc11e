"""Play an exported record back into the console, with a time slider: an after-action review
of who saw what when.

RECORD_EXPORT is a file written by ``detente export --with-recording --out RECORD_EXPORT``; its
recording (RECORD_EXPORT's name with .recording before the extension) must be beside it, or
named with --recording. The record export is verified first, as ``detente verify`` does, and a
replay of one that does not verify is refused. The recording is not signed: it must name this
record export, its hotline traffic and alerts must agree with the signed statements, and its
track reports must hash to the digests the service anchored in the record as it recorded
them, or the replay is refused. Reports after the last anchor have nothing signed behind them.

Then the console is served read-only at http://127.0.0.1:PORT/ with ?source=replay: choose a
party, move the slider, play. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import webbrowser
from pathlib import Path

from detente.errors import InputError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", metavar="RECORD_EXPORT",
                        help="file written by detente export --with-recording --out")
    parser.add_argument("--recording", metavar="FILE",
                        help="the recording (default: RECORD_EXPORT's .recording file beside it)")
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    parser.add_argument("--party", metavar="P", help="the party whose view opens first")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not try to open the console in a browser")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from detente.api.replay_app import create_replay_app
    from detente.service.replay import (
        UNSIGNED_NOTE,
        Replay,
        read_ledger_export,
        read_recording,
        recording_path,
    )

    ledger = read_ledger_export(args.export)  # RecordVerificationError: refused
    print(ledger.report.summary(), flush=True)
    path = Path(args.recording) if args.recording else recording_path(args.export)
    if not path.exists():
        raise InputError(f"no recording {path}: export with detente export --with-recording "
                         f"--out {args.export}, or name it with --recording")
    recording = read_recording(path)
    if not recording.batches and not recording.events:
        raise InputError(f"{path}: nothing was recorded in its time span: nothing to replay")
    replay = Replay(recording, ledger)
    replay.check_binding()
    checked = replay.cross_check()
    if args.party is not None and args.party not in replay.config.parties:
        raise InputError(f"--party: no party {args.party!r} in the recording (parties: "
                         f"{', '.join(replay.config.parties)})")
    print(f"{replay.summary()}; its {checked['messages']} hotline messages, "
          f"{checked['acknowledgements']} acknowledgements and {checked['alerts']} recorded "
          "alerts agree with the signed record.")
    reports = recording.reports
    print(f"{checked['anchored_reports']:,} of its {reports:,} track reports hash to the "
          f"digests of {checked['anchors']} anchors in the record; "
          f"{reports - checked['anchored_reports']:,} have no anchor in this export"
          + (f" ({checked['unchecked_anchors']} anchors are of reports the recording holds "
             "only in part: its span cuts them)" if checked["unchecked_anchors"] else "")
          + ".")
    print(UNSIGNED_NOTE)
    url = f"http://127.0.0.1:{args.port}/"
    print(f"replay: {url}console/?source=replay"
          f"{'&party=' + args.party if args.party else ''}")
    print("Ctrl-C stops the replay.", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_replay_app(replay, args.party),
                                           host="127.0.0.1", port=args.port,
                                           log_level="warning"))
    if not args.no_browser:
        threading.Thread(target=_open_browser, args=(server, url), daemon=True).start()
    try:
        server.run()  # shuts down cleanly on Ctrl-C, then raises it again
    except KeyboardInterrupt:
        pass
    print("detente replay stopped.", file=sys.stderr)
    return 0


def _open_browser(server: object, url: str) -> None:
    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.1)
    try:
        webbrowser.open(url)
    except webbrowser.Error:
        pass
