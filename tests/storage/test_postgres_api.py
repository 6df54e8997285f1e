"""The client-API and OAuth tables on PostgreSQL: what only that engine can get wrong.

The contract suite checks that both engines answer alike on the data it writes. These
tests look where PostgreSQL differs underneath: its ``jsonb`` refuses documents that
sqlite reads (a ``\\u0000`` escape, which any remote server may send), its writers
race where sqlite's one writer never did, its text ordering and case folding follow
the database's locale unless told otherwise, and its tables must take a sqlite
database copied table by table (``migrate-to``) with every id apps have cached and
every count kept by a trigger.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from storage.api import PageQuery, PutPollVote, TimelineQuery
from storage.postgres import PgStore, open_postgres
from storage.records import AddToInbox, Op, PutActivity, PutActor, PutObject
from storage.sqlite import SqliteStore, open_sqlite
from storage.transfer import copy_sqlite_to_postgres
from tests.storage import builders as b
from tests.support.postgres import PgServer, fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]

_API_TABLES = ("statuses", "home", "tags", "notifications", "bookmarks", "mutes",
               "idempotency", "poll_votes", "account_stats", "oauth_apps", "oauth_codes",
               "tokens", "actors")


@pytest.fixture
async def pg(pg_server: PgServer) -> AsyncIterator[PgStore]:
    store = await open_postgres(await fresh_database(pg_server), max_size=2)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def lite(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_sqlite(tmp_path / "twin.sqlite")
    try:
        yield store
    finally:
        await store.close()


async def icu_database(server: PgServer) -> str:
    """A database whose default collation is ICU's en-US: it sorts 'zed' before 'Zed'
    and folds 'Ä' to 'ä', where sqlite compares bytes and folds ASCII only."""
    conn = await asyncpg.connect(server.dsn())
    try:
        if conn.get_server_version().major < 15:
            pytest.skip("a database with an ICU default collation needs PostgreSQL 15")
        name = server.next_name()
        await conn.execute(f"CREATE DATABASE {name} LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                           " LOCALE 'C.UTF-8' TEMPLATE template0")
    finally:
        await conn.close()
    return server.dsn(name)


def with_nul_escapes(ops: list[Op]) -> list[Op]:
    """The post's audience and one mention carry a NUL character (JSON ``\\u0000``)."""
    out: list[Op] = []
    for op in ops:
        if isinstance(op, PutObject):
            doc = json.loads(op.document)
            doc["tag"].append({"type": "Mention", "href": "https://x.example/\u0000"})
            op = dataclasses.replace(op, document=json.dumps(doc),
                                     audience=(*op.audience, "https://x.example/\u0000"))
        elif isinstance(op, PutActivity):
            op = dataclasses.replace(op, audience=(*op.audience, "https://x.example/\u0000"))
        out.append(op)
    return out


async def test_a_nul_escape_in_remote_documents_breaks_no_page(pg: PgStore) -> None:
    ana = b.account("ana")
    zed = b.remote_actor("zed")
    named = json.loads(zed.document) | {"name": "zed\u0000", "manuallyApprovesFollowers": 1}
    await pg.apply([ana, PutActor(actor=dataclasses.replace(zed, document=json.dumps(named)))])
    await pg.apply(b.follow(ana.actor.id, zed.id).ops)
    written = b.post(zed.id, visibility="followers", mentions=(ana.actor.id,))
    await pg.apply([*with_nul_escapes(written.ops),
                    AddToInbox(owner=ana.actor.id, activity_id=written.id)])

    home = await pg.timeline(TimelineQuery(kind="home"), PageQuery(), ana.actor.id)
    assert [s.post.object_id for s in home.statuses] == [written.object_id]
    assert home.accounts[zed.id].manually_approves  # read through the same document
    anonymous = await pg.timeline(TimelineQuery(kind="account", target=zed.id), PageQuery(),
                                  None)
    assert anonymous.statuses == []  # followers-only, and still decided in SQL
    found = await pg.api_search_accounts("zed", limit=5, offset=0, following_of=None)
    assert [a.actor for a in found] == [zed.id]


