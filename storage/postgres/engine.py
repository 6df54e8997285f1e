"""PostgreSQL through asyncpg: a connection pool, migrations, and write units.

Unlike sqlite (one writer, group commit, DESIGN §7), PostgreSQL takes concurrent
writers itself, from this process and from every other process of the node (``serve
--role web`` and ``--role worker`` on one database, DESIGN §4). So a write *unit* (a
coroutine over one connection) simply runs in a transaction of its own on a pooled
connection, and what sqlite got from having one writer (nobody else between a read and
the write that depends on it) is asked for explicitly where it matters: row locks
(``FOR UPDATE``), ``FOR UPDATE SKIP LOCKED`` for the queue, ``ON CONFLICT`` for
idempotent inserts.

Busy. A statement waits for a lock at most ``write_wait`` seconds (``lock_timeout``,
5 s as on sqlite): an admin's ``LOCK TABLE`` or a long ``ALTER TABLE`` makes writes
(and reads, behind an exclusive lock) fail with ``StorageBusy`` having written
nothing, and the node answers 503 with ``Retry-After``, as it does for a sqlite file
locked by another process. A unit that keeps losing deadlocks is busy too.

Migrations run under a transaction-scoped advisory lock: processes started together
queue on it, and each one re-reads ``schema_version`` once it holds the lock, so every
migration runs exactly once and nobody sees a half-made schema. They wait for it as
long as it takes (a migration over a big table may take minutes).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import asyncpg

from storage.postgres.schema import MIGRATIONS
from storage.store import StorageBusy, StorageError, StorageUnavailable

__all__ = ["WRITE_WAIT", "Connection", "PgEngine", "migrate", "rowcount"]

T = TypeVar("T")
log = logging.getLogger("mutual.postgres")

# Any constant will do, as long as it is this one in every process of the node: advisory
# locks are per database, so only processes migrating the same database wait for it.
_MIGRATION_LOCK = 0x6D757475616C  # "mutual"
# A deadlock or serialisation failure rolls the unit back whole; running it again is
# safe (a unit only talks to its connection) and is what the caller would do anyway.
_RETRIES = 3
_RETRYABLE = (asyncpg.DeadlockDetectedError, asyncpg.SerializationError)
WRITE_WAIT = 5.0  # seconds a statement waits for a lock (module docstring)


def _session(write_wait: float) -> dict[str, str]:
    # Every query here is a short indexed one: JIT compiling one costs more (tens of
    # ms) than it could ever save, and the planner's cost estimate may still ask for it.
    return {"application_name": "mutual", "jit": "off",
            "lock_timeout": f"{max(1, round(write_wait * 1000))}ms"}


# The database went away under a statement (restarted, its connections terminated,
# the network to it cut) or cannot be reached: the statement's transaction is gone with
# its connection, so nothing of it was written, and the pool connects afresh next time.
_UNREACHABLE = (asyncpg.PostgresConnectionError, asyncpg.OperatorInterventionError,
                asyncpg.InterfaceError, OSError, TimeoutError)


@contextlib.contextmanager
def _busy(write_wait: float) -> Iterator[None]:
    """A lock not had in time as the store's ``StorageBusy``, a lost or unreachable
    database as ``StorageUnavailable`` (the node answers 503 either way): in both
    cases nothing was written."""
    try:
        yield
    except (asyncpg.LockNotAvailableError, *_RETRYABLE) as exc:
        raise StorageBusy(f"the database is busy: {exc}", retry_after=write_wait) from exc
    except _UNREACHABLE as exc:
        raise StorageUnavailable(f"the database cannot be reached: {exc!r}",
                                 retry_after=write_wait) from exc


async def migrate(conn: asyncpg.Connection) -> int:
    """Apply pending migrations, one transaction each; returns the version now in force."""
    while True:
        async with conn.transaction():
            await conn.execute("SET LOCAL lock_timeout = 0")  # wait for other migrators
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
            current = int(await conn.fetchval(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            pending = [(version, sql) for version, sql in MIGRATIONS if version > current]
            if not pending:
                return current
            version, sql = pending[0]
            await conn.execute(sql)  # no arguments: the simple protocol, many statements
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
            log.info("schema migrated to version %d", version)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool: nothing more than
    asyncpg's own rollback of a transaction left open, which it does before this.

    asyncpg's default reset sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN
    *; RESET ALL`` at every release: a second round trip for every statement (without
    it a pooled ``SELECT 1`` runs twice as fast on loopback, and an inbox POST takes a
    third less CPU, README "Scale-out"). Nothing here leaves session state on a pooled
    connection to undo: settings are ``SET LOCAL``, advisory locks are
    transaction-scoped, cursors live inside transactions, and ``LISTEN`` has a
    connection of its own (channel.py). Keep it so."""


