"""The sqlite engine's group commit and in-place point reads."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from storage.sqlite.engine import SqliteEngine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[SqliteEngine]:
    engine = SqliteEngine(tmp_path / "mutual.sqlite")
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


def insert(key: str, *, fail: bool = False) -> Callable[[sqlite3.Connection], str]:
    def unit(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
        if fail:
            raise ValueError(key)
        return key

    return unit


def stored(engine: SqliteEngine) -> set[str]:
    return {row[0] for row in engine.point("SELECT key FROM meta", ())}


async def test_concurrent_writes_share_commits_and_a_failing_one_rolls_back_alone(
        engine: SqliteEngine) -> None:
    keys = [f"k{i}" for i in range(200)]
    results = await asyncio.gather(
        *(engine.write(insert(k, fail=k == "k7")) for k in keys),
        return_exceptions=True)
    assert [r for r in results if isinstance(r, Exception)] == [results[7]]
    assert isinstance(results[7], ValueError)
    assert stored(engine) == set(keys) - {"k7"}
    assert engine.units == 200
    assert engine.commits < 20  # grouped, not one commit per unit


async def test_a_point_read_sees_a_write_as_soon_as_it_returned(engine: SqliteEngine) -> None:
    for i in range(20):
        await engine.write(insert(f"p{i}"))
        assert f"p{i}" in stored(engine)


async def test_a_unit_sees_the_writes_of_the_units_before_it_in_its_batch(
        engine: SqliteEngine) -> None:
    def count(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'b%'").fetchone()[0])

    writes = [engine.write(insert(f"b{i}")) for i in range(5)]
    results = await asyncio.gather(*writes, engine.write(count))
    assert results[-1] == 5
