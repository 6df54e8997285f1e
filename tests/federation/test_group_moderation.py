"""Moderators look after their group: a post removed, a member removed, a moderator named."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.vocab import PUBLIC
from tests.support.nodes import Cluster, Member, eventually
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor

pytestmark = pytest.mark.federation


async def _join(peer: Peer, actor: RemoteActor, group: str) -> None:
    follow = {"@context": AS_CONTEXT, "id": f"{actor.id}#follows/g", "type": "Follow",
              "actor": actor.id, "object": group}
    reply = await peer.signed_post(f"{group}/inbox", follow, actor=actor)
    assert reply.status == 202, reply
    await peer.wait_for(lambda r: r.json["type"] == "Accept"
                        and r.json["object"]["id"] == follow["id"])


async def test_moderator_deletes_a_post_removes_a_member_and_names_a_moderator(
        cluster: Cluster) -> None:
    a = await cluster.node("a")
    ana, bo = a.member("ana"), a.member("bo")
    group = a.cli("group", "create", "garden", "--owner", "ana")
    followers = f"{group}/followers"
    async with Peer() as peer:
        mia, zed = peer.actor("mia"), peer.actor("zed")
        await _join(peer, mia, group)
        await _join(peer, zed, group)
        post = {"@context": AS_CONTEXT, "id": f"{mia.id}/activities/1", "type": "Create",
                "actor": mia.id, "to": [group], "cc": [PUBLIC], "audience": group,
                "object": {"id": f"{mia.id}/statuses/1", "type": "Note",
                           "attributedTo": mia.id, "content": "<p>Buy my stuff</p>",
                           "to": [group], "cc": [PUBLIC], "audience": group}}
        reply = await peer.signed_post(f"{group}/inbox", post, actor=mia)
        assert reply.status == 202, reply

        # bo is no moderator: he may not delete mia's post.
        status = await _post_status(bo, {"type": "Delete", "object": post["object"]["id"]})
        assert status == 403
        # ana moderates the group: her Delete is carried out by the group and announced.
        await ana.post({"type": "Delete", "object": post["object"]["id"]})
        announced = await peer.wait_for(
            lambda r: r.json["type"] == "Announce" and r.json["object"]["type"] == "Delete")
        assert announced.json["actor"] == group
        assert announced.json["object"]["object"] == post["object"]["id"]

        # ana removes zed from the group.
        await ana.post({"type": "Remove", "object": zed.id, "target": followers,
                        "to": [group], "audience": group})

        async def removed() -> bool:
            return zed.id not in await a.collection(followers)

        await eventually(removed)
        assert mia.id in await a.collection(followers)
        # ... and names bo a moderator, through the moderators collection (as Lemmy).
        await ana.post({"type": "Add", "object": bo.actor_id,
                        "target": f"{group}/moderators", "to": [group], "audience": group})

        async def moderators() -> list[str] | None:
            _, doc = await a.get(f"{group}/moderators")
            return doc["orderedItems"] if bo.actor_id in doc["orderedItems"] else None

        assert set(await eventually(moderators)) == {ana.actor_id, bo.actor_id}
        # zed, no longer a member, may not post to the group.
        late = {**post, "id": f"{zed.id}/activities/2", "actor": zed.id,
                "object": {**post["object"], "id": f"{zed.id}/statuses/2",
                           "attributedTo": zed.id}}
        reply = await peer.signed_post(f"{group}/inbox", late, actor=zed)
        assert (reply.status, reply.reason) == (403, "not-a-member")


async def _post_status(member: Member, doc: dict[str, Any]) -> int:
    assert member.node.session is not None
    async with member.node.session.post(
            f"{member.actor_id}/outbox", json=doc,
            headers={"Authorization": f"Bearer {member.token}",
                     "Content-Type": "application/activity+json"}) as response:
        return response.status
