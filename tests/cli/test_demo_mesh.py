"""`detente demo --mesh` as a newcomer runs it, at 20x, without a browser: three nodes, one per
party, each with its own database, log key and console port; the story tells the Su-24 lead's
incursion warning once (both nodes saw it) and TUR's automatic flash to RUS; each node's links
are up; Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from detente.cli.client import ServiceClient
from tests.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_mesh_demo_tells_the_2015_story_across_three_nodes(tmp_path):
    port = free_port()
    while any(_taken(port + k) for k in range(3)):
        port = free_port()
    data = tmp_path / "data"
    process = subprocess.Popen(
        [sys.executable, "-m", "detente", "demo", "--mesh", "--speed", "20", "--port",
         str(port), "--no-browser", "--data", str(data)],
        cwd=tmp_path, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT / "src")})
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for x in process.stdout:
            lines.put(x.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []

    def until(pattern: str, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                assert process.poll() is None, "\n".join(seen)
                continue
            assert line is not None, "\n".join(seen)
            seen.append(line)
            if pattern in line:
                return line
        raise AssertionError(f"no line with {pattern!r}:\n" + "\n".join(seen))

    try:
        until("ready: the three nodes answer")
        until("WARNING      incursion: RUS SU24-LEAD enters Turkey")
        until('SENT         flash TUR (automatic) -> RUS: "AUTOMATIC WARNING from detente '
              'on behalf of TUR watch: your aircraft SU24-LEAD')
        until("WARNING      incursion: RUS SU24-WING")
        keys = data / "keys"
        for k, party in enumerate(("TUR", "RUS", "COA")):
            with ServiceClient(f"http://127.0.0.1:{port + k}", party,
                               keys / f"{party}.pem") as c:
                links = c.get("/v1/mesh/links")["links"]
            assert {link["state"] for link in links} == {"up"} and len(links) == 2
            assert (data / f"node-{party}.sqlite").exists()
            assert (data / f"log-{party}.pem").stat().st_mode & 0o777 == 0o600
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    while (line := lines.get(timeout=10)) is not None:
        seen.append(line)
    assert process.returncode == 0, "\n".join(seen)
    assert not [x for x in seen if "Traceback" in x or "Error" in x], "\n".join(seen)
    # The lead's warning was seen by both nodes, and is told once.
    assert sum("WARNING      incursion: RUS SU24-LEAD" in line for line in seen) == 1
    assert "detente demo --mesh stopped" in seen[-1], "\n".join(seen[-60:])


def _taken(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
