"""The sqlite engine runs a batch without a savepoint per unit, and runs it again, each
unit in its own savepoint, only when one of its units fails (storage/sqlite/engine.py).

What must hold either way: a failing unit leaves no trace and fails alone, the others
commit once each, ``Rollback`` undoes a unit but answers its value, and a duplicate
activity needs no replay when nothing was written before it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from storage.records import AddToInbox, PutActivity, PutKey, PutObject
from storage.sqlite import SqliteStore, open_sqlite
from storage.sqlite.engine import Rollback, SqliteEngine

OWNER = "http://home.example/users/ana"


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_sqlite(tmp_path / "mutual.sqlite")
    try:
        yield store
    finally:
        await store.close()


def unit(key: str, *, then: BaseException | None = None) -> Callable[[sqlite3.Connection], str]:
    def run(conn: sqlite3.Connection) -> str:
        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'v')", (key,))
        if then is not None:
            raise then
        return key

    return run


def keys(engine: SqliteEngine) -> list[str]:
    return sorted(row[0] for row in engine.point("SELECT key FROM meta", ()))


async def test_a_unit_failing_halfway_is_undone_alone_and_its_batch_runs_again(
        sqlite_store: SqliteStore) -> None:
    engine = sqlite_store.engine
    names = [f"u{i:02}" for i in range(40)]
    results = await asyncio.gather(
        *(engine.write(unit(n, then=ValueError(n) if n == "u13" else None)) for n in names),
        return_exceptions=True)
    assert isinstance(results[13], ValueError)
    assert [r for i, r in enumerate(results) if i != 13] == [n for n in names if n != "u13"]
    assert keys(engine) == [n for n in names if n != "u13"]  # each once: no double insert
    assert engine.replays >= 1


async def test_a_rollback_undoes_the_unit_and_still_answers_its_value(
        sqlite_store: SqliteStore) -> None:
    engine = sqlite_store.engine
    results = await asyncio.gather(engine.write(unit("a")),
                                   engine.write(unit("b", then=Rollback("kept out"))),
                                   engine.write(unit("c")))
    assert results == ["a", "kept out", "c"]
    assert keys(engine) == ["a", "c"]


def create(activity_id: str) -> list[PutActivity | PutObject | AddToInbox]:
    note = f"{activity_id}/note"
    return [
        PutActivity(id=activity_id, type="Create", actor="http://peer.example/users/bo",
                    object_id=note, local=False, visibility="direct", audience=(OWNER,),
                    document="{}", created_at=1.0),
        PutObject(id=note, type="Note", attributed_to="http://peer.example/users/bo",
                  in_reply_to=None, context=None, visibility="direct", audience=(OWNER,),
                  local=False, document='{"content":"hi"}', published=None, created_at=1.0),
        AddToInbox(owner=OWNER, activity_id=activity_id),
    ]


async def test_a_duplicate_activity_sent_first_is_skipped_without_running_the_batch_again(
        sqlite_store: SqliteStore) -> None:
    first = await sqlite_store.apply(create("http://peer.example/a/1"))
    again = await sqlite_store.apply(create("http://peer.example/a/1"))
    assert (first.applied, again.applied) == (True, False)
    assert sqlite_store.engine.replays == 0
    home = sqlite_store.engine.point("SELECT COUNT(*) FROM home WHERE owner=?", (OWNER,))
    assert home[0][0] == 1  # the inbox entry of a Create put its post in the home


async def test_a_duplicate_after_other_writes_undoes_them(sqlite_store: SqliteStore) -> None:
    await sqlite_store.apply(create("http://peer.example/a/2"))
    key = PutKey(key_id="http://peer.example/users/bo#k", owner="http://peer.example/users/bo",
                 pem="pem", fetched_at=1.0)
    result = await sqlite_store.apply([key, *create("http://peer.example/a/2")])
    assert not result.applied
    assert await sqlite_store.get_key(key.key_id) is None
