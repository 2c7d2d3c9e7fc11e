"""The tactical engine never makes its caller wait for numba's compiler.

"auto" takes the compiled path only where the kernels are loaded, or cached and the picture
large enough to pay for loading them; ``warm_up`` compiles them in a child process while the
caller goes on; a stamp tells later processes that numba's cache holds them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from detente.engines import _kernel_cache, tactical
from detente.engines.tactical import KernelState

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("where", "n", "path"),
    [
        (KernelState.LOADED, tactical.AUTO_COMPILED_MIN - 1, "general"),
        (KernelState.LOADED, tactical.AUTO_COMPILED_MIN, "compiled"),
        (KernelState.CACHED, tactical.AUTO_LOAD_MIN - 1, "general"),
        (KernelState.CACHED, tactical.AUTO_LOAD_MIN, "compiled"),
        (KernelState.MISSING, tactical.AUTO_LOAD_MIN * 10, "general"),
    ],
)
def test_auto_takes_the_compiled_path_only_where_it_pays_and_never_compiles(
        monkeypatch, where, n, path):
    monkeypatch.setattr(_kernel_cache, "state", lambda: where)
    assert tactical._resolve("auto", n) == path
    # An explicit choice is obeyed whatever the cache holds.
    assert tactical._resolve("general", n) == "general"
    assert tactical._resolve("compiled", 2) == "compiled"


def test_auto_on_missing_kernels_answers_on_the_general_path(monkeypatch):
    monkeypatch.setattr(_kernel_cache, "state", lambda: KernelState.MISSING)
    monkeypatch.setattr(tactical, "AUTO_LOAD_MIN", 1_500)

    def no_compiler(*args, **kwargs):
        raise AssertionError("the compiled path was taken")

    monkeypatch.setattr(tactical, "_detect_compiled", no_compiler)
    rng = np.random.default_rng(3)
    n = 2_000
    x, y = rng.uniform(-2e5, 2e5, n), rng.uniform(-2e5, 2e5, n)
    z, vx, vy = rng.uniform(3e3, 4e3, n), rng.uniform(-200, 200, n), rng.uniform(-200, 200, n)
    found = tactical.detect_xy(x, y, z, vx, vy, np.zeros(n))
    assert len(found) > 0


def run(code: str, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_warm_up_builds_in_a_child_and_later_processes_find_the_stamp(tmp_path):
    # An empty cache stands for the first run after install. warm_up returns before the
    # kernels exist; a child compiles them; this process then loads them; the next process
    # finds them cached (and has not loaded them yet).
    cache = tmp_path / "numba"
    cache.mkdir()
    out = run(
        "import time\n"
        "from detente.engines import tactical as t\n"
        "print(t.kernel_state().value)\n"
        "t.warm_up()\n"
        "print(t.kernel_state().value)\n"
        "deadline = time.monotonic() + 240\n"
        "while t.kernel_state() is not t.KernelState.LOADED and time.monotonic() < deadline:\n"
        "    time.sleep(0.2)\n"
        "print(t.kernel_state().value)\n",
        cache,
    )
    assert out.split() == ["missing", "missing", "loaded"]
    assert (cache / _kernel_cache.STAMP_NAME).is_file()
    assert not (cache / _kernel_cache.LOCK_NAME).exists()
    assert run("from detente.engines import tactical as t; print(t.kernel_state().value)",
               cache) == "cached"
    # A stamp whose index files are gone (a cleared cache) does not count.
    for index in cache.rglob("*.nbi"):
        index.unlink()
    assert run("from detente.engines import tactical as t; print(t.kernel_state().value)",
               cache) == "missing"
