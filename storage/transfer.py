"""Moving a node's data from sqlite to PostgreSQL (``mutual migrate-to``).

Why a copy table by table, and not a replay of the data through ``Store.apply``: the
rows are the node's history as it is, with their sequence numbers. Collection cursors,
status ids that apps hold, ledger sequence numbers that an audit names and the ids of
queued jobs all stay what they were, so the moved node serves the same URLs and the
same pages. Both engines have the same tables and columns (the migrations are kept in
step), so the copy needs no knowledge of what a table means.

The copy is one PostgreSQL transaction: it lands whole or not at all. The source is
read in one sqlite read transaction, a consistent snapshot even if the node is still
running (stop it first all the same: what it writes after the snapshot is not moved).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

__all__ = ["TableCount", "TransferError", "copy_sqlite_to_postgres"]

_CHUNK = 5_000
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
# Bookkeeping of each engine, not data: each side keeps its own.
_SKIPPED = {"schema_version"}


class TransferError(Exception):
    """The move cannot be made as asked; nothing was written to the target."""


@dataclass(frozen=True, slots=True)
class TableCount:
    table: str
    source: int
    target: int


def _quote(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise TransferError(f"unexpected table or column name {name!r}")
    return f'"{name}"'


def _coercer(pg_type: str) -> Callable[[Any], Any]:
    """sqlite is loosely typed (a REAL column may hand back an int); asyncpg is strict."""
    if pg_type in ("bigint", "integer", "smallint"):
        return lambda v: None if v is None else int(v)
    if pg_type in ("double precision", "real", "numeric"):
        return lambda v: None if v is None else float(v)
    if pg_type == "bytea":
        return lambda v: None if v is None else bytes(v)
    return lambda v: None if v is None else str(v)


def _source_tables(src: sqlite3.Connection) -> list[str]:
    rows = src.execute("SELECT name FROM sqlite_master WHERE type='table'"
                       " AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    return [name for (name,) in rows if name not in _SKIPPED]


def _high_water(src: sqlite3.Connection) -> dict[str, int]:
    """AUTOINCREMENT never hands out an id twice, even after the newest row is deleted
    (a finished job, say): the target's sequences start above sqlite's marks."""
    try:
        return {name: int(seq) for name, seq in
                src.execute("SELECT name, seq FROM sqlite_sequence").fetchall()}
    except sqlite3.OperationalError:  # no AUTOINCREMENT table was ever written
        return {}


def _open_source(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise TransferError(f"no sqlite database at {path}")
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


async def _schema_version(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))


async def _target_columns(conn: asyncpg.Connection, table: str) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = $1"
        " ORDER BY ordinal_position", table)
    return [(r["column_name"], r["data_type"]) for r in rows]


async def _refuse_non_empty(conn: asyncpg.Connection, tables: Iterable[str]) -> None:
    for table in tables:
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {_quote(table)})"):
            raise TransferError(
                f"the target database is not empty (table {table} has rows): "
                "migrate-to only moves a node into an empty database")


async def _copy_table(src: sqlite3.Connection, conn: asyncpg.Connection, table: str) -> int:
    target = await _target_columns(conn, table)
    if not target:
        raise TransferError(f"table {table} is missing in the target: is its schema older?")
    source_cols = {row[1] for row in src.execute(f"PRAGMA table_info({_quote(table)})")}
    names = [name for name, _ in target]
    if "rowid" in names:
        # sqlite's hidden rowid is an id apps hold (the account id); PostgreSQL has it
        # as a column of the same name, so it is copied like any other.
        source_cols.add("rowid")
    if set(names) != source_cols:
        raise TransferError(f"table {table} has other columns in the target "
                            f"({sorted(set(names) ^ source_cols)})")
    coerce = [_coercer(kind) for _, kind in target]
    cursor = src.execute(f"SELECT {', '.join(map(_quote, names))} FROM {_quote(table)}")
    copied = 0
    while chunk := cursor.fetchmany(_CHUNK):
        records = [tuple(f(v) for f, v in zip(coerce, row, strict=True)) for row in chunk]
        await conn.copy_records_to_table(table, records=records, columns=names)
        copied += len(records)
    return copied


async def _advance_sequences(conn: asyncpg.Connection, tables: Iterable[str],
                             marks: dict[str, int]) -> None:
    for table in tables:
        for name, _ in await _target_columns(conn, table):
            sequence = await conn.fetchval("SELECT pg_get_serial_sequence($1, $2)",
                                           _quote(table), name)
            if sequence is None:
                continue
            highest = await conn.fetchval(
                f"SELECT COALESCE(MAX({_quote(name)}), 0) FROM {_quote(table)}")
            start = max(int(highest), marks.get(table, 0))
            if start > 0:
                await conn.execute("SELECT setval($1, $2)", sequence, start)


async def copy_sqlite_to_postgres(sqlite_path: Path, dsn: str) -> list[TableCount]:
    """Copy every table of the sqlite database at ``sqlite_path`` into the (migrated,
    empty) PostgreSQL database at ``dsn``; returns the row counts of both sides.

    Refuses (``TransferError``, nothing written) a target that holds any row, a target
    whose schema version differs from the source's, and any count that differs after
    the copy."""
    src = _open_source(sqlite_path)
    conn = await asyncpg.connect(dsn)
    try:
        src.execute("BEGIN")  # one snapshot for the whole copy
        source_version = src.execute("SELECT COALESCE(MAX(version), 0)"
                                     " FROM schema_version").fetchone()[0]
        target_version = await _schema_version(conn)
        if source_version != target_version:
            raise TransferError(f"schema versions differ: sqlite {source_version}, "
                                f"PostgreSQL {target_version}")
        tables = _source_tables(src)
        counts: list[TableCount] = []
        async with conn.transaction():
            await _refuse_non_empty(conn, tables)
            for table in tables:
                (expected,) = src.execute(f"SELECT COUNT(*) FROM {_quote(table)}").fetchone()
                # Triggers keep derived rows (account counts) in step with new writes;
                # the derived rows are copied as they are, so firing them would count
                # every post twice.
                await conn.execute(f"ALTER TABLE {_quote(table)} DISABLE TRIGGER USER")
                await _copy_table(src, conn, table)
                await conn.execute(f"ALTER TABLE {_quote(table)} ENABLE TRIGGER USER")
                landed = int(await conn.fetchval(f"SELECT COUNT(*) FROM {_quote(table)}"))
                counts.append(TableCount(table, int(expected), landed))
            wrong = [c for c in counts if c.source != c.target]
            if wrong:
                raise TransferError("row counts differ after the copy: " + ", ".join(
                    f"{c.table} {c.source} -> {c.target}" for c in wrong))
            await _advance_sequences(conn, tables, _high_water(src))
        return counts
    finally:
        src.close()
        await conn.close()
