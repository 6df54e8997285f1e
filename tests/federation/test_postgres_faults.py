"""A node on PostgreSQL whose database connections drop: 503s, no partial write.

The node reaches the test server through a proxy that the test can cut (the network to
the database lost, or the database restarted under it). While it is cut, writes and
reads that need the database answer 503 with ``Retry-After`` and write nothing; once
it is back, the node serves again without a restart, and what was refused can be sent
again and is stored once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.nodes import Cluster, Member, MutualNode, eventually, mutual
from tests.support.peer import Peer
from tests.support.postgres import PgServer, fresh_database
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.federation

AP = "application/activity+json"


@pytest.fixture
async def proxy(pg_server: PgServer) -> AsyncIterator[TcpProxy]:
    link = TcpProxy("127.0.0.1", pg_server.port)
    await link.start()
    yield link
    await link.stop()


async def node_behind(proxy: TcpProxy, cluster: Cluster, pg_server: PgServer,
                      session: aiohttp.ClientSession) -> tuple[MutualNode, Member]:
    """A node whose database is reached through ``proxy``, with one member."""
    dsn = (await fresh_database(pg_server)).replace(f":{pg_server.port}/", f":{proxy.port}/")
    node = MutualNode(name="a", root=cluster.root, session=session)
    # In threads: the proxy runs on this loop, and the commands go through it.
    await asyncio.to_thread(mutual, node.data, "init", "--url", node.url, "--database", dsn)
    cluster.nodes.append(node)
    await node.start()
    return node, await asyncio.to_thread(node.member, "ana")


async def c2s_post(member: Member, content: str) -> tuple[int, dict[str, Any], str | None]:
    assert member.node.session is not None
    async with member.node.session.post(
            f"{member.actor_id}/outbox", json={"type": "Note", "content": content},
            headers={"Authorization": f"Bearer {member.token}", "Content-Type": AP}) as reply:
        return reply.status, await reply.json(content_type=None), reply.headers.get(
            "Retry-After")


def note(actor_id: str, ident: str, recipient: str) -> dict[str, Any]:
    obj = {"id": f"{actor_id}/notes/{ident}", "type": "Note", "attributedTo": actor_id,
           "content": f"<p>remote {ident}</p>", "to": [recipient], "cc": []}
    return {"@context": "https://www.w3.org/ns/activitystreams", "type": "Create",
            "id": f"{obj['id']}/activity", "actor": actor_id, "to": [recipient], "cc": [],
            "object": obj}


async def test_a_dropped_database_connection_answers_503_and_writes_nothing(
        cluster: Cluster, pg_server: PgServer, proxy: TcpProxy,
        session: aiohttp.ClientSession) -> None:
    a, ana = await node_behind(proxy, cluster, pg_server, session)
    async with Peer() as peer:
        mia = peer.actor("mia")
        first = note(mia.id, "1", ana.actor_id)
        assert (await peer.signed_post(f"{a.url}/inbox", first, actor=mia)).status == 202
        status, _, _ = await c2s_post(ana, "before the drop")
        assert status == 201

        proxy.cut()
        refused = note(mia.id, "2", ana.actor_id)
        reply = await peer.signed_post(f"{a.url}/inbox", refused, actor=mia)
        assert reply.status == 503, reply
        assert reply.reason == "unavailable"
        assert int(reply.headers["Retry-After"]) > 0
        status, body, retry_after = await c2s_post(ana, "during the drop")
        assert (status, body.get("reason")) == (503, "unavailable"), body
        assert retry_after is not None
        async with session.get(f"{a.url}/healthz") as health:
            assert health.status == 503

        # The database is back: the same node serves again, no restart.
        proxy.restore()

        async def serving() -> bool:
            async with session.get(f"{a.url}/healthz") as health:
                return health.status == 200

        await eventually(serving, within=20)
        status, _, _ = await c2s_post(ana, "after the drop")
        assert status == 201
        # The refused activity, sent again, is stored once; a second copy is a duplicate.
        assert (await peer.signed_post(f"{a.url}/inbox", refused, actor=mia)).status == 202
        again = await peer.signed_post(f"{a.url}/inbox", refused, actor=mia)
        assert again.body["status"] == "duplicate"

    inbox = await ana.inbox()
    remote = [item["id"] for item in inbox if item["actor"] == mia.id]
    assert remote == [refused["id"], first["id"]]
    outbox = await a.collection(f"{ana.actor_id}/outbox")
    contents = [item["object"]["content"] for item in outbox]
    assert not any("during the drop" in c for c in contents)
    assert sum("after the drop" in c for c in contents) == 1
    assert sum("before the drop" in c for c in contents) == 1


async def test_a_write_cut_off_mid_way_leaves_nothing_half_written(
        cluster: Cluster, pg_server: PgServer, proxy: TcpProxy,
        session: aiohttp.ClientSession) -> None:
    """Many writes in flight when the link drops: each answered 202 is stored whole;
    each answered 503 is stored whole or not at all (a link lost while the COMMIT's
    answer was on its way can leave a committed write answered 503: the sender sends it
    again and it is a duplicate, never a half)."""
    a, ana = await node_behind(proxy, cluster, pg_server, session)
    async with Peer() as peer:
        mia = peer.actor("mia")
        assert (await peer.signed_post(f"{a.url}/inbox", note(mia.id, "warm", ana.actor_id),
                                       actor=mia)).status == 202
        sent = [note(mia.id, uuid.uuid4().hex, ana.actor_id) for _ in range(150)]

        async def send(activity: dict[str, Any]) -> int:
            return (await peer.signed_post(f"{a.url}/inbox", activity, actor=mia)).status

        async def cut_soon() -> None:
            await asyncio.sleep(0.05)
            proxy.cut()

        started = time.monotonic()
        statuses, _ = await asyncio.gather(asyncio.gather(*map(send, sent)), cut_soon())
        assert time.monotonic() - started < 60
        assert set(statuses) <= {202, 503}, statuses
        proxy.restore()

        async def serving() -> bool:
            async with session.get(f"{a.url}/healthz") as health:
                return health.status == 200

        await eventually(serving, within=20)

    assert 503 in statuses
    stored = {item["id"]: item for item in await ana.inbox()}
    for activity, status in zip(sent, statuses, strict=True):
        if status == 202:
            assert activity["id"] in stored, activity["id"]
        if activity["id"] in stored:  # whole: the activity with its object
            assert stored[activity["id"]]["object"]["content"] == activity["object"]["content"]
