"""Attacks on decisions: ballots of one member racing each other, and a closed group's
ledger read by someone outside it.

One Mutual node holds an open group (garden: ana and three remote voters) and a closed
one (board: ana, and kim on a remote server, admitted by a decision); a Peer plays the
remote servers. What is checked is what anyone can check over HTTP: the ledger, the
published result, and ``mutual audit``.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.federation.test_decisions import (
    audit,
    iso_in,
    join_from_peer,
    mastodon_vote,
)
from tests.federation.test_governance_actions import decide, question_named
from tests.support.nodes import Cluster, Member, MutualNode, eventually
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor, bad_signature_bytes
from tests.support.voting import wait_closed

pytestmark = [pytest.mark.federation, pytest.mark.asyncio(loop_scope="module")]

OPTIONS = ["Agree", "Abstain", "Disagree"]


@dataclass
class Groups:
    node: MutualNode
    peer: Peer
    ana: Member
    bo: Member  # a member of the node, in neither group
    garden: str  # open
    board: str  # closed; kim is its remote member
    kim: RemoteActor


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def groups(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Groups]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        cluster = Cluster(tmp_path_factory.mktemp("decision-attacks"), session)
        try:
            node = await cluster.node("a")
            async with Peer() as peer:
                ana, bo = node.member("ana"), node.member("bo")
                garden = node.cli("group", "create", "garden", "--owner", "ana")
                board = node.cli("group", "create", "board", "--owner", "ana", "--closed")
                for name in ("mia", "gus", "noa"):
                    await join_from_peer(peer, peer.actor(name), garden, node)
                kim = peer.actor("kim")
                reply = await peer.signed_post(f"{board}/inbox", {
                    "@context": AS_CONTEXT, "id": f"{kim.id}#follows/board",
                    "type": "Follow", "actor": kim.id, "object": board}, actor=kim)
                assert reply.status == 202, reply  # pending: the group is closed
                admitted = await decide(ana, board, "Admit kim?",
                                        {"type": "AdmitMember", "object": kim.id}, "Agree",
                                        seconds=3)
                assert admitted["result"]["outcome"] == "adopted"
                yield Groups(node=node, peer=peer, ana=ana, bo=bo, garden=garden,
                             board=board, kim=kim)
        finally:
            cluster.stop_all()


async def ledger(node: MutualNode, proposal: str) -> list[dict[str, Any]]:
    """Every ledger entry, following the pages as an auditor does."""
    entries: list[dict[str, Any]] = []
    url: str | None = f"{proposal}/ballots?page=true&after=0"
    while url:
        status, page = await node.get(url)
        assert status == 200, (status, page)
        entries.extend(page["orderedItems"])
        url = page.get("next")
    return entries


async def test_one_members_ballots_racing_each_other_are_counted_once(groups: Groups) -> None:
    g = groups
    await g.ana.post({"type": "Question", "name": "Dig a pond?", "endTime": iso_in(5),
                      "oneOf": [{"type": "Note", "name": n} for n in OPTIONS],
                      "to": [g.garden], "audience": g.garden})
    proposal = (await eventually(lambda: question_named(g.ana, "Dig a pond?")))["id"]
    mia, gus = g.peer.actor("mia"), g.peer.actor("gus")
    # mia's server sends twelve ballots at once, each of them twice (a retry racing the
    # original), in a random order.
    ballots = [mastodon_vote(mia, proposal, g.garden, OPTIONS[n % 3], n)
               for n in range(1, 13)]
    sends = [ballot for ballot in ballots for _ in range(2)]
    random.Random(7).shuffle(sends)
    replies = await asyncio.gather(*(
        g.peer.signed_post(f"{g.garden}/inbox", ballot, actor=mia) for ballot in sends))
    assert [r.status for r in replies] == [202] * len(sends), replies
    answers = Counter((ballot["id"], r.body["status"]) for ballot, r in zip(
        sends, replies, strict=True))
    for ballot in ballots:  # each ballot taken once; its twin is the duplicate
        assert answers[(ballot["id"], "accepted")] == 1, answers
        assert answers[(ballot["id"], "duplicate")] == 1, answers
    # Control: another member's single ballot, and a local member's.
    reply = await g.peer.signed_post(f"{g.garden}/inbox",
                                     mastodon_vote(gus, proposal, g.garden, "Disagree"),
                                     actor=gus)
    assert reply.status == 202, reply
    await g.ana.post({"type": "Note", "name": "Agree", "inReplyTo": proposal})

    entries = await ledger(g.node, proposal)
    assert len(entries) == 14
    assert len({e["ballot"] for e in entries}) == 14, "no ballot entered twice"
    assert [e["seq"] for e in entries] == list(range(1, 15))
    mine = [e for e in entries if e["voter"] == mia.id]
    # Last wins (docs/decisions.md): each of mia's entries replaces the one before it.
    assert [e["supersedes"] for e in mine] == [None] + [e["seq"] for e in mine[:-1]]
    assert {e["mode"] for e in mine} == {"replace"}
    last_choice = mine[-1]["choices"][0]

    question = await wait_closed(g.node, proposal)
    result = question["result"]
    expected = Counter({"Agree": 0, "Abstain": 0, "Disagree": 0})
    expected.update([last_choice, "Disagree", "Agree"])
    assert {t["name"]: t["count"] for t in result["tally"]} == dict(expected)
    assert (result["turnout"], result["ledgerSize"]) == (3, 14)
    outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout


@pytest.mark.parametrize("part", ["", "/electorate", "/ballots", "/ballots?page=true&after=0"])
async def test_a_closed_groups_decision_is_read_by_members_only(groups: Groups,
                                                                part: str) -> None:
    g = groups
    proposal = (await question_named(g.ana, "Admit kim?") or {}).get("id")
    assert proposal, "the fixture's decision is in ana's inbox"
    url = f"{proposal}{part}"
    zed = g.peer.actor("zed")  # a stranger on a server the node knows
    await join_from_peer(g.peer, zed, g.garden, g.node)  # (a member of the *other* group)
    refused = [
        await g.node.get(url),
        await g.node.get(url, headers={"Authorization": f"Bearer {g.bo.token}"}),
        await _signed(g.peer, url, zed),
    ]
    for status, body in refused:
        assert status == 404, (status, body)  # as for a proposal that does not exist
        assert "Question" not in str(body)
        assert "BallotRecord" not in str(body)
    assert (await g.node.get(f"{g.board}/proposals/999{part}"))[0] == 404
    # Members read it: ana with her token, kim with a request her server signs.
    for status, body in (
            await g.node.get(url, headers={"Authorization": f"Bearer {g.ana.token}"}),
            await _signed(g.peer, url, g.kim)):
        assert status == 200, (status, body)
        assert body["id"].split("?")[0] == url.split("?")[0]
    # A wrong signature is not anonymity: it is refused as such.
    status, _ = await _signed(g.peer, url, g.kim, break_it=True)
    assert status == 401


async def _signed(peer: Peer, url: str, actor: RemoteActor, *, break_it: bool = False
                  ) -> tuple[int, Any]:
    reply = await peer.signed_get(url, actor=actor,
                                  mutate=bad_signature_bytes if break_it else None)
    return reply.status, reply.body
