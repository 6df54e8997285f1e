"""Decisions end to end: every refused ballot, replacement, multiple choice, a restart.

One Mutual node holds the group; a Peer plays the voters' servers (Mastodon,
GoToSocial and Mutual shapes), so each test needs a single node process. Proposals
close a few seconds after they open.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.federation.test_decisions import (
    audit,
    iso_in,
    join,
    join_from_peer,
    mastodon_vote,
    proposal_in_inbox,
)
from tests.support.nodes import Cluster, Member, MutualNode, eventually
from tests.support.peer import Peer, Reply, bad_signature_bytes
from tests.support.voting import (
    SigningVoter,
    gotosocial_vote,
    ledger_size,
    signed_vote,
    signing_voter,
    wait_closed,
)

pytestmark = pytest.mark.federation

OPTIONS = ["Agree", "Abstain", "Disagree"]


@dataclass
class Garden:
    """A group on node ``a`` whose members are ana (local) and three remote voters."""

    node: MutualNode
    peer: Peer
    ana: Member
    group: str
    noa: SigningVoter  # votes the Mutual way, with a proof by her own key

    async def propose(self, seconds: float, **terms: Any) -> str:
        question = {"type": "Question", "name": "Plant an orchard?", "endTime": iso_in(seconds),
                    "to": [self.group], "audience": self.group, **terms}
        question.setdefault("oneOf", [{"type": "Note", "name": n} for n in OPTIONS])
        await self.ana.post(question)

        async def opened() -> str | None:
            found = await proposal_in_inbox(self.ana)
            return found["id"] if found else None

        proposal: str = await eventually(opened)
        return proposal

    async def send(self, activity: dict[str, Any], name: str, **how: Any) -> Reply:
        actor = self.peer.actor(name) if name != "noa" else self.noa.actor
        return await self.peer.signed_post(f"{self.group}/inbox", activity, actor=actor,
                                           **how)


async def garden(cluster: Cluster, peer: Peer) -> Garden:
    a = await cluster.node("a", env={"MUTUAL_LOG_LEVEL": "INFO"})
    ana = a.member("ana")
    group = a.cli("group", "create", "garden", "--owner", "ana")
    noa = signing_voter(peer, "noa")
    for name in ("mia", "gus"):
        await join_from_peer(peer, peer.actor(name), group, a)
    await join_from_peer(peer, noa.actor, group, a)
    return Garden(node=a, peer=peer, ana=ana, group=group, noa=noa)


def tally(question: dict[str, Any]) -> dict[str, int]:
    return {t["name"]: t["count"] for t in question["result"]["tally"]}


async def test_every_refused_ballot_leaves_ledger_and_result_unchanged(
        cluster: Cluster) -> None:
    async with Peer() as peer:
        g = await garden(cluster, peer)
        proposal = await g.propose(5, decisionRule="majority")
        mia, gus, zed = peer.actor("mia"), peer.actor("gus"), peer.actor("zed")
        accepted = [
            await g.send(mastodon_vote(mia, proposal, g.group, "Agree", 1), "mia"),
            await g.send(mastodon_vote(mia, proposal, g.group, "Disagree", 2), "mia"),
            await g.send(signed_vote(g.noa, proposal, g.group, "Agree"), "noa"),
            await g.send(gotosocial_vote(gus, proposal, g.group, ["Agree"]), "gus"),
        ]
        assert [r.status for r in accepted] == [202] * 4, accepted
        await g.ana.post({"type": "Note", "name": "Agree", "inReplyTo": proposal})
        assert await ledger_size(g.node, proposal) == 5

        leo = peer.actor("leo")
        await join_from_peer(peer, leo, g.group, g.node)  # joins after the proposal opened
        other_key = signing_voter(peer, "eve").key
        refusals: list[tuple[dict[str, Any], str, dict[str, Any], int, str]] = [
            (mastodon_vote(zed, proposal, g.group, "Agree"), "zed", {}, 403,
             "not-in-electorate"),
            (mastodon_vote(leo, proposal, g.group, "Agree"), "leo", {}, 403,
             "not-in-electorate"),
            (mastodon_vote(mia, proposal, g.group, "Maybe", 3), "mia", {}, 422,
             "unknown-option"),
            (gotosocial_vote(gus, proposal, g.group, ["Agree", "Disagree"], 2), "gus", {},
             422, "several-options"),
            (signed_vote(g.noa, proposal, g.group, "Disagree", 2, key=other_key), "noa", {},
             401, "forged-proof"),
            (signed_vote(g.noa, proposal, g.group, "Disagree", 3,
                         method=f"{peer.url}/users/eve#ed25519-key", key=other_key), "noa",
             {}, 401, "signer-not-voter"),
            (_attributed_to(mastodon_vote(mia, proposal, g.group, "Disagree", 4),
                            g.noa.actor.id), "mia", {}, 403, "ballot-not-voters"),
            (mastodon_vote(mia, proposal, g.group, "Agree", 5), "mia",
             {"scheme": "none"}, 401, "signature-missing"),
            (mastodon_vote(mia, proposal, g.group, "Agree", 6), "mia",
             {"mutate": bad_signature_bytes}, 401, "signature-invalid"),
            (mastodon_vote(mia, proposal, g.group, "Agree", 7), "zed", {}, 401,
             "signer-not-actor"),
        ]
        for activity, sender, how, status, reason in refusals:
            reply = await g.send(activity, sender, **how)
            assert (reply.status, reply.reason) == (status, reason), (reason, reply)
            assert await ledger_size(g.node, proposal) == 5, reason

        question = await wait_closed(g.node, proposal)
        late = await g.send(mastodon_vote(mia, proposal, g.group, "Agree", 8), "mia")
        assert (late.status, late.reason) == (422, "vote-closed")
        assert await ledger_size(g.node, proposal) == 5

        # mia's second ballot replaced her first: counted once, with her later choice.
        result = question["result"]
        assert tally(question) == {"Agree": 3, "Abstain": 0, "Disagree": 1}
        assert (result["turnout"], result["electorateSize"], result["ledgerSize"]) == (4, 4, 5)
        assert result["outcome"] == "adopted"
        _, again = await g.node.get(proposal)
        assert again["result"] == result  # the late vote changed nothing
        # Refused ballots are logged with their reason (signature failures are refused
        # by the inbox before anyone knows they are ballots).
        log = (cluster.root / "a.log").read_text().splitlines()
        logged = [line.rsplit(": ", 1)[1] for line in log if "refused ballot" in line]
        assert sorted(logged) == sorted(["not-in-electorate", "not-in-electorate",
                                         "unknown-option", "several-options", "forged-proof",
                                         "signer-not-voter", "ballot-not-voters",
                                         "vote-closed"])
        outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout


async def test_proposals_opened_at_the_same_moment_get_distinct_numbers(
        cluster: Cluster) -> None:
    # Regression: both took MAX(number)+1 before either committed; the second got 409.
    async with Peer() as peer:
        g = await garden(cluster, peer)
        titles = [f"Proposal {n}" for n in range(4)]
        await asyncio.gather(*(g.ana.post({
            "type": "Question", "name": title, "endTime": iso_in(60),
            "oneOf": [{"type": "Note", "name": n} for n in OPTIONS],
            "to": [g.group], "audience": g.group}) for title in titles))
        names = set()
        for number in range(1, 5):
            status, question = await g.node.get(f"{g.group}/proposals/{number}")
            assert status == 200, (number, question)
            names.add(question["name"])
        assert names == set(titles)


def _attributed_to(vote: dict[str, Any], someone: str) -> dict[str, Any]:
    vote["object"]["attributedTo"] = someone
    return vote


async def test_mastodon_multiple_choice_counts_every_option_for_one_voter(
        cluster: Cluster) -> None:
    async with Peer() as peer:
        g = await garden(cluster, peer)
        names = ["Apples", "Pears", "Plums"]
        proposal = await g.propose(4, decisionRule="approval",
                                   anyOf=[{"type": "Note", "name": n} for n in names])
        mia = peer.actor("mia")
        # Mastodon sends one Create per chosen option of a multiple-choice poll.
        for n, choice in enumerate(("Apples", "Pears"), start=1):
            reply = await g.send(mastodon_vote(mia, proposal, g.group, choice, n), "mia")
            assert reply.status == 202, reply
        reply = await g.send(gotosocial_vote(peer.actor("gus"), proposal, g.group,
                                             ["Pears", "Plums"]), "gus")
        assert reply.status == 202, reply
        question = await wait_closed(g.node, proposal)
        assert tally(question) == {"Apples": 1, "Pears": 2, "Plums": 1}
        assert question["result"]["turnout"] == 2
        assert question["votersCount"] == 2
        assert question["result"]["outcome"] == "adopted"
        assert question["result"]["winners"] == ["Pears"]
        outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr


async def test_restart_during_open_proposal_loses_no_ballot_and_closes_on_time(
        cluster: Cluster) -> None:
    async with Peer() as peer:
        g = await garden(cluster, peer)
        bo = g.node.member("bo")
        await join(bo, g.group, g.node)
        proposal = await g.propose(6, decisionRule="majority")
        _, opened = await g.node.get(proposal)
        mia, gus = peer.actor("mia"), peer.actor("gus")
        await g.ana.post({"type": "Note", "name": "Agree", "inReplyTo": proposal})
        reply = await g.send(mastodon_vote(mia, proposal, g.group, "Agree"), "mia")
        assert reply.status == 202, reply
        assert await ledger_size(g.node, proposal) == 2

        g.node.stop(signal.SIGKILL)
        await g.node.start()
        assert await ledger_size(g.node, proposal) == 2
        await bo.post({"type": "Note", "name": "Disagree", "inReplyTo": proposal})
        for reply in (await g.send(signed_vote(g.noa, proposal, g.group, "Agree"), "noa"),
                      await g.send(gotosocial_vote(gus, proposal, g.group, ["Abstain"]),
                                   "gus")):
            assert reply.status == 202, reply

        update = await peer.wait_for(lambda r: r.json["type"] == "Update"
                                     and r.json["object"]["id"] == proposal
                                     and r.json["object"].get("closed") is not None,
                                     within=30)
        arrived = time.time()
        question = update.json["object"]
        end = _epoch(opened["endTime"])
        assert _epoch(question["closed"]) - end <= 3, (question["closed"], opened["endTime"])
        assert arrived - end <= 5, "the result arrived late"
        assert tally(question) == {"Agree": 3, "Abstain": 1, "Disagree": 1}
        assert question["result"]["turnout"] == 5
        assert question["result"]["ledgerSize"] == 5
        outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout


def _epoch(stamp: str) -> float:
    from node.governance.common import parse_time

    moment = parse_time(stamp)
    assert moment is not None, stamp
    return moment
