"""Faults of the node's own database: another process holding the write lock, and a data
folder that cannot be written at start.

A real node process; another process (this test, through ``sqlite3``) takes the write
lock with ``BEGIN IMMEDIATE`` and holds it while the node receives inbox POSTs and
client-API writes. Held briefly, the node's writes wait and then succeed; held longer
than the node waits (``storage.sqlite.engine.WRITE_WAIT``), they are answered 503
``busy`` with ``Retry-After`` — never a 500, never half written, and the node's workers
carry on once the lock is gone. The last test looks at the engine underneath: a
batch that cannot begin fails whole, none of its units half written.
(A data folder that cannot be written at start: tests/node/test_start_faults.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from storage.sqlite.engine import WRITE_WAIT, SqliteEngine
from storage.store import StorageBusy
from tests.support.activities import create_note, uid
from tests.support.home import Home
from tests.support.nodes import Cluster
from tests.support.peer import Peer, RemoteActor, key_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"


class Env(Home):
    peer: Peer
    follower: RemoteActor

    def sender(self) -> RemoteActor:
        return self.peer.actor(f"s-{uid()}", key=key_for("sqlite-faults"))

    async def api_post(self, text: str) -> tuple[int, Any, dict[str, str]]:
        assert self.node.session is not None
        async with self.node.session.post(
                f"{self.node.url}/api/v1/statuses", json={"status": text},
                headers={"Authorization": f"Bearer {self.ana.token}"}) as response:
            return (response.status, await response.json(content_type=None),
                    dict(response.headers))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        cluster = Cluster(tmp_path_factory.mktemp("sqlite-faults"), session)
        try:
            node = await cluster.node("home")
            async with Peer() as peer:
                env = Env(node=node, ana=node.member("ana"))
                env.peer = peer
                env.follower = env.sender()
                reply = await peer.signed_post(env.inbox, {
                    "@context": AS, "id": f"{env.follower.id}#follow", "type": "Follow",
                    "actor": env.follower.id, "object": env.ana.actor_id},
                    actor=env.follower)
                assert reply.status == 202, reply
                yield env
        finally:
            cluster.stop_all()


@contextlib.contextmanager
def write_lock(db: Path) -> Iterator[threading.Event]:
    """Hold ``db``'s write lock, as another process would, until the block ends."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(db, isolation_level=None, timeout=30)
        try:
            conn.execute("BEGIN IMMEDIATE")
            taken.set()
            release.wait(60)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30), "could not take the write lock"
    try:
        yield release
    finally:
        release.set()
        thread.join(30)


async def statuses_count(env: Env) -> int:
    status, doc = await env.node.get(f"{env.node.url}/api/v1/accounts/verify_credentials",
                                     headers={"Authorization": f"Bearer {env.ana.token}"})
    assert status == 200, doc
    return int(doc["statuses_count"])


async def test_writes_wait_for_a_brief_lock_and_then_succeed(env: Env) -> None:
    senders = [env.sender() for _ in range(6)]
    activities = [create_note(s, env.ana.actor_id) for s in senders]
    posts_before = await statuses_count(env)
    with write_lock(env.node.data / "mutual.db") as release:
        sending = asyncio.gather(
            *(env.peer.signed_post(env.inbox, a, actor=s)
              for s, a in zip(senders, activities, strict=True)),
            *(env.api_post(f"waiting {n}") for n in range(3)))
        started = time.monotonic()
        # Reads do not wait for the lock (WAL): the node answers them at once.
        assert (await env.node.get(env.ana.actor_id))[0] == 200
        assert time.monotonic() - started < WRITE_WAIT / 2
        await asyncio.sleep(1.5)
        release.set()
        replies = await sending
    for reply in replies[:6]:
        assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply
    for status, body, _ in replies[6:]:
        assert status == 200, body
    ids = await env.inbox_object_ids()
    assert all(ids.count(a["object"]["id"]) == 1 for a in activities)
    assert await statuses_count(env) == posts_before + 3


async def test_a_lock_held_too_long_gets_503_busy_and_nothing_half_written(env: Env) -> None:
    senders = [env.sender() for _ in range(4)]
    activities = [create_note(s, env.ana.actor_id) for s in senders]
    posts_before, inbox_before = await statuses_count(env), await env.snapshot()
    with write_lock(env.node.data / "mutual.db"):
        replies = await asyncio.gather(
            *(env.peer.signed_post(env.inbox, a, actor=s)
              for s, a in zip(senders, activities, strict=True)),
            env.api_post("refused while locked"))
        # Still locked: the node answers reads, and its refusals, without a 500.
        assert (await env.node.get(env.ana.actor_id))[0] == 200
    for reply in replies[:4]:
        assert (reply.status, reply.reason) == (503, "busy"), reply
        assert int(reply.headers["Retry-After"]) >= 1
    status, body, headers = replies[4]
    assert status == 503, body
    assert int(headers["Retry-After"]) >= 1
    assert await statuses_count(env) == posts_before
    assert await env.snapshot() == inbox_before
    # Once the lock is gone the same requests are new to the node, and taken.
    for sender, activity in zip(senders, activities, strict=True):
        reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
        assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply
    assert (await env.api_post("after the lock"))[0] == 200
    # The workers came through: ana's next post reaches her follower's server.
    post = await env.ana.post({"type": "Note", "content": "the workers still work"})
    await env.peer.wait_for(lambda r: r.json["object"]["id"] == post["object"]["id"])


async def test_a_batch_that_cannot_begin_fails_whole_and_the_next_one_commits(
        tmp_path: Path) -> None:
    """The engine underneath: each unit of a batch that cannot get the lock fails with
    StorageBusy, none half written (two inserts each), and the engine keeps working."""
    engine = SqliteEngine(tmp_path / "mutual.db", write_wait=0.3)
    await engine.open()

    def unit(key: str) -> Callable[[sqlite3.Connection], str]:
        def write(conn: sqlite3.Connection) -> str:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '1')", (f"{key}-a",))
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '2')", (f"{key}-b",))
            return key
        return write

    try:
        with write_lock(tmp_path / "mutual.db"):
            results = await asyncio.gather(*(engine.write(unit(f"u{n}")) for n in range(5)),
                                           return_exceptions=True)
        assert all(isinstance(r, StorageBusy) for r in results), results
        assert engine.point("SELECT key FROM meta WHERE key LIKE 'u%'", ()) == []
        assert await asyncio.gather(*(engine.write(unit(f"v{n}")) for n in range(5))) == [
            f"v{n}" for n in range(5)]
        rows = engine.point("SELECT key FROM meta WHERE key LIKE 'v%'", ())
        assert len(rows) == 10
    finally:
        await engine.close()
