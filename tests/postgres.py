"""A real PostgreSQL for the tests: ``initdb`` in a temporary folder, ``postgres`` on a free
loopback port, stopped when the session ends. One server per test session; each test that asks
gets a database of its own (``CREATE DATABASE``), dropped after it.

The binaries are Debian's (``.ci/install-postgres``): the newest of
/usr/lib/postgresql/*/bin, or the folder in ``DETENTE_PG_BIN``. Where there are none the tests
that need the server skip, saying so. PostgreSQL refuses to run as root: as root, the server
runs as the ``postgres`` user that Debian's package creates (the data folder is given to it).

``database_url`` (a fixture) is parametrised over both databases: a test that takes it runs on
SQLite and on PostgreSQL (ids ``sqlite`` and ``postgresql``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "database_url", "pg_server", "postgres_url", "raw_execute",
           "raw_rows"]


def _bin_dir() -> Path | None:
    explicit = os.environ.get("DETENTE_PG_BIN")
    candidates = [explicit] if explicit else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "postgres").is_file():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A throwaway PostgreSQL cluster: ``start()``, ``url(dbname)``, ``create_database()``,
    ``stop()``. Trust authentication on 127.0.0.1 only: it is reachable from this machine
    alone, for the length of a test run."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="detente-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.user = "postgres"  # the database superuser initdb makes (-U)
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_as: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "running as root and there is no 'postgres' user to run PostgreSQL as "
                    "(Debian's postgresql package makes one)") from None
            self._run_as = "postgres"
            shutil.chown(self.root, "postgres")
            self.root.chmod(0o700)

    def _popen(self, args: list[str], **kw: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(args, user=self._run_as, group=self._run_as,  # type: ignore[call-overload]
                                **kw)

    def start(self) -> None:
        init = self._popen(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = init.communicate(timeout=120)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.decode(errors='replace')[-2000:]}")
        log = open(self.log, "ab")
        if self._run_as:
            shutil.chown(self.log, self._run_as)
        # fsync stays on: the ledger's receipts are promised after a durable commit, and the
        # tests that kill servers rely on it. Sockets in the data folder, not /var/run.
        self._proc = self._popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-h", "127.0.0.1", "-k", str(self.data), "-c", "max_connections=200",
             "-c", "shared_buffers=128MB", "-c", "log_min_messages=warning"],
            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.2):
                    pass
                with self.connect("postgres") as conn:
                    conn.execute("SELECT 1")
                return
            except OSError:
                pass
            except Exception:  # psycopg's "the database system is starting up"
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def url(self, dbname: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, dbname: str):
        import psycopg
        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        name = name or f"t_{uuid.uuid4().hex[:16]}"
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self.connect("postgres") as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


_SKIP_REASON = ("PostgreSQL's binaries are not installed (no /usr/lib/postgresql/*/bin/initdb; "
                "`bash .ci/install-postgres` installs Debian's): the PostgreSQL runs skip")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (skips where the binaries are missing)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip(_SKIP_REASON)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[test]'): the PostgreSQL "
                    "runs skip")
    server = PostgresServer(bin_dir)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped after it."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            pg_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, on SQLite and then on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'd.sqlite'}"
    return request.getfixturevalue("postgres_url")


def _raw_connect(url: str):
    """A connection of the database's own driver (sqlite3 or psycopg), not through detente
    nor SQLAlchemy: the tests' independent view of what is stored."""
    if url.startswith("sqlite:///"):
        import sqlite3
        return sqlite3.connect(url[len("sqlite:///"):])
    import psycopg
    return psycopg.connect(url, autocommit=True)


def raw_rows(url: str, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """The rows of ``sql`` (``?`` for parameters, on either database)."""
    conn = _raw_connect(url)
    try:
        if not url.startswith("sqlite:"):
            sql = sql.replace("?", "%s")
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def raw_execute(url: str, *statements: str) -> None:
    conn = _raw_connect(url)
    try:
        for sql in statements:
            conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


if __name__ == "__main__":
    # A throwaway PostgreSQL for the benches and the README's examples: prints the URL of an
    # empty database, runs until Ctrl-C (or SIGTERM), then removes everything.
    import sys
    found = _bin_dir()
    if found is None:
        sys.exit(_SKIP_REASON)
    # Waited for, not handled: blocked first, and their disposition the default (a shell
    # starts a background job with SIGINT ignored, and an ignored signal is never waited for;
    # an unblocked SIGTERM would end this process without stopping the server).
    stops = {signal.SIGINT, signal.SIGTERM}
    for s in stops:
        signal.signal(s, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    server = PostgresServer(found)
    server.start()
    try:
        names = sys.argv[1:] or ["detente"]
        for name in names:
            print(server.create_database(name), flush=True)
        signal.sigwait(stops)
    finally:
        server.stop()
