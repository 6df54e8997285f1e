"""Open the store a node is configured for: PostgreSQL for a DSN, sqlite otherwise.

``server.database`` in config.toml (or ``mutual init --database``) picks the engine: a
``postgresql://`` or ``postgres://`` DSN opens PostgreSQL (several node processes may
share it, DESIGN §4); empty, or ``sqlite:PATH``, opens the sqlite file the node's
config names. The engines are imported only when asked for, so a sqlite node never
loads the PostgreSQL driver, and the other way round.
"""

from __future__ import annotations

from pathlib import Path

from storage.store import Store

__all__ = ["is_postgres_dsn", "migrate_database", "open_store"]

_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_dsn(database: str) -> bool:
    """True for a PostgreSQL connection URI, the two schemes libpq accepts.

    >>> is_postgres_dsn("postgresql://mutual@db/mutual"), is_postgres_dsn("")
    (True, False)
    """
    return database.startswith(_SCHEMES)


async def open_store(database: str, sqlite_path: Path | str) -> Store:
    """Open (and migrate) the store: PostgreSQL at ``database`` when it is a DSN,
    else sqlite at ``sqlite_path``."""
    if is_postgres_dsn(database):
        from storage.postgres import open_postgres

        return await open_postgres(database)
    from storage.sqlite import open_sqlite

    return await open_sqlite(sqlite_path)


async def migrate_database(database: str, sqlite_path: Path | str) -> int:
    """Apply pending migrations to whichever engine ``database`` names; returns the
    schema version now in force."""
    if is_postgres_dsn(database):
        from storage.postgres.engine import PgEngine

        engine = PgEngine(database, min_size=1, max_size=1)
        version = await engine.open()
        await engine.close()
        return version
    from storage.sqlite.engine import SqliteEngine

    sqlite = SqliteEngine(sqlite_path)
    version = await sqlite.open()
    await sqlite.close()
    return version