def _storable(value: Any) -> Any:
    """PostgreSQL text cannot hold U+0000 (sqlite can): a NUL from a crafted request or
    a remote error text would fail the statement with a driver error, a 500. No id or
    name we store has one, so a lookup by such a value finds nothing either way; a
    written one keeps its text with U+FFFD in the NUL's place."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list | tuple) and any(isinstance(v, str) and "\x00" in v
                                              for v in value):
        return [_storable(v) for v in value]
    return value


def _args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(map(_storable, args))


class Connection:
    """A pooled connection as the store's code sees it: arguments made storable
    (``_storable``) on every statement, everything else asyncpg's own."""

    __slots__ = ("raw",)

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, *args: Any) -> str:
        status: str = await self.raw.execute(sql, *_args(args))
        return status

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.raw.fetch(sql, *_args(args))
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.raw.fetchrow(sql, *_args(args))
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.raw.fetchval(sql, *_args(args))

    def transaction(self, **options: Any) -> Any:
        return self.raw.transaction(**options)


def rowcount(status: str) -> int:
    """Rows touched, from a command status such as ``UPDATE 3`` or ``INSERT 0 1``.

    >>> rowcount("INSERT 0 1"), rowcount("DELETE 0")
    (1, 0)
    """
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PgEngine:
    """A pool of connections to one PostgreSQL database, with its schema up to date."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10,
                 write_wait: float = WRITE_WAIT) -> None:
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.write_wait = write_wait
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "engine not open"
        return self._pool

    async def open(self) -> int:
        """Connect and migrate; returns the schema version. A database that cannot be
        reached (down, unknown, refused) is a ``StorageError`` saying why, in one line."""
        try:
            pool = await asyncpg.create_pool(
                self.dsn, min_size=self.min_size, max_size=self.max_size,
                server_settings=_session(self.write_wait), reset=_keep_session)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StorageError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            async with pool.acquire() as conn:
                version = await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        return version

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        """A pooled connection for several statements (a read snapshot, say)."""
        with _busy(self.write_wait):
            async with self.pool.acquire() as raw:
                yield Connection(raw)

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        with _busy(self.write_wait):
            rows: list[asyncpg.Record] = await self.pool.fetch(sql, *_args(args))
        return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        with _busy(self.write_wait):
            row: asyncpg.Record | None = await self.pool.fetchrow(sql, *_args(args))
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with _busy(self.write_wait):
            return await self.pool.fetchval(sql, *_args(args))

    async def execute(self, sql: str, *args: Any) -> str:
        with _busy(self.write_wait):
            status: str = await self.pool.execute(sql, *_args(args))
        return status

    async def write(self, unit: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``unit`` in one transaction: all of its writes commit, or none do.

        A unit that loses a deadlock (or a serialisation check) is run again, up to
        three times, from the start: it must only talk to the connection it is given."""
        for attempt in range(1, _RETRIES + 1):
            try:
                with _busy(self.write_wait):
                    async with self.pool.acquire() as raw, raw.transaction():
                        return await unit(Connection(raw))  # type: ignore[arg-type]
            except StorageBusy as busy:
                if attempt == _RETRIES or not isinstance(busy.__cause__, _RETRYABLE):
                    raise
                log.info("write unit rolled back by a conflict; attempt %d", attempt + 1)
        raise AssertionError("unreachable")  # pragma: no cover
