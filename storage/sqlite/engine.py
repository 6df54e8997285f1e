"""sqlite for an asyncio server: group commit, point reads in place, scans off the loop.

Writes. A write is a *unit* (a function over the connection, a few statements), and the
units that arrive while a commit is in flight are batched into the next transaction,
where one failing unit must roll back alone. A SAVEPOINT per unit does that, but costs
an inbox unit ~10 µs, a fifth of its statements (the SAVEPOINT and RELEASE, and a copy
of every page the unit changes, kept in case of a rollback), for units that almost
never fail. So a batch first runs with no savepoint at all; if a unit raises, the whole
batch is rolled back and run again, each unit in its own savepoint (units only act
through the connection, so running one twice is harmless). A commit per unit would
cap writes at ~4,900/s (DESIGN §7); grouped, a commit is shared by tens of units (~23
per commit at ~2,700 inbox requests/s, up to 512). The units themselves run on the
event loop thread; only BEGIN (which may wait for another process's lock) and COMMIT
(the WAL write, ~60% of a unit's cost, and now and then a checkpoint with its fsync)
go to the writer thread, whose sqlite work runs without the GIL. Why not the whole
batch in the thread, as this engine first did: every statement there hands the GIL
back and forth with the loop (seven per inbox unit), and those futex hand-offs were 15%
of the process's CPU, while the loop sat idle ~30% of the time waiting for commits that
were waiting for the GIL. Under load the thread opens the next transaction right after
the COMMIT, so a batch costs the loop one thread hop.

Reads come in two sizes. Small point reads (a primary-key or unique-index lookup: an
account, an actor, "have we seen this activity id?") run *in place*, on the event loop,
through a connection of their own. Measured on these machines (2 cores): such a select
costs ~3 µs of loop CPU for a miss and ~10 µs for a 1.5 KB actor row, while the same
select through a reader thread takes ~76 µs of latency alone; with 64 requests in
flight the one reader thread serialises them at one per 15-45 µs (it fights the loop
for the GIL) and each still costs the loop ~9 µs (executor submit, future chaining,
the self-pipe wake-up). An inbox request made eight of them: the hops, not sqlite,
were a quarter of its time. WAL readers never wait for the writer (they read the last
committed snapshot), so a point read does not stall the loop behind a commit. Big reads
(collection pages, counts over many rows) still go to the reader thread, where their
milliseconds do not stall every other request.

Every point read is fetched to the end (``fetchall``) so that no statement stays open:
an open statement would pin its read transaction to an old snapshot.

Another process may hold the write lock (an admin's ``sqlite3`` shell, a CLI command,
a backup). A batch waits for it at most ``write_wait`` seconds (``WRITE_WAIT``, 5 s),
then every unit of the batch fails with ``StorageBusy`` having written nothing, and the
node answers 503 with ``Retry-After``: a peer retries a delivery anyway, and its HTTP
client gives up after ~10 s, so waiting longer would only hold its connection and
ours. Readers never wait: WAL readers see the last committed snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from storage.sqlite.schema import MIGRATIONS
from storage.store import StorageBusy, StorageUnavailable

__all__ = ["WRITE_WAIT", "Rollback", "SqliteEngine"]

T = TypeVar("T")
_MAX_BATCH = 512
WRITE_WAIT = 5.0  # seconds a write waits for another process's lock (module docstring)
log = logging.getLogger("mutual.sqlite")


def _connect(path: str, busy_timeout: float = 30.0) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                           timeout=busy_timeout)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a process kill (the WAL is in the OS cache already);
    # only an OS crash or power loss can lose the last commits.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    return conn


# Primary result codes (the low byte of an extended code) that mean "cannot write
# here now", as opposed to a bug in a statement.
_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_UNWRITABLE = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
               sqlite3.SQLITE_CANTOPEN)


def _as_storage_error(exc: BaseException, wait: float) -> BaseException:
    """sqlite's "database is locked" (SQLITE_BUSY once the busy timeout has passed) as
    the store's ``StorageBusy``, a full disk or a read-only file as
    ``StorageUnavailable``; anything else as it is."""
    if not isinstance(exc, sqlite3.OperationalError):
        return exc
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    error: StorageUnavailable
    if code in _BUSY or (not code and "locked" in str(exc)):
        error = StorageBusy(f"the database is busy: {exc}", retry_after=wait)
    elif code in _UNWRITABLE:
        error = StorageUnavailable(f"the database cannot be written: {exc}", retry_after=wait)
    else:
        return exc
    error.__cause__ = exc
    return error


def _statements(sql: str) -> list[str]:
    """Split a migration into statements; a trigger's body keeps its own semicolons."""
    out: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                out.append(pending)
            pending = ""
    if pending.strip(" \n;"):
        out.append(pending)
    return out


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
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current = version
    return current


