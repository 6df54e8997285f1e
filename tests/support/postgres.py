"""A throwaway PostgreSQL server for the tests, and a new empty database per test.

How to use it (the fixture is defined in tests/conftest.py)::

    async def test_something(pg_server: PgServer) -> None:
        dsn = await fresh_database(pg_server)   # ASYNC: a new, empty database's DSN
        store = await open_postgres(dsn)
        # fresh_database(pg_server, migrated=True): the same, schema already made

``pg_server`` is session-scoped: the first test that asks for it runs ``initdb`` and
``pg_ctl start`` in a temporary folder (about a second), and the session's end (or
the interpreter's exit, should the run crash) stops it and deletes the folder. Tests
that never ask for it start nothing. ``fresh_database_sync`` is the same for code
that has no event loop (a CLI test).

The server listens on 127.0.0.1 only, on a free port, with its unix socket in the
temporary folder and trust authentication: nothing outside this machine can reach it
and no password is needed. It runs with ``fsync=off``: a crash loses nothing we keep.

Where the binaries come from: ``pg_config --bindir``, then
/usr/lib/postgresql/*/bin (Debian's layout), then ``initdb`` on PATH. When none is
found and we are root on a Debian-like system, Debian's ``postgresql`` package is
installed once. PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` system user (created with ``useradd --system`` if missing). When the
server still cannot be had, the PostgreSQL tests are skipped with one line saying
why — except in CI (``CI`` set), where that is a failure: CI must test both engines.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

__all__ = ["PgServer", "PostgresUnavailable", "fresh_database", "fresh_database_sync",
           "server_for_tests", "start_server"]

_SUPERUSER = "postgres"  # the role initdb makes; the system user, when root, too
_INSTALL_TIMEOUT = 900
_SETTINGS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
             " -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB")


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why, in one line."""


@dataclass
class PgServer:
    """A running server: where it listens and how to stop it."""

    root: Path
    bindir: Path
    port: int
    run_as: tuple[int, int] | None  # (uid, gid) when we are root
    template: str | None = None  # see fresh_database(migrated=True)
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = field(
        default_factory=weakref.WeakKeyDictionary)
    _stopped: bool = False

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def next_name(self) -> str:
        return f"db_{next(self._names)}"

    def template_lock(self) -> asyncio.Lock:
        """One lock per event loop (pytest-asyncio gives each test its own loop)."""
        return self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())

    def stop(self) -> None:
        """Stop the server and delete its folder; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _run([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m",
                  "immediate", "-w", "stop"], self.run_as, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


async def fresh_database(server: PgServer, *, migrated: bool = False) -> str:
    """Create a new, empty database on ``server``; returns its DSN. Awaitable.

    With ``migrated`` the database is a copy of one that the engine's migrations were
    run on once per session: still no rows, but opening a store on it only checks the
    schema version instead of building the schema (about half a second per test on
    these machines). Tests of the migrations themselves want the default."""
    template = f' TEMPLATE "{await _migrated_template(server)}"' if migrated else ""
    name = server.next_name()
    conn = await asyncpg.connect(server.dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{template}')
    finally:
        await conn.close()
    return server.dsn(name)


async def _migrated_template(server: PgServer) -> str:
    """The database that ``migrated`` copies, made on first use."""
    async with server.template_lock():
        if server.template is None:
            from storage.postgres.engine import PgEngine

            name = "migrated_template"
            conn = await asyncpg.connect(server.dsn())
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()
            engine = PgEngine(server.dsn(name), max_size=1)
            await engine.open()
            await engine.close()  # a template must have no connections when copied
            server.template = name
        return server.template


def fresh_database_sync(server: PgServer) -> str:
    """``fresh_database`` for code without a running event loop, through ``psql``."""
    name = server.next_name()
    _run([str(server.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
          server.dsn(), "-c", f'CREATE DATABASE "{name}"'], None, timeout=60)
    return server.dsn(name)


def server_for_tests() -> PgServer:
    """Start a server for this test session, or skip (fail in CI) with the reason."""
    try:
        server = start_server()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL server for the tests: {exc}")
    atexit.register(server.stop)
    return server


def start_server() -> PgServer:
    bindir = _binaries()
    run_as = _system_user() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="mutual-pg-", dir=_base_dir(run_as)))
    try:
        (root / "sock").mkdir()
        if run_as is not None:
            for path in (root, root / "sock"):
                os.chown(path, *run_as)
        _run([str(bindir / "initdb"), "-D", str(root / "data"), "-U", _SUPERUSER,
              "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
             run_as, timeout=120)
        last = ""
        for _ in range(3):  # a port found free may be taken before the server binds it
            port = _free_port()
            try:
                _run([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l",
                      str(root / "server.log"), "-w", "-t", "60", "-o",
                      f"-p {port} -k {root / 'sock'} {_SETTINGS}", "start"],
                     run_as, timeout=90)
            except PostgresUnavailable as exc:
                last = str(exc)
                continue
            return PgServer(root=root, bindir=bindir, port=port, run_as=run_as)
        log = (root / "server.log").read_text(errors="replace")[-400:].replace("\n", " ")
        raise PostgresUnavailable(f"the server did not start: {last} {log}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def _run(cmd: list[str], run_as: tuple[int, int] | None, *, timeout: float) -> None:
    uid, gid = run_as if run_as is not None else (None, None)
    env = {**os.environ, "LC_ALL": "C"}
    if run_as is not None:
        env["HOME"] = "/"
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False, env=env, cwd="/", user=uid, group=gid,
                              extra_groups=[] if run_as is not None else None)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"{Path(cmd[0]).name}: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().replace("\n", " ")[-400:]
        raise PostgresUnavailable(f"{Path(cmd[0]).name} failed: {detail}")


def _find_bindir() -> Path | None:
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                                 timeout=10, check=False).stdout.strip()
            if out:
                candidates.append(Path(out))
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                  else 0, reverse=True)
    candidates += [Path(p) for p in versions]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _binaries() -> Path:
    bindir = _find_bindir()
    if bindir is not None:
        return bindir
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise PostgresUnavailable("PostgreSQL is not installed (initdb not found) and "
                                  "cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    for attempt in ([install], [["apt-get", "update", "-q"], install]):
        if all(subprocess.run(step, capture_output=True, env=env, timeout=_INSTALL_TIMEOUT,
                              check=False).returncode == 0 for step in attempt):
            break
    bindir = _find_bindir()
    if bindir is None:
        raise PostgresUnavailable("PostgreSQL is not installed and "
                                  "`apt-get install postgresql` did not install it")
    return bindir


def _system_user() -> tuple[int, int]:
    """The unprivileged user to run the server as when we are root."""
    try:
        entry = pwd.getpwnam(_SUPERUSER)
    except KeyError:
        done = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                               "/usr/sbin/nologin", _SUPERUSER], capture_output=True,
                              text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise PostgresUnavailable(f"running as root and no {_SUPERUSER!r} user to run "
                                      f"the server as: {done.stderr.strip()}") from None
        entry = pwd.getpwnam(_SUPERUSER)
    return entry.pw_uid, entry.pw_gid


def _base_dir(run_as: tuple[int, int] | None) -> str:
    """The temporary folder, or /tmp when the server's user could not reach into it."""
    base = tempfile.gettempdir()
    if run_as is None:
        return base
    path = Path(base).resolve()
    for folder in (path, *path.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            return "/tmp"
    return base


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
