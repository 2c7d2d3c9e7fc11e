"""Where the tactical engine's compiled kernels stand, and how they get built without a wait.

numba compiles ``_tactical_kernels`` on a process's first compiled call: 7 to 15 s on a 2-core
machine. Once it has, its cache (``__pycache__`` beside the module) lets a later process load
them instead, which still costs about 0.8 s idle (importing numba, then the kernels): more than
the general path takes for a one-off detection of 20,000 aircraft. So the tactical engine's
``"auto"`` asks this module where the kernels stand:

- ``LOADED``: this process has them; calls cost only their work.
- ``CACHED``: numba's cache holds them for this interpreter, this numba and this source; the
  first call loads them.
- ``MISSING``: the first call would compile.

and never waits for a compiler: while the kernels are MISSING it takes the general path, and
``build_in_background`` compiles them in a child process (which fills numba's cache, then writes
the stamp below), so the caller's own work goes on at once.

numba keeps no "is it cached?" query that does not import numba and the kernels (which is the
0.8 s to save), so the child that built them writes a stamp, ``_tactical_kernels.ready.json``
beside numba's index files: the Python, numba (its installed ``__init__.py``, which a reinstall
replaces) and kernel source it built for, ``NUMBA_CACHE_DIR`` at the time, and numba's index
files, which must still exist. A stamp that no longer matches counts as MISSING.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

__all__ = [
    "KernelState",
    "build_in_background",
    "mark_loaded",
    "stamped",
    "state",
    "wait_until_cached",
    "write_stamp",
]

KERNELS = Path(__file__).with_name("_tactical_kernels.py")
STAMP_NAME = "_tactical_kernels.ready.json"
LOCK_NAME = "_tactical_kernels.building"
# A build lock older than this is a build that died: compiling takes 15 s at worst here.
_STALE_LOCK_S = 600.0


class KernelState(enum.Enum):
    LOADED = "loaded"
    CACHED = "cached"
    MISSING = "missing"


_loaded = False
_lock = threading.Lock()


def mark_loaded() -> None:
    """Called once a compiled call has returned in this process."""
    global _loaded
    _loaded = True


def state() -> KernelState:
    """Where the kernels stand for this process (see the module docstring). Cheap: a stat or
    two and a small JSON file, no numba."""
    if _loaded:
        return KernelState.LOADED
    return KernelState.CACHED if stamped() else KernelState.MISSING


def stamped() -> bool:
    """Whether a stamp says numba's cache holds the kernels for this process."""
    stamp = _read_stamp()
    if stamp is None or stamp.get("expect") != _expected():
        return False
    return all(Path(p).is_file() for p in stamp.get("index_files", []))


def write_stamp(index_files: list[str]) -> Path | None:
    """Record that numba's cache now holds the kernels (by the process that compiled or loaded
    them); None where no stamp folder is writable."""
    folder = _stamp_folder()
    if folder is None:
        return None
    path = folder / STAMP_NAME
    tmp = folder / f".{STAMP_NAME}.{os.getpid()}"
    try:
        tmp.write_text(json.dumps({"expect": _expected(), "index_files": index_files}))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    return path


def build_in_background() -> subprocess.Popen[bytes] | None:
    """Start a child process that compiles the kernels into numba's cache and stamps them;
    None when one is already building them or there is nowhere to keep the stamp. The child
    outlives its parent (its own session: a Ctrl-C of the parent's terminal does not stop it)."""
    folder = _stamp_folder()
    if folder is None:
        return None
    lock = folder / LOCK_NAME
    with _lock:
        with contextlib.suppress(OSError):
            if time.time() - lock.stat().st_mtime > _STALE_LOCK_S:
                lock.unlink()
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except OSError:
            return None  # another process is building them
        os.close(fd)
    import subprocess  # here: 10 ms to import, for a process that may never build

    try:
        return subprocess.Popen(
            [sys.executable, "-m", "detente.engines._kernel_cache", str(lock)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        lock.unlink(missing_ok=True)
        return None


def wait_until_cached(timeout_s: float = _STALE_LOCK_S, poll_s: float = 0.5) -> bool:
    """Wait until a build (ours or another process's) has stamped the kernels."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if state() is not KernelState.MISSING:
            return True
        folder = _stamp_folder()
        if folder is None or not (folder / LOCK_NAME).exists():
            # No build running: one more look, in case it stamped just before it unlocked.
            return state() is not KernelState.MISSING
        time.sleep(poll_s)
    return False


def _expected() -> dict[str, Any]:
    """What a stamp must say for the cache to serve this process."""
    spec = importlib.util.find_spec("numba")
    numba_init = spec.origin if spec is not None and spec.origin else ""
    return {
        "python": sys.implementation.cache_tag,
        "numba": [numba_init, _mtime(numba_init)],
        "kernels": [str(KERNELS), _mtime(str(KERNELS)), _size(KERNELS)],
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR", ""),
    }


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _stamp_folder() -> Path | None:
    """Where numba caches the kernels: NUMBA_CACHE_DIR when set, else beside the module; else
    the user's cache."""
    candidates = [KERNELS.parent / "__pycache__"]
    if os.environ.get("NUMBA_CACHE_DIR"):
        candidates.insert(0, Path(os.environ["NUMBA_CACHE_DIR"]))
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    candidates.append(Path(base) / "detente")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    return None


def _read_stamp() -> dict[str, Any] | None:
    folder = _stamp_folder()
    if folder is None:
        return None
    try:
        stamp = json.loads((folder / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _build(lock: Path) -> int:
    """The child's work: one compiled call (numba compiles and caches), then the stamp."""
    try:
        from detente.engines.tactical import warm_up

        warm_up(background=False)
        return 0
    finally:
        lock.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(_build(Path(sys.argv[1])))
