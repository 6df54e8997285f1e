"""Mutual federating with a live third-party server: bovine-herd on loopback over http.

bovine is not written by us and is strict in ways Mastodon is not: it refuses
unsigned GETs of its actors and objects, never auto-accepts a Follow (its users
are driven through its client API, see tests/support/bovine.py), signs its POSTs
with a lower-case ``sha-256=`` Digest and a ``#serverKey`` keyId, writes Public as
``as:Public`` and single addresses as bare strings. Every step below is checked on
both sides: what Mutual's public collections show and what bovine's do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.bovine import BovineServer, BovineUser, is_public
from tests.support.bovine import eventually as bovine_eventually
from tests.support.nodes import AP, Cluster, Member, MutualNode, eventually

pytestmark = [pytest.mark.federation, pytest.mark.timeout(90)]

_WITHIN = 20.0  # seconds for one federation step; bovine processes its inbox in the background


@pytest.fixture
async def bovine(tmp_path: Path) -> AsyncIterator[BovineServer]:
    async with BovineServer.start(tmp_path) as server:
        yield server


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


async def _diagnose(
    what: str, probe: Callable[[], Awaitable[Any]], node: MutualNode, bovine: BovineServer,
) -> Any:
    """``eventually`` that, on failure, shows both servers' logs: interop failures
    are explained there (a refused signature, a dropped activity), not in the probe."""
    try:
        return await eventually(probe, within=_WITHIN)
    except AssertionError as exc:
        log = (node.root / f"{node.name}.log").read_text(errors="replace").splitlines()[-40:]
        pytest.fail(f"{what}: {exc}\n--- mutual log ---\n" + "\n".join(log)
                    + f"\n--- bovine log ---\n{bovine.log_tail()}")


async def _inbox_with(member: Member, object_id: str) -> list[dict[str, Any]]:
    return [i for i in await member.inbox() if _id(i.get("object")) == object_id]


async def _bovine_inbox_with(user: BovineUser, object_id: str) -> list[dict[str, Any]]:
    return [i for i in await user.inbox_items()
            if i.get("type") == "Create" and _id(i.get("object")) == object_id]


async def test_mutual_member_follows_bovine_user_and_receives_posts_and_replies(
    cluster: Cluster, bovine: BovineServer,
) -> None:
    node = await cluster.node("mutual")
    ana = node.member("ana")
    bob = await bovine.create_user("bob")
    async with bovine.session.get(bob.actor_id, headers={"Accept": AP}) as unsigned:
        assert unsigned.status == 401, "bovine serves its actors only to signed GETs"

    # ana follows bob: Mutual GETs bob's actor (bovine wants that signed) and POSTs a
    # signed Follow to his inbox. bovine never auto-accepts, so bob accepts by hand.
    follow = await ana.post({"type": "Follow", "object": bob.actor_id})

    async def bob_has_request() -> list[dict[str, Any]]:
        return [i for i in await bob.inbox_items() if i.get("id") == follow["id"]]

    (request,) = await _diagnose("bovine never got the Follow", bob_has_request, node, bovine)
    assert request["type"] == "Follow"
    assert _id(request["actor"]) == ana.actor_id
    assert await node.collection(f"{ana.actor_id}/following") == [], "pending until accepted"
    assert await bob.accept_follow_requests() == 1
    assert await bovine_eventually(bob.followers) == [ana.actor_id]

    # bovine delivers the Accept (signed with its lower-case sha-256 Digest); only a
    # verified Accept moves bob from pending into ana's following on Mutual.
    async def ana_following() -> list[str]:
        return await node.collection(f"{ana.actor_id}/following")

    assert await _diagnose("Mutual never took bob's Accept", ana_following,
                           node, bovine) == [bob.actor_id]

    # bob posts (to as:Public, cc his followers as a bare string): it reaches ana.
    note_id = await bob.post("Hello from bovine")
    (create,) = await _diagnose("bob's post never reached ana",
                                lambda: _inbox_with(ana, note_id), node, bovine)
    assert create["type"] == "Create"
    assert _id(create["actor"]) == bob.actor_id
    assert create["object"]["content"] == "Hello from bovine"
    assert create["object"]["attributedTo"] == bob.actor_id

    # ana replies, mentioning bob as a Mastodon app would: Mutual resolves
    # acct:bob@host:port with bovine's WebFinger, addresses the reply to bob and
    # delivers it to his inbox; bovine fetches ana's key (its own signed GET of
    # ana's actor), checks our signature and keeps the reply.
    reply = await ana.post({"type": "Note", "content": f"@bob@{bovine.netloc} Hello from Mutual!",
                            "inReplyTo": note_id})
    reply_id = reply["object"]["id"]
    assert {"type": "Mention", "href": bob.actor_id,
            "name": f"@bob@{bovine.netloc}"} in reply["object"]["tag"]
    (received,) = await _diagnose("ana's reply never reached bob",
                                  lambda: _bovine_inbox_with(bob, reply_id), node, bovine)
    assert _id(received["actor"]) == ana.actor_id
    assert _id(received["object"]["inReplyTo"]) == note_id
    assert "Hello from Mutual!" in received["object"]["content"]

    # ...and bovine threads it under bob's post (its replies collection is open).
    original = await bob.fetch(note_id)
    assert original is not None
    replies_url = _id(original["replies"])
    assert replies_url is not None

    async def replies_on_bovine() -> list[str]:
        page = await bob.client.get(replies_url)
        items = page.get("orderedItems", page.get("items", []))
        return [i for i in map(_id, items if isinstance(items, list) else [items]) if i]

    assert await _diagnose("bovine never threaded the reply", replies_on_bovine,
                           node, bovine) == [reply_id]


async def test_bovine_user_follows_mutual_member_and_receives_posts(
    cluster: Cluster, bovine: BovineServer,
) -> None:
    node = await cluster.node("mutual")
    ana = node.member("ana")
    carol = await bovine.create_user("carol")

    # carol follows ana: bovine signs a GET of ana's actor, then POSTs the Follow.
    # Mutual verifies it, auto-accepts and delivers an Accept that bovine must verify.
    follow_id = await carol.follow(ana.actor_id)

    async def ana_followers() -> list[str]:
        return await node.collection(f"{ana.actor_id}/followers")

    assert await _diagnose("Mutual never took carol's Follow", ana_followers,
                           node, bovine) == [carol.actor_id]
    assert await _diagnose("bovine never took ana's Accept", carol.following,
                           node, bovine) == [ana.actor_id]
    (notified,) = await _inbox_with_id(ana, follow_id)
    assert notified["type"] == "Follow"

    # ana posts publicly: one delivery to carol's inbox (bovine has no sharedInbox).
    create = await ana.post({"type": "Note", "content": "Greenhouse meeting at 6"})
    note_id = create["object"]["id"]
    (received,) = await _diagnose("ana's post never reached carol",
                                  lambda: _bovine_inbox_with(carol, note_id), node, bovine)
    assert _id(received["actor"]) == ana.actor_id
    assert _id(received["object"]["attributedTo"]) == ana.actor_id
    assert "Greenhouse meeting at 6" in received["object"]["content"]
    assert is_public(received["object"])


async def _inbox_with_id(member: Member, activity_id: str) -> list[dict[str, Any]]:
    return [i for i in await member.inbox() if i.get("id") == activity_id]
