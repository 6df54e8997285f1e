"""Authentic requests that claim too much: an algorithm we do not accept, a boost that
carries a forged copy of someone else's post, the Undo of someone else's Like.

One real node (a subprocess driven over HTTP, ``tests.support.home``) and fake remote
servers whose keys the test holds (``tests.support.peer``). Each refusal is checked to
change nothing, and paired with a positive control that the node accepts, so that no
test can pass because the node refuses everything.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from tests.support.activities import create_note, uid
from tests.support.home import Home, home_node
from tests.support.peer import Outgoing, Peer, RemoteActor, key_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"


class Env(Home):
    peer: Peer  # the sender's server
    origin: Peer  # another server, where the boosted posts live

    def sender(self, prefix: str = "s") -> RemoteActor:
        return self.peer.actor(f"{prefix}-{uid()}", key=key_for("spoofing-sender"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with (home_node(tmp_path_factory.mktemp("spoofing")) as home, Peer() as peer,
                Peer() as origin):
        env = Env(node=home.node, ana=home.ana)
        env.peer, env.origin = peer, origin
        yield env


async def accepted(env: Env, activity: dict[str, Any], sender: RemoteActor) -> None:
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
    assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply


# -- algorithms ---------------------------------------------------------------------------


def cavage_algorithm(name: str) -> Callable[[Outgoing], None]:
    """Claim another algorithm in a draft-cavage signature (its bytes stay RSA's)."""
    def hook(request: Outgoing) -> None:
        request.headers["Signature"] = request.headers["Signature"].replace(
            'algorithm="rsa-sha256"', f'algorithm="{name}"')
    return hook


def rfc9421_algorithm(name: str) -> Callable[[Outgoing], None]:
    def hook(request: Outgoing) -> None:
        request.headers["Signature-Input"] = re.sub(
            r';alg="[^"]*"', f';alg="{name}"', request.headers["Signature-Input"])
    return hook


@pytest.mark.parametrize(("scheme", "mutate"), [
    pytest.param("cavage", cavage_algorithm("hmac-sha256"), id="cavage-hmac-sha256"),
    pytest.param("cavage", cavage_algorithm("rsa-sha1"), id="cavage-rsa-sha1"),
    pytest.param("cavage", cavage_algorithm("ecdsa-sha256"), id="cavage-ecdsa-sha256"),
    pytest.param("cavage", cavage_algorithm("ed25519"), id="cavage-ed25519-with-an-rsa-key"),
    pytest.param("rfc9421", rfc9421_algorithm("hmac-sha256"), id="rfc9421-hmac-sha256"),
    pytest.param("rfc9421", rfc9421_algorithm("ecdsa-p256-sha256"), id="rfc9421-ecdsa"),
])
async def test_an_unsupported_signature_algorithm_is_refused_401_and_changes_nothing(
        env: Env, scheme: str, mutate: Callable[[Outgoing], None]) -> None:
    sender = env.sender()
    activity = create_note(sender, env.ana.actor_id)
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender, scheme=scheme,
                                       mutate=mutate)
    assert (reply.status, reply.reason) == (401, "signature-algorithm"), reply
    assert reply.error, "the refusal says which algorithm, in words"
    assert await env.snapshot() == before
    assert activity["object"]["id"] not in await env.inbox_object_ids()
    # Control: the same activity, signed with the algorithm as the peer chose it.
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender, scheme=scheme)
    assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply
    assert activity["object"]["id"] in await env.inbox_object_ids()


# -- a boost is never trusted inline ------------------------------------------------------


def announce(booster: RemoteActor, obj: dict[str, Any], to: str) -> dict[str, Any]:
    return {"@context": AS, "id": f"{booster.id}/boosts/{uid()}", "type": "Announce",
            "actor": booster.id, "to": [to], "cc": [PUBLIC], "object": obj}


def origin_post(env: Env) -> tuple[RemoteActor, dict[str, Any]]:
    """A post by an author on the origin server, served there as the origin wrote it."""
    author = env.origin.actor(f"author-{uid()}", key=key_for("spoofing-origin"))
    post = {"@context": AS, "id": f"{author.id}/statuses/{uid()}", "type": "Note",
            "attributedTo": author.id, "to": [PUBLIC], "content": "<p>genuine words</p>"}
    return author, post


