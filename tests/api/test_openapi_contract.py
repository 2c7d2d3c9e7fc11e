"""The OpenAPI document against the API it describes: schemathesis, over every operation, with
a valid token, against a real server on loopback.

Every check schemathesis has (server errors, undocumented statuses, content types and headers,
response schemas, schema-valid requests refused, schema-violating ones accepted, ``Allow`` on
405...) must pass: zero failures. The run is bounded in time (``CONTRACT_MAX_TIME_S``, 150 s by
default); its seed is printed, so a failure can be replayed with ``--seed``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from detente.api.app import create_app
from detente.ledger.keys import generate_private_key
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve

HERE = Path(__file__).resolve().parent
MAX_TIME_S = int(os.environ.get("CONTRACT_MAX_TIME_S", "150"))


def _schemathesis() -> str | None:
    beside = Path(sys.executable).with_name("schemathesis")
    return str(beside) if beside.exists() else shutil.which("schemathesis")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    keys = {name: generate_private_key() for name in ("A", "B", "A-1", "B-1")}
    cfg = parse_config({
        "region": {"name": "contract", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.5, "log_key": str(tmp / "log.pem")},
        "parties": [{
            "id": p, "public_keys": [public_b64(keys[p])],
            "officials": [{"id": f"{p}-1", "name": f"{p} watch", "level": 1,
                           "public_key": public_b64(keys[f"{p}-1"])}],
        } for p in "AB"],
        "agreements": [{"parties": ["A", "B"]}],
    })
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}")) as base:
        yield base, login(base, keys["A-1"], "A", official="A-1"), tmp


def test_the_document_describes_the_api(server):
    exe = _schemathesis()
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[test]')")
    base, token, tmp = server
    report = tmp / "report"
    cmd = [exe, "--config-file", str(HERE / "schemathesis.toml"), "--no-color",
           "run", f"{base}/openapi.json", "-H", f"Authorization: Bearer {token}",
           "--checks", "all", "--max-time", str(MAX_TIME_S), "--request-timeout", "20",
           "--report", "json", "--report-dir", str(report), "--suppress-health-check", "all"]
    # In the test's own folder: schemathesis keeps a cache (.schemathesis/) where it runs.
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=MAX_TIME_S + 240,
                          cwd=tmp)
    out = done.stdout + done.stderr
    (path,) = report.glob("*.json")
    run = json.loads(path.read_text())
    ops, cases = run["operations"], run["test_cases"]
    print(f"schemathesis {run['schemathesis_version']}: {ops['tested']} of {ops['total']} "
          f"operations, {cases['generated']} cases, {cases['unique_failures']} failures, "
          f"{len(run['errors'])} errors in {run['running_time']:.0f} s; seed {run['seed']}")
    assert done.returncode == 0 and run["failures"] == [] and run["errors"] == [], out[-20000:]
    # Every operation of the document was tested (none skipped or errored)...
    with httpx.Client(base_url=base) as c:
        doc = c.get("/openapi.json").json()
    count = sum(len(methods) for methods in doc["paths"].values())
    assert ops["total"] == ops["tested"] == count >= 22
    # ... and none of another API's (ASTM F3548, with its own document) is in this one.
    assert not [p for p in doc["paths"] if p.startswith("/dss/")]
