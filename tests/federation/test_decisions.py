"""A group decision across three real nodes and a stock-Mastodon-shaped voter."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.nodes import Cluster, Member, MutualNode, eventually
from tests.support.peer import Peer, RemoteActor

pytestmark = pytest.mark.federation

OPTIONS = ["Agree", "Abstain", "Disagree", "Block"]


def iso_in(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def audit(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", "audit", url],
                          capture_output=True, text=True, timeout=120, check=False)


async def join(member: Member, group_id: str, node: MutualNode) -> None:
    await member.post({"type": "Follow", "object": group_id})

    async def joined() -> bool:
        return member.actor_id in await node.collection(f"{group_id}/followers")

    await eventually(joined)


async def join_from_peer(peer: Peer, actor: RemoteActor, group_id: str,
                         node: MutualNode) -> None:
    reply = await peer.signed_post(f"{group_id}/inbox", {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.id}#follows/1", "type": "Follow", "actor": actor.id,
        "object": group_id}, actor=actor)
    assert reply.status == 202, reply

    async def joined() -> bool:
        return actor.id in await node.collection(f"{group_id}/followers")

    await eventually(joined)


def mastodon_vote(actor: RemoteActor, proposal: str, group_id: str, choice: str,
                  n: int = 1) -> dict[str, Any]:
    """Exactly what a stock Mastodon server sends for a poll vote: HTTP-signed only."""
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{actor.id}#votes/{n}/activity",
        "type": "Create",
        "actor": actor.id,
        "published": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": group_id,
        "object": {"id": f"{actor.id}#votes/{n}", "type": "Note", "name": choice,
                   "attributedTo": actor.id, "inReplyTo": proposal, "to": group_id},
    }


async def proposal_in_inbox(member: Member) -> dict[str, Any] | None:
    for item in await member.inbox():
        obj = item.get("object")
        if item["type"] == "Create" and isinstance(obj, dict) and obj.get("type") == "Question":
            return obj
    return None


async def test_decision_across_three_nodes_closes_and_audits_clean(cluster: Cluster) -> None:
    a = await cluster.node("a")
    b = await cluster.node("b")
    c = await cluster.node("c")
    ana, bo, cy = a.member("ana"), b.member("bo"), c.member("cy")
    group_id = a.cli("group", "create", "garden", "--owner", "ana")
    assert group_id == f"{a.url}/groups/garden"
    async with Peer() as peer:
        mia = peer.actor("mia")  # a Mastodon user
        await join(bo, group_id, a)
        await join(cy, group_id, a)
        await join_from_peer(peer, mia, group_id, a)

        # bo@B proposes; the group on A publishes the proposal to every member.
        await bo.post({"type": "Question", "name": "Buy a shared greenhouse?",
                       "content": "Quote attached: 2,400 EUR from the common fund.",
                       "oneOf": [{"type": "Note", "name": n} for n in OPTIONS],
                       "endTime": iso_in(8), "decisionRule": "majority", "quorum": 0.5,
                       "to": [group_id], "audience": group_id})
        questions = [await eventually(lambda m=m: proposal_in_inbox(m)) for m in (ana, bo, cy)]
        proposal = questions[0]["id"]
        assert {q["id"] for q in questions} == {proposal}
        assert questions[0]["attributedTo"] == group_id
        assert questions[0]["proposer"] == bo.actor_id
        assert questions[0]["electorateSize"] == 4
        arrived = await peer.wait_for(lambda r: r.json["type"] == "Create"
                                      and r.json["object"]["id"] == proposal)
        assert arrived.json["object"]["oneOf"][0]["name"] == "Agree"  # a Mastodon poll

        # Members on A, B and C vote through their nodes; mia votes the Mastodon way.
        for member, choice in ((ana, "Agree"), (bo, "Agree"), (cy, "Disagree")):
            await member.post({"type": "Note", "name": choice, "inReplyTo": proposal})
        reply = await peer.signed_post(f"{group_id}/inbox",
                                       mastodon_vote(mia, proposal, group_id, "Agree"),
                                       actor=mia)
        assert reply.status == 202, reply

        async def ledger_size() -> int | None:
            _, doc = await a.get(f"{proposal}/ballots")
            return doc["totalItems"] if doc["totalItems"] == 4 else None

        assert await eventually(ledger_size) == 4

        # The proposal closes at endTime; every node gets the result.
        async def closed(member: Member) -> dict[str, Any] | None:
            question = await proposal_in_inbox(member)
            return question if question and question.get("closed") else None

        results = [await eventually(lambda m=m: closed(m), within=30) for m in (ana, bo, cy)]
        for question in results:
            assert "result" in question, question
            result = question["result"]
            assert result["outcome"] == "adopted"
            assert result["tally"][0] == {"name": "Agree", "count": 3}
            assert result["turnout"] == 4
            assert result["ledgerSize"] == 4
        update = await peer.wait_for(lambda r: r.json["type"] == "Update"
                                     and r.json["object"].get("closed") is not None)
        assert update.json["object"]["result"]["outcome"] == "adopted"

    # Anyone can audit it from A's URL.
    outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout
    assert "1 origin-attested" in outcome.stdout
    assert "3 voter-signed" in outcome.stdout