def forged(post: dict[str, Any]) -> dict[str, Any]:
    return {**post, "content": "<p>FORGED words <script>steal()</script></p>",
            "summary": "FORGED warning"}


async def inbox_text(env: Env) -> str:
    return json.dumps(await env.inbox_items())


async def test_a_boost_with_a_forged_inline_copy_stores_the_origins_version(env: Env) -> None:
    booster = env.sender("booster")
    _, post = origin_post(env)
    env.origin.serve(post)
    boost = announce(booster, forged(post), env.ana.actor_id)
    await accepted(env, boost, booster)
    assert urlsplit(post["id"]).path in env.origin.fetched, "the node asked the origin"
    item = await env.inbox_item(boost["id"])
    assert item is not None
    assert item["object"]["id"] == post["id"]
    assert item["object"]["content"] == "<p>genuine words</p>"
    assert "summary" not in item["object"]
    assert "FORGED" not in await inbox_text(env)
    # A second boost of the same post, forged again: the stored copy stays the origin's.
    second = env.sender("booster")
    again = announce(second, {**forged(post), "content": "<p>FORGED again</p>"},
                     env.ana.actor_id)
    await accepted(env, again, second)
    assert (await env.inbox_item(again["id"]) or {})["object"]["content"] == (
        "<p>genuine words</p>")
    assert "FORGED" not in await inbox_text(env)


async def test_a_boost_of_a_post_its_origin_does_not_have_is_refused_and_stores_nothing(
        env: Env) -> None:
    booster = env.sender("booster")
    _, post = origin_post(env)
    env.origin.forget(post["id"])  # the origin answers 404: the post never existed
    boost = announce(booster, forged(post), env.ana.actor_id)
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, boost, actor=booster)
    assert (reply.status, reply.reason) == (422, "announce-unverifiable"), reply
    assert await env.snapshot() == before
    assert await env.inbox_item(boost["id"]) is None
    assert "FORGED" not in await inbox_text(env)
    # Control: once the origin serves the post, the same boost is new and accepted,
    # and what is stored is still the origin's version.
    env.origin.serve(post)
    await accepted(env, boost, booster)
    item = await env.inbox_item(boost["id"])
    assert item is not None
    assert item["object"]["content"] == "<p>genuine words</p>"


async def test_a_boost_whose_origin_serves_another_author_is_refused(env: Env) -> None:
    booster = env.sender("booster")
    author, post = origin_post(env)
    other = env.origin.actor(f"other-{uid()}", key=key_for("spoofing-origin"))
    env.origin.serve({**post, "attributedTo": other.id, "id": f"{post['id']}-elsewhere"},
                     url=post["id"])  # the origin answers with another document
    boost = announce(booster, forged(post), env.ana.actor_id)
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, boost, actor=booster)
    assert (reply.status, reply.reason) == (422, "announce-unverifiable"), reply
    assert await env.snapshot() == before
    assert await env.inbox_item(boost["id"]) is None
    assert urlsplit(author.id).path not in env.origin.fetched, "nor was its author trusted"


# -- Undo of someone else's Like --------------------------------------------------------


async def test_undo_of_someone_elses_like_is_refused_403(env: Env) -> None:
    victim, mallory = env.sender("victim"), env.sender("mallory")
    post = (await env.ana.post({"type": "Note", "content": "like me"}))["object"]["id"]
    like = {"@context": AS, "id": f"{victim.id}#likes/{uid()}", "type": "Like",
            "actor": victim.id, "object": post}
    await accepted(env, like, victim)
    assert await env.counts(post) == (1, 0)
    undo = {"@context": AS, "id": f"{mallory.id}#undo/{uid()}", "type": "Undo",
            "actor": mallory.id, "object": like}
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, undo, actor=mallory)
    assert (reply.status, reply.reason) == (403, "not-own-activity"), reply
    # The same by reference to the stored Like, rather than embedded.
    by_id = dict(undo, id=f"{mallory.id}#undo/{uid()}", object=like["id"])
    reply = await env.peer.signed_post(env.inbox, by_id, actor=mallory)
    assert (reply.status, reply.reason) == (403, "not-own-activity"), reply
    assert await env.snapshot() == before
    assert await env.counts(post) == (1, 0)
    # Control: the one who liked may undo the Like, by reference too.
    own = dict(by_id, id=f"{victim.id}#undo/{uid()}", actor=victim.id)
    await accepted(env, own, victim)
    assert await env.counts(post) == (0, 0)
