"""Fetching a sender's key: what the node keeps, and how it refuses a key it cannot use.

Regressions for ``Node.resolve_key``: a fetched key must load before anything from its
document is stored (a key that does not load leaves no trace), and a key document whose
owner lives on another host is a key we cannot have (401, so the sender may retry with
another key), not a 403. One real node over HTTP and a fake remote server
(``tests.support.peer``); each refusal is paired with an accepted control.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from tests.support.activities import create_note, uid
from tests.support.home import Home, home_node
from tests.support.peer import Peer, Received, RemoteActor, key_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
GARBAGE_PEM = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"


class Env(Home):
    peer: Peer

    def sender(self) -> RemoteActor:
        return self.peer.actor(f"k-{uid()}", key=key_for("key-resolution-sender"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with home_node(tmp_path_factory.mktemp("keys")) as home, Peer() as peer:
        env = Env(node=home.node, ana=home.ana)
        env.peer = peer
        yield env


async def test_key_owned_by_another_host_is_refused_401_and_changes_nothing(env: Env) -> None:
    sender = env.sender()
    env.peer.serve(dict(sender.document, publicKey=dict(
        sender.document["publicKey"], owner=f"http://elsewhere.example/users/{uid()}")))
    activity = create_note(sender, env.ana.actor_id)
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
    assert (reply.status, reply.reason) == (401, "key-not-found"), reply
    assert "elsewhere.example" in reply.error
    assert await env.snapshot() == before
    # Control: once the key names its real owner, the same activity is new and accepted.
    env.peer.serve(sender.document)
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
    assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply


async def test_key_that_does_not_load_leaves_no_trace_of_its_document(env: Env) -> None:
    sender = env.sender()
    stale_inbox = f"{sender.id}/stale-inbox"
    env.peer.serve(dict(sender.document, inbox=stale_inbox, publicKey=dict(
        sender.document["publicKey"], publicKeyPem=GARBAGE_PEM)))
    reply = await env.peer.signed_post(env.inbox, create_note(sender, env.ana.actor_id),
                                       actor=sender)
    assert (reply.status, reply.reason) == (401, "key-malformed"), reply
    # Had the refused document been stored, the node would trust it for a day, and
    # ana's Follow would go to the inbox it named instead of the one served now.
    env.peer.serve(sender.document)
    await env.ana.post({"type": "Follow", "object": sender.id})

    def follow_of_sender(item: Received) -> bool:
        doc = item.json
        return bool(doc["type"] == "Follow" and doc["object"] == sender.id)

    delivered = await env.peer.wait_for(follow_of_sender)
    assert delivered.path == urlsplit(sender.inbox).path
    assert not [r for r in env.peer.received if r.path == urlsplit(stale_inbox).path]


async def test_actor_fetched_with_an_unusable_key_keeps_no_key(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """``resolve_actor`` stores an actor's key only when it loads (regression): a stored
    garbage key would be what every later verification tried first."""
    import aiohttp

    from node.accounts import create_account
    from node.config import Config
    from node.context import Node
    from node.urls import INSTANCE_ACTOR, Urls
    from storage.sqlite import open_sqlite

    folder = tmp_path_factory.mktemp("resolve-actor")
    config = Config(data_dir=folder, allow_private_addresses=True)
    store = await open_sqlite(folder / "mutual.db")
    await create_account(store, Urls(config.url), INSTANCE_ACTOR, kind="application")
    try:
        async with Peer() as peer, aiohttp.ClientSession() as session:
            node = Node(config=config, store=store, session=session)
            await node.start()
            broken = peer.actor(f"b-{uid()}")
            peer.serve(dict(broken.document, publicKey=dict(
                broken.document["publicKey"], publicKeyPem=GARBAGE_PEM)))
            assert (await node.resolve_actor(broken.id)).id == broken.id
            assert await store.get_key(broken.key_id) is None
            good = peer.actor(f"g-{uid()}")  # control: a usable key is kept
            await node.resolve_actor(good.id)
            assert await store.get_key(good.key_id) is not None
    finally:
        await store.close()