class Rollback(Exception):
    """Raised by a unit to undo what it wrote and still answer ``value``. The engine
    undoes it as it undoes a failing unit (its batch runs again, the unit inside its own
    savepoint, rolled back to it), so the unit needs no savepoint of its own."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


class SqliteEngine:
    def __init__(self, path: Path | str, *, write_wait: float = WRITE_WAIT) -> None:
        self.path = str(path)
        self.write_wait = write_wait
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-write")
        self._read_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-read")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._point: sqlite3.Connection | None = None  # only ever used on the loop thread
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.commits = 0
        self.units = 0  # units / commits = the mean group-commit batch
        self.replays = 0  # batches run again, each unit in a savepoint, after a failure

    async def open(self) -> int:
        loop = asyncio.get_running_loop()

        def open_writer() -> int:
            self._writer = _connect(self.path, self.write_wait)
            # Room for a whole batch's dirty pages: past the cache, sqlite spills them to
            # the WAL in the middle of the transaction, that is on the loop thread.
            self._writer.execute("PRAGMA cache_size=-32768")
            # A statement that may have to undo itself halfway (an upsert, an INSERT ...
            # SELECT, one that fires a trigger), and a unit's savepoint when a batch is
            # run again, keep the original of each page they change in a sub-journal,
            # which sqlite spills to a temporary *file* past 64 KiB: every page write
            # became a system call (a fifth of an inbox unit's statement time, a third
            # with its savepoint). In memory it is a few KiB, freed when the statement
            # or savepoint ends.
            self._writer.execute("PRAGMA temp_store=MEMORY")
            # A checkpoint copies the WAL's pages into the database file; with 4,000
            # pages (16 MB) instead of sqlite's 1,000 between checkpoints, a page that
            # many commits change (an index's, a table's last) is copied once instead of
            # four times: ~10 µs less per inbox unit, in COMMIT.
            self._writer.execute("PRAGMA wal_autocheckpoint=4000")
            version = migrate(self._writer)
            # One real write (a WAL frame) before anything is served: a read-only data
            # folder or a full disk stops the node at start, with a reason, rather than
            # failing its first request.
            self._writer.execute(f"PRAGMA user_version={version}")
            return version

        try:
            version = await loop.run_in_executor(self._write_pool, open_writer)
        except sqlite3.Error as exc:
            self._write_pool.shutdown(wait=False)
            self._read_pool.shutdown(wait=False)
            raise StorageUnavailable(f"cannot open the database {self.path} for writing:"
                                     f" {exc} (is its folder writable, and the disk not"
                                     " full?)") from exc

        def open_reader() -> None:
            self._reader = _connect(self.path)

        await loop.run_in_executor(self._read_pool, open_reader)
        self._point = _connect(self.path)
        return version

    async def close(self) -> None:
        if self._flushing is not None:
            with contextlib.suppress(Exception):
                await self._flushing
        if self.commits:
            log.info("%d write units in %d commits (%.1f per commit)", self.units, self.commits,
                     self.units / self.commits)
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            await loop.run_in_executor(self._write_pool, self._writer.close)
        if self._reader is not None:
            await loop.run_in_executor(self._read_pool, self._reader.close)
        if self._point is not None:
            self._point.close()
            self._point = None
        self._write_pool.shutdown(wait=True)
        self._read_pool.shutdown(wait=True)

    def point(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        """Run one small indexed select now, on the calling (event loop) thread."""
        assert self._point is not None, "engine not open"
        return self._point.execute(sql, args).fetchall()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the reader thread: for scans and counts over many rows."""
        assert self._reader is not None, "engine not open"
        reader = self._reader
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, fn, reader)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside a transaction shared with other concurrent writers.

        ``fn`` runs on the event loop thread and must be quick and must not block (a few
        statements); it sees the writes of the units before it in the same batch. It
        may run twice (when another unit of its batch fails, the batch is run again), so
        it must act only through the connection and its return value."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        conn = self._writer
        assert conn is not None, "engine not open"
        began = False
        while self._pending:
            batch = self._pending[:_MAX_BATCH]
            del self._pending[:_MAX_BATCH]
            try:
                if not began:  # may wait for another process's write lock: not on the loop
                    await loop.run_in_executor(self._write_pool, conn.execute, "BEGIN IMMEDIATE")
                outcomes = _run_unguarded(conn, batch)
                if outcomes is None:  # a unit failed: undo the batch, run it again guarded
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")  # (never waits for a lock)
                    await loop.run_in_executor(self._write_pool, conn.execute, "BEGIN IMMEDIATE")
                    outcomes = _run_units(conn, batch)
                    self.replays += 1
                # Units that came in while this batch ran open the next transaction in
                # the same hop, so under load a batch costs the loop one hop.
                began = await loop.run_in_executor(self._write_pool, _commit, conn,
                                                   bool(self._pending))
            except BaseException as exc:  # BEGIN or COMMIT failed: every unit failed
                began = False
                cancelled = isinstance(exc, asyncio.CancelledError)
                if not cancelled and conn.in_transaction:  # (cancelled: the thread has it)
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                failure = _as_storage_error(exc, self.write_wait)
                for _, future in batch:
                    if future.done():
                        continue
                    if cancelled:
                        future.cancel()
                    else:
                        future.set_exception(failure)
                if cancelled:
                    raise
                continue
            self.commits += 1
            self.units += len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(_as_storage_error(value, self.write_wait))


