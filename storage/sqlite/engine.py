"""Runs sqlite work off the event loop, with group commit.

Why not one statement per thread hop (as aiosqlite does): an inbox write is several
statements, and each hop costs ~65 µs here (DESIGN §7). We run a whole *unit* (a
function over the connection) per hop instead, and batch the units that arrive while
a commit is in flight into the next transaction — each in its own SAVEPOINT, so one
failing unit rolls back alone. A commit per unit would cap writes at ~4,900/s; grouped,
thousands of units share one fsync.

Reads use a second connection in its own thread; WAL lets them run beside the writer
and always see the last committed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from storage.sqlite.schema import MIGRATIONS

__all__ = ["SqliteEngine"]

T = TypeVar("T")
_MAX_BATCH = 512


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process kill (the WAL is in the OS cache already);
    # only an OS crash or power loss can lose the last commits.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations; returns the schema version now in force."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    current = row[0] or 0
    for version, sql in MIGRATIONS:
        if version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in sql.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = version
    return current


class SqliteEngine:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._read_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-read")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.commits = 0

    async def open(self) -> int:
        loop = asyncio.get_running_loop()

        def open_writer() -> int:
            self._writer = _connect(self.path)
            return migrate(self._writer)

        version = await loop.run_in_executor(self._write_pool, open_writer)

        def open_reader() -> None:
            self._reader = _connect(self.path)

        await loop.run_in_executor(self._read_pool, open_reader)
        return version

    async def close(self) -> None:
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            await loop.run_in_executor(self._write_pool, self._writer.close)
        if self._reader is not None:
            await loop.run_in_executor(self._read_pool, self._reader.close)
        self._write_pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        assert self._reader is not None, "engine not open"
        reader = self._reader
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, fn, reader)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside a transaction shared with other concurrent writers."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = self._pending[:_MAX_BATCH]
            del self._pending[:_MAX_BATCH]
            try:
                outcomes = await loop.run_in_executor(self._write_pool, self._run_batch, batch)
            except BaseException as exc:  # the commit itself failed: every unit failed
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _run_batch(
        self, batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]]
    ) -> list[tuple[bool, Any]]:
        conn = self._writer
        assert conn is not None
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, _ in batch:
                conn.execute("SAVEPOINT unit")
                try:
                    value = fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO unit")
                    conn.execute("RELEASE unit")
                    outcomes.append((False, exc))
                else:
                    conn.execute("RELEASE unit")
                    outcomes.append((True, value))
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return outcomes


def now() -> float:
    return time.time()
