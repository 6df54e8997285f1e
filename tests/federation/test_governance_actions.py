"""Binding actions: what an adopted decision does to the node and to the group.

One Mutual node per test; Peers play the remote servers, one of which the node's
governing group decides to block.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.federation.test_decisions import iso_in, join_from_peer
from tests.support.nodes import AP, Cluster, Member, MutualNode, eventually
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor

pytestmark = pytest.mark.federation


async def decide(member: Member, group: str, title: str, action: dict[str, Any],
                 choice: str, seconds: float = 4) -> dict[str, Any]:
    """``member`` proposes ``action`` to ``group`` and votes ``choice``; returns the
    Question once closed, as it reached the member's inbox (a closed group's proposals
    are not public)."""
    await member.post({"type": "Question", "name": title,
                       "oneOf": [{"type": "Note", "name": n} for n in ("Agree", "Disagree")],
                       "endTime": iso_in(seconds), "action": action,
                       "to": [group], "audience": group})
    opened = await eventually(lambda: question_named(member, title))
    await member.post({"type": "Note", "name": choice, "inReplyTo": opened["id"]})

    async def closed() -> dict[str, Any] | None:
        question = await question_named(member, title)
        return question if question and question.get("closed") else None

    result: dict[str, Any] = await eventually(closed, within=30)
    return result


async def question_named(member: Member, name: str) -> dict[str, Any] | None:
    for item in await member.inbox():
        obj = item.get("object")
        if (item["type"] == "Create" and isinstance(obj, dict)
                and obj.get("type") == "Question" and obj.get("name") == name):
            return obj
    return None


def note_to(actor: RemoteActor, to: str, n: int) -> dict[str, Any]:
    note_id = f"{actor.id}/statuses/{n}"
    return {"@context": AS_CONTEXT, "id": f"{note_id}/activity", "type": "Create",
            "actor": actor.id, "to": [to],
            "object": {"id": note_id, "type": "Note", "attributedTo": actor.id,
                       "content": f"<p>hello {n}</p>", "to": [to]}}


async def inbox_objects(member: Member) -> set[str]:
    return {i["object"]["id"] for i in await member.inbox()
            if i["type"] == "Create" and isinstance(i.get("object"), dict)}


async def follow_member(peer: Peer, actor: RemoteActor, member: Member) -> None:
    reply = await peer.signed_post(f"{member.actor_id}/inbox", {
        "@context": AS_CONTEXT, "id": f"{actor.id}#follows/{member.name}",
        "type": "Follow", "actor": actor.id, "object": member.actor_id}, actor=actor)
    assert reply.status == 202, reply


async def test_domain_block_is_carried_out_when_adopted_and_not_when_rejected(
        cluster: Cluster) -> None:
    a = await cluster.node("a")
    ana = a.member("ana")
    council = a.cli("group", "create", "council", "--owner", "ana")
    a.cli("governance", "set", "council")
    async with Peer() as far, Peer() as near:
        mia, kim = far.actor("mia"), near.actor("kim")
        await follow_member(far, mia, ana)
        await follow_member(near, kim, ana)
        block = {"type": "BlockDomain", "object": far.host}

        rejected = await decide(ana, council, "Block far? (1)", block, "Disagree")
        assert rejected["result"]["outcome"] == "rejected"
        reply = await far.signed_post(f"{ana.actor_id}/inbox", note_to(mia, ana.actor_id, 1),
                                      actor=mia)
        assert reply.status == 202, reply
        assert f"{mia.id}/statuses/1" in await inbox_objects(ana)
        before = await ana.post({"type": "Note", "content": "Before the block"})
        await far.wait_for(lambda r: r.json["type"] == "Create"
                           and r.json["object"]["id"] == before["object"]["id"])

        adopted = await decide(ana, council, "Block far? (2)", block, "Agree")
        assert adopted["result"]["outcome"] == "adopted"
        assert adopted["action"] == block
        # Defederating ends the blocked domain's follows: mia no longer follows ana.
        assert mia.id not in await a.collection(f"{ana.actor_id}/followers")
        assert kim.id in await a.collection(f"{ana.actor_id}/followers")
        reply = await far.signed_post(f"{ana.actor_id}/inbox", note_to(mia, ana.actor_id, 2),
                                      actor=mia)
        assert (reply.status, reply.reason) == (403, "domain-blocked")
        assert f"{mia.id}/statuses/2" not in await inbox_objects(ana)
        reply = await near.signed_post(f"{ana.actor_id}/inbox",
                                       note_to(kim, ana.actor_id, 3), actor=kim)
        assert reply.status == 202, reply  # other domains still deliver

        # Outgoing: ana's post reaches near's follower but never the blocked domain.
        post = await ana.post({"type": "Note", "content": "After the block"})
        await near.wait_for(lambda r: r.json["type"] == "Create"
                            and r.json["object"]["id"] == post["object"]["id"])
        await asyncio.sleep(1.0)  # every delivery of this post has had its turn
        assert not [r for r in far.received if r.json.get("type") == "Create"
                    and r.json["object"]["id"] == post["object"]["id"]]


async def test_domain_action_of_a_non_governing_group_is_refused_at_creation(
        cluster: Cluster) -> None:
    a = await cluster.node("a")
    ana = a.member("ana")
    garden = a.cli("group", "create", "garden", "--owner", "ana")
    a.cli("group", "create", "council", "--owner", "ana")
    a.cli("governance", "set", "council")
    async with Peer() as peer:
        mia = peer.actor("mia")
        await join_from_peer(peer, mia, garden, a)
        question = {"id": f"{mia.id}/statuses/1", "type": "Question", "name": "Block them?",
                    "attributedTo": mia.id, "to": [garden], "audience": garden,
                    "oneOf": [{"type": "Note", "name": n} for n in ("Agree", "Disagree")],
                    "endTime": iso_in(60),
                    "action": {"type": "BlockDomain", "object": "spam.example"}}
        reply = await peer.signed_post(f"{garden}/inbox", {
            "@context": AS_CONTEXT, "id": f"{mia.id}/statuses/1/activity", "type": "Create",
            "actor": mia.id, "to": [garden], "audience": garden, "object": question},
            actor=mia)
        assert (reply.status, reply.reason) == (422, "not-governing")
    assert a.session is not None
    async with a.session.post(f"{ana.actor_id}/outbox", json={
            "type": "Question", "name": "Block them?", "to": [garden], "audience": garden,
            "oneOf": [{"type": "Note", "name": n} for n in ("Agree", "Disagree")],
            "endTime": iso_in(60), "action": {"type": "BlockDomain", "object": "spam.example"}},
            headers={**ana._auth()}) as response:
        body = await response.json(content_type=None)
        assert (response.status, body.get("reason")) == (422, "not-governing"), body
    status, _ = await a.get(f"{garden}/proposals/1")
    assert status == 404


async def test_adopted_decisions_admit_a_member_and_appoint_a_moderator(
        cluster: Cluster) -> None:
    a = await cluster.node("a")
    ana, bo = a.member("ana"), a.member("bo")
    board = a.cli("group", "create", "board", "--owner", "ana", "--closed")
    async with Peer() as peer:
        mia = peer.actor("mia")
        follow = {"@context": AS_CONTEXT, "id": f"{mia.id}#follows/board", "type": "Follow",
                  "actor": mia.id, "object": board}
        reply = await peer.signed_post(f"{board}/inbox", follow, actor=mia)
        assert reply.status == 202, reply
        assert mia.id not in await _members(a, board, ana)  # pending: a closed group

        admitted, appointed = await asyncio.gather(
            decide(ana, board, "Admit mia?", {"type": "AdmitMember", "object": mia.id}, "Agree"),
            decide(ana, board, "Appoint bo?", {"type": "AppointModerator", "object": bo.actor_id},
                   "Agree", seconds=5))
        assert admitted["result"]["outcome"] == "adopted"
        assert appointed["result"]["outcome"] == "adopted"
        assert mia.id in await _members(a, board, ana)
        accept = await peer.wait_for(lambda r: r.json["type"] == "Accept"
                                     and r.json["object"]["id"] == follow["id"])
        assert accept.json["actor"] == board
        _, moderators = await a.get(f"{board}/moderators")
        assert set(moderators["orderedItems"]) == {ana.actor_id, bo.actor_id}
        # A closed group's decisions: members read them with their token, strangers not.
        status, proposal = await a.get(f"{board}/proposals/1",
                                       headers={"Authorization": f"Bearer {ana.token}"})
        assert status == 200
        assert proposal["type"] == "Question"
        status, _ = await a.get(f"{board}/proposals/1")
        assert status == 404


async def _members(node: MutualNode, group: str, reader: Member) -> list[str]:
    return await node.collection(f"{group}/followers",
                                 headers={"Authorization": f"Bearer {reader.token}",
                                          "Accept": AP})
