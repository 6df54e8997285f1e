"""Three real nodes federating over HTTP on loopback: the social basics end to end."""

from __future__ import annotations

import pytest

from tests.support.nodes import Cluster, eventually

pytestmark = pytest.mark.federation

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


async def test_follow_post_reply_like_boost_delete_unfollow(cluster: Cluster) -> None:
    a = await cluster.node("a")
    b = await cluster.node("b")
    c = await cluster.node("c")
    ana = a.member("ana")
    bo = b.member("bo")
    cy = c.member("cy")

    # ana@A and cy@C follow bo@B; B auto-accepts, as Mastodon does by default.
    await ana.post({"type": "Follow", "object": bo.actor_id})
    await cy.post({"type": "Follow", "object": bo.actor_id})

    async def followers() -> list[str]:
        return await b.collection(f"{bo.actor_id}/followers")

    assert set(await eventually(lambda: _has(followers, 2))) == {ana.actor_id, cy.actor_id}
    following = await eventually(lambda: a.collection(f"{ana.actor_id}/following"))
    assert following == [bo.actor_id]

    # bo posts; the post lands in ana's inbox on A and cy's on C.
    create = await bo.post({"type": "Note", "content": "Seed swap on Saturday #garden"})
    note_id = create["object"]["id"]

    async def in_inbox(member, object_id):
        items = await member.inbox()
        return [i for i in items if isinstance(i.get("object"), dict)
                and i["object"].get("id") == object_id]

    received = (await eventually(lambda: in_inbox(ana, note_id)))[0]
    assert received["type"] == "Create"
    assert "Seed swap" in received["object"]["content"]
    await eventually(lambda: in_inbox(cy, note_id))

    # ana replies; the reply threads under bo's post on B.
    reply = await ana.post({"type": "Note", "content": "Count me in!", "inReplyTo": note_id,
                            "to": [PUBLIC], "cc": [bo.actor_id]})
    reply_id = reply["object"]["id"]

    async def replies_on_b() -> list[str]:
        status, doc = await b.get(note_id)
        assert status == 200
        return list(doc["replies"]["items"])

    assert await eventually(replies_on_b) == [reply_id]
    assert (await eventually(lambda: in_inbox(bo, reply_id)))[0]["object"]["inReplyTo"] == note_id

    # ana likes and cy boosts; B counts both.
    await ana.post({"type": "Like", "object": note_id})
    await cy.post({"type": "Announce", "object": note_id})

    async def counts() -> tuple[int, int] | None:
        _, doc = await b.get(note_id)
        pair = (doc["likes"]["totalItems"], doc["shares"]["totalItems"])
        return pair if pair == (1, 1) else None

    assert await eventually(counts) == (1, 1)
    liked = await a.collection(f"{ana.actor_id}/liked")
    assert liked == [note_id]

    # bo deletes the post: it is a Tombstone on A (and gone on B).
    await bo.post({"type": "Delete", "object": note_id})

    async def tombstoned() -> bool:
        items = await in_inbox(ana, note_id)
        return bool(items) and items[0]["object"]["type"] == "Tombstone"

    await eventually(tombstoned)
    status, doc = await b.get(note_id)
    assert status == 410
    assert doc["type"] == "Tombstone"

    # ana unfollows: B's followers no longer list her.
    follow_id = await _follow_activity_id(ana, bo)
    await ana.post({"type": "Undo", "object": follow_id})
    assert await eventually(lambda: _has(followers, 1, exact=True)) == [cy.actor_id]


async def _has(fetch, count: int, exact: bool = False):
    items = await fetch()
    if (len(items) == count) if exact else (len(items) >= count):
        return items
    return None


async def _follow_activity_id(member, followee) -> str:
    items = await member.node.collection(f"{member.actor_id}/outbox",
                                         headers={"Authorization": f"Bearer {member.token}"})
    follows = [i["id"] for i in items if i["type"] == "Follow" and i["object"] == followee.actor_id]
    assert follows, items
    return str(follows[0])
