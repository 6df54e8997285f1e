"""What the node makes of what it fetches: a key or actor URL that answers for someone
else is refused and leaves nothing stored; and, end to end, a node with private
addresses refused never fetches a sender's key from loopback, link-local or private
ranges — the inbox answers 401 without a single request reaching the peer.

The first half drives ``Node.resolve_key``/``resolve_actor`` in-process against a fake
remote server (``tests.support.peer``); the second starts a real node process.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node.context import Node
from node.fetcher import FetchError
from protocol.errors import KeyNotFound
from tests.support.faults import Wire, local_node
from tests.support.nodes import Cluster
from tests.support.peer import Peer, RemoteActor

AS = "https://www.w3.org/ns/activitystreams"


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    async with Peer() as remote:
        yield remote


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    wire = Wire()
    async with local_node(tmp_path, wire) as started:
        yield started
    assert not wire.off_loopback


async def nothing_stored(node: Node, *actors: RemoteActor) -> bool:
    for actor in actors:
        if await node.store.get_actor(actor.id) is not None:
            return False
        if await node.store.get_key(actor.key_id) is not None:
            return False
    return True


async def test_a_key_url_answering_with_another_actor_is_refused(node: Node,
                                                                 peer: Peer) -> None:
    x, y = peer.actor(f"x-{uuid.uuid4().hex[:6]}"), peer.actor(f"y-{uuid.uuid4().hex[:6]}")
    peer.serve(y.document, url=x.id)  # the served id is not the one asked for
    with pytest.raises(KeyNotFound, match="no public key"):
        await node.resolve_key(x.key_id)
    assert await nothing_stored(node, x, y)
    peer.serve(x.document)  # control: the honest answer is taken
    owner, _ = await node.resolve_key(x.key_id)
    assert owner == x.id


async def test_a_bare_key_document_for_another_key_id_is_refused(node: Node,
                                                                 peer: Peer) -> None:
    x = peer.actor(f"x-{uuid.uuid4().hex[:6]}")
    key_url = f"{peer.url}/keys/{uuid.uuid4().hex[:6]}"
    peer.serve({"id": x.key_id, "owner": x.id,
                "publicKeyPem": x.document["publicKey"]["publicKeyPem"]}, url=key_url)
    with pytest.raises(KeyNotFound):
        await node.resolve_key(key_url)
    assert await node.store.get_key(key_url) is None


async def test_a_key_owned_by_an_actor_on_another_host_is_refused(node: Node,
                                                                  peer: Peer) -> None:
    x = peer.actor(f"x-{uuid.uuid4().hex[:6]}")
    peer.serve(dict(x.document, publicKey=dict(
        x.document["publicKey"], owner="http://elsewhere.example/users/x")))
    with pytest.raises(KeyNotFound, match=r"elsewhere\.example"):
        await node.resolve_key(x.key_id)
    assert await nothing_stored(node, x)


async def test_an_actor_url_answering_with_another_actor_is_refused(node: Node,
                                                                    peer: Peer) -> None:
    x, y = peer.actor(f"x-{uuid.uuid4().hex[:6]}"), peer.actor(f"y-{uuid.uuid4().hex[:6]}")
    peer.serve(y.document, url=x.id)
    with pytest.raises(FetchError) as caught:
        await node.resolve_actor(x.id)
    assert caught.value.reason == "id-mismatch"
    assert await nothing_stored(node, x, y)


# -- end to end: a node that refuses private addresses ------------------------------


def _create(actor_id: str) -> dict[str, Any]:
    return {"@context": AS, "id": f"{actor_id}/activities/{uuid.uuid4().hex}",
            "type": "Create", "actor": actor_id, "to": [f"{AS}#Public"],
            "object": {"id": f"{actor_id}/notes/{uuid.uuid4().hex}", "type": "Note",
                       "attributedTo": actor_id, "to": [f"{AS}#Public"], "content": "hi"}}


@pytest.mark.federation
async def test_node_refuses_to_fetch_keys_from_private_addresses(cluster: Cluster) -> None:
    home = await cluster.node("strict", env={
        "MUTUAL_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "false"})
    async with Peer() as peer:
        sender = peer.actor("mallory")
        base = f"{peer.port}/users/mallory"
        cases = {
            f"http://127.0.0.1:{base}": "private address",
            f"http://localhost:{base}": "private address",
            f"http://[::1]:{base}": "private address",
            "http://10.0.0.1/users/mallory": "private address",
            "http://169.254.169.254/latest/meta-data": "private address",
            "http://0x7f.1/users/mallory": "IPv4 spelling",
        }
        for actor_id, why in cases.items():
            started = time.monotonic()
            reply = await peer.signed_post(f"{home.url}/inbox", _create(actor_id),
                                           actor=sender, key_id=f"{actor_id}#main-key")
            assert (reply.status, reply.reason) == (401, "key-not-found"), (actor_id, reply)
            assert why in reply.error, (actor_id, reply.error)
            assert time.monotonic() - started < 2.0, actor_id
        assert peer.fetched == [], "the node fetched from loopback"