async def test_racing_replacing_votes_of_one_voter_leave_one_choice(
        pg_server: PgServer) -> None:
    """Two processes each replacing one voter's single choice: last one wins, as with
    sqlite's one writer, never both."""
    dsn = await fresh_database(pg_server)
    stores = [await open_postgres(dsn, max_size=2) for _ in range(4)]
    try:
        for round_ in range(20):
            poll = f"https://mutual.example/objects/poll-{round_}"
            await asyncio.gather(*(store.apply([PutPollVote(
                poll=poll, voter=b.actor_id("zed", host="remote.example"), choices=(choice,),
                replace=True, activity_id=f"{poll}#{choice}", created_at=b.T0)])
                for store, choice in zip(stores, "abcd", strict=True)))
            counts, voters = await stores[0].poll_tally(poll)
            assert (sum(counts.values()), voters) == (1, 1), counts
    finally:
        for store in stores:
            await store.close()


async def test_order_and_case_folding_ignore_the_database_locale(
        pg_server: PgServer, lite: SqliteStore) -> None:
    icu = await open_postgres(await icu_database(pg_server), max_size=2)
    try:
        ops: list[Op] = [b.account("ana", email="Ana@Example.com"),
                         b.account("anb", email="ana@example.com")]
        for username, host in [("zed", "b.example"), ("Zed", "a.example"),
                               ("ÄRGER", "u.example"), ("ärger", "u.example"),
                               ("_zed", "c.example")]:
            ops.append(PutActor(actor=b.remote_actor(username, host=host)))
        written = b.post(b.actor_id("ana"), tags=("zoo", "Zoo", "_zoo", "äpfel", "apfel"))
        ops += written.ops
        for store in (lite, icu):
            await store.apply(ops)

        async def answers(store: SqliteStore | PgStore) -> object:
            return (
                [a.actor for a in await store.api_search_accounts(
                    "zed", limit=10, offset=0, following_of=None)],
                [a.actor for a in await store.api_search_accounts(
                    "ä", limit=10, offset=0, following_of=None)],
                await store.api_actor_by_acct("äRGER", "u.example"),
                await store.api_actor_by_acct("ZED", "A.example"),
                await store.api_search_tags("", 10, 0),
                await store.known_peers(),
                getattr(await store.get_account_by_email("ANA@EXAMPLE.COM"), "username", None),
            )

        expected = await answers(lite)
        assert expected[0] == [b.actor_id("Zed", host="a.example"),  # bytes: 'Z' < '_' < 'z'
                               b.actor_id("_zed", host="c.example"),
                               b.actor_id("zed", host="b.example")]
        assert expected[2] == b.actor_id("ärger", host="u.example")  # 'Ä' is not 'ä'
        assert await answers(icu) == expected
    finally:
        await icu.close()


async def test_api_tables_take_a_sqlite_copy_column_for_column(
        pg: PgStore, lite: SqliteStore) -> None:
    conn = sqlite3.connect(lite.engine.path)
    try:
        for table in _API_TABLES:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            if table == "actors":
                columns.append("rowid")  # sqlite's implicit column, a column of its own here
            found = [r[0] for r in await pg.engine.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = $1"
                " ORDER BY ordinal_position", table)]
            assert found == columns, table
    finally:
        conn.close()


async def test_migrate_to_keeps_account_ids_and_counts(
        pg_server: PgServer, tmp_path: Path) -> None:
    """Apps cache account ids; the counts come from triggers that a bulk copy fires too."""
    path = tmp_path / "node.sqlite"
    lite = await open_sqlite(path)
    remotes = [b.remote_actor(name) for name in ("one", "two", "three")]
    try:
        for op in ([b.account("ana")], [b.account("bob")], *([PutActor(actor=r)] for r in remotes),
                   [PutActor(actor=remotes[0])],  # a refetch keeps its row and its id
                   b.follow(b.actor_id("ana"), b.actor_id("bob")).ops,
                   b.post(b.actor_id("ana")).ops):
            await lite.apply(op)
        everyone = [b.actor_id("ana"), b.actor_id("bob"), *(r.id for r in remotes)]
        before = await lite.api_accounts(everyone)
    finally:
        await lite.close()
    dsn = await fresh_database(pg_server)
    await (await open_postgres(dsn, max_size=1)).close()  # the schema, as migrate-to wants

    await copy_sqlite_to_postgres(path, dsn)

    pg = await open_postgres(dsn, max_size=2)
    try:
        assert await pg.api_accounts(everyone) == before
        newcomer = b.remote_actor("four")
        await pg.apply([PutActor(actor=newcomer)])
        new_id = await pg.api_account_id(newcomer.id)
        assert new_id is not None
        assert new_id > max(view.id for view in before.values())
    finally:
        await pg.close()