def _run_unguarded(conn: sqlite3.Connection,
                   batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]]
                   ) -> list[tuple[bool, Any]] | None:
    """Every unit straight into the transaction; None as soon as one raises (``Rollback``
    included), since what it wrote cannot then be undone alone."""
    outcomes: list[tuple[bool, Any]] = []
    for fn, _ in batch:
        try:
            outcomes.append((True, fn(conn)))
        except Exception:
            return None
    return outcomes


def _run_units(conn: sqlite3.Connection,
               batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]]
               ) -> list[tuple[bool, Any]]:
    """Each unit in its own savepoint, so a failing one rolls back alone."""
    outcomes: list[tuple[bool, Any]] = []
    for fn, _ in batch:
        conn.execute("SAVEPOINT unit")
        try:
            value = fn(conn)
        except Rollback as undo:
            conn.execute("ROLLBACK TO unit")
            conn.execute("RELEASE unit")
            outcomes.append((True, undo.value))
        except Exception as exc:
            conn.execute("ROLLBACK TO unit")
            conn.execute("RELEASE unit")
            outcomes.append((False, exc))
        else:
            conn.execute("RELEASE unit")
            outcomes.append((True, value))
    return outcomes


def _commit(conn: sqlite3.Connection, begin_next: bool) -> bool:
    """COMMIT (the WAL write, and a checkpoint now and then: the slow part), then open
    the next transaction when units are already waiting for one; True if it did."""
    try:
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    if not begin_next:
        return False
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error:
        return False  # the next batch tries again, and reports what stops it
    return True


def now() -> float:
    return time.time()
