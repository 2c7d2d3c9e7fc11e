"""The command line starts at once: each sub-command imports what it needs and nothing else.

Checked by what a fresh interpreter has imported after the command, not by a stopwatch (the
figures are in the README, from hyperfine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detente.cli import conflicts
from detente.cli.main import COMMANDS
from detente.engines import tactical

ROOT = Path(__file__).resolve().parents[2]
HEAVY = {"numpy", "shapely", "pyproj", "numba", "sqlalchemy", "fastapi", "uvicorn", "httpx",
         "cryptography", "nacl", "msgspec", "starlette", "pydantic"}


def imported_by(*argv: str) -> tuple[set[str], set[str]]:
    """(heavy top-level packages, detente.cli modules) a fresh `detente ARGV` imports."""
    code = (
        "import json, sys\n"
        "from detente.cli.main import main\n"
        "try:\n"
        f"    main({list(argv)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "mods = list(sys.modules)\n"
        "print(json.dumps(mods), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
                          timeout=120)
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    heavy = {m.split(".")[0] for m in modules} & HEAVY
    cli = {m for m in modules if m.startswith("detente.cli.")} - {"detente.cli.main"}
    return heavy, cli


def test_help_imports_no_library_and_no_sub_command():
    assert imported_by("--help") == (set(), set())


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_sub_commands_help_imports_only_that_sub_command(command):
    _, cli = imported_by(command, "--help")
    assert cli - {"detente.cli.options"} == {f"detente.cli.{COMMANDS[command][0]}"}


def test_offline_commands_import_no_service_database_or_compiler():
    service_side = {"numba", "sqlalchemy", "fastapi", "uvicorn", "httpx", "starlette"}
    for argv in (["conflicts", str(ROOT / "examples" / "paris_snapshot.csv")],
                 ["incursions", str(ROOT / "examples" / "yayladagi_2015.csv")],
                 ["intents", "check", str(ROOT / "examples" / "intents.json")]):
        heavy, _ = imported_by(*argv)
        assert "numpy" in heavy, argv  # it did run
        assert not heavy & service_side, argv


def test_conflicts_defaults_are_the_engines():
    assert conflicts.DEFAULT_LOOKAHEAD_S == tactical.DEFAULT_LOOKAHEAD_S
    assert conflicts.DEFAULT_HORIZONTAL_M == tactical.DEFAULT_HORIZONTAL_M
    assert conflicts.DEFAULT_VERTICAL_M == tactical.DEFAULT_VERTICAL_M
