"""`detente demo` as a newcomer runs it, without a browser: real runs at 20x.

The demo must say "ready" only once the service answers, tell the story as the parties are told
it (a warning raised, the automatic flash sent, acknowledged from the command line, another
escalated), keep its keys in its data folder (0600) and nothing in the temporary folder, and,
started again on the same folder, carry on the same record: the witnesses' heads from both runs
hold against the final export.
"""

from __future__ import annotations

import base64
import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from detente.cli.main import main
from detente.ledger.keys import load_private_key, public_key_bytes

ROOT = Path(__file__).resolve().parents[2]
SPEED = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    """A `detente demo` process and the lines it has printed."""

    def __init__(self, data: Path, tmpdir: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "detente", "demo", "--speed", str(SPEED), "--port",
             str(port), "--no-browser", "--data", str(data)],
            cwd=tmpdir, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmpdir),
                 "PYTHONPATH": str(ROOT / "src")})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        """The first line from now on that matches ``pattern``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line like {pattern!r} in {timeout} s:\n"
                                     + "\n".join(self.lines)) from None
            if line is None:
                raise AssertionError(f"the demo exited before {pattern!r}:\n"
                                     + "\n".join(self.lines))
            self.lines.append(line)
            if m := re.search(pattern, line):
                return m

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=30)
        while (line := self._queue.get(timeout=5)) is not None:
            self.lines.append(line)
        return code


def test_the_story_without_a_browser_and_a_restart_on_the_same_record(tmp_path, capsys):
    data, tmpdir = tmp_path / "data", tmp_path / "tmp"
    tmpdir.mkdir()

    demo = Demo(data, tmpdir, free_port())
    try:
        demo.wait_for(r"^log key: .*log\.pem \(made now\)")
        demo.wait_for(r"^record: .*, new$")
        demo.wait_for(r"^ready: the service answers")
        # "ready" comes once the service answers, and the console's address after it.
        assert httpx.get(f"{demo.url}/health", timeout=5).status_code == 200
        assert not any(line.startswith("console:") for line in demo.lines)
        demo.wait_for(rf"^console: {demo.url}/console/$")
        keys = data / "keys"
        demo.wait_for(rf"^key: RUS rus-watch {keys / 'rus-watch.pem'}$")

        # The story: the lead's warning, the automatic flash on behalf of Turkey's watch.
        demo.wait_for(r"  WARNING +incursion: RUS SU24-LEAD enters Turkey in \d+ s "
                      r"\(alert \w+; told to RUS and TUR\)")
        lead = demo.wait_for(r"  SENT +flash TUR \(automatic\) -> RUS: \"AUTOMATIC WARNING .*"
                             r"SU24-LEAD .*\" \(message (\w+)\)")[1]
        hint = demo.wait_for(r"detente hotline ack (\w+) --party RUS --official rus-watch")
        assert hint[1] == lead
        # Acknowledged from the command line, as the hint says; the story tells it.
        assert main(["hotline", "ack", lead, "--party", "RUS", "--official", "rus-watch",
                     "--key", str(keys / "rus-watch.pem"), "--url", demo.url,
                     "--reply", "Turning south"]) == 0
        demo.wait_for(rf"  ACKNOWLEDGED message {lead[:8]} by RUS/rus-watch: \"Turning south\"")
        # The wingman's flash, left unanswered, climbs both ladders.
        wing = demo.wait_for(r"  SENT +flash TUR \(automatic\) -> RUS: .*SU24-WING.*"
                             r"\(message (\w+)\)")[1]
        demo.wait_for(rf"  ESCALATED +message {wing[:8]} unanswered: now to RUS rus-command "
                      r"\(level 2\) and TUR tur-command \(level 2\)")
    finally:
        code = demo.stop()
    assert code == 0, "\n".join(demo.lines)
    assert demo.lines[-1].startswith("detente demo stopped.")
    assert not [line for line in demo.lines if "Traceback" in line or "Error" in line]

    # Its keys are in its folder, private; nothing was left in the temporary folder.
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for key in [data / "log.pem", *keys.glob("*.pem")]:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert len(list(keys.glob("*.pem"))) == 12
    assert list(tmpdir.iterdir()) == []

    again = Demo(data, tmpdir, free_port())
    try:
        again.wait_for(r"^log key: .*log\.pem \(kept from an earlier start\)")
        entries = int(again.wait_for(r"^record: .*, carrying on: ([\d,]+) entries")[1]
                      .replace(",", ""))
        assert entries > 10
        again.wait_for(r"^ready: the service answers")
        again.wait_for(r"  BEFORE +\d+ hotline messages? from before this start")
        again.wait_for(r"  WARNING +incursion: RUS SU24-LEAD enters Turkey")
        again.wait_for(r"  SENT +flash TUR \(automatic\) -> RUS")
    finally:
        code = again.stop()
    assert code == 0, "\n".join(again.lines)
    assert not [line for line in again.lines if "Traceback" in line or "Error" in line]
    assert list(tmpdir.iterdir()) == []

    # One record across both runs: every head the parties' witnesses accepted, in both runs,
    # is a prefix of the final export, signed by the one log key.
    export = tmp_path / "record.jsonl"
    db = f"sqlite:///{data / 'demo.sqlite'}"
    assert main(["export", "--db", db, "--out", str(export)]) == 0
    log_key = base64.b64encode(public_key_bytes(load_private_key(data / "log.pem"))).decode()
    (heads,) = (data / "heads").glob("*/TUR.jsonl")
    assert len(heads.read_text().splitlines()) >= 2
    capsys.readouterr()
    assert main(["verify", str(export), "--log-key", log_key, "--heads", str(heads)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")


def test_a_database_signed_by_another_log_key_is_refused_in_words(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    demo = Demo(first, tmp_path, free_port())
    try:
        demo.wait_for(r"^ready: the service answers")
    finally:
        assert demo.stop() == 0
    db = f"sqlite:///{first / 'demo.sqlite'}"
    capsys.readouterr()
    assert main(["demo", "--data", str(second), "--db", db, "--port", str(free_port()),
                 "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Error" not in err
    assert err.startswith(f"detente demo: the record in {db} is signed by log key ")
    assert "start with the data folder it was made with (--data)" in err
