"""The soak's decisions: proposals opened in the group while the mix runs, ballots of the
three shapes, and proposals closing on their own during the run.

A member proposes through C2S; the group on node ``a`` publishes the proposal as its own
Question numbered in order, which is how the soak learns its id (it opens one at a
time and matches the name). Votes come as Mutual ballots posted by members through
their own node (signed by the member's key, FEP-8b32), as stock-Mastodon votes
(HTTP-signed only) and as signed ballots from the peer's voters. Each voter votes once
per proposal, and only in the first part of its life, so that a ballot still in a
delivery queue cannot meet a proposal that has just closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from soak_traffic import Op, Traffic, label
from soak_world import GROUP_NODE, NODES, Ballot, Person, c2s

from tests.support.peer import AS_CONTEXT
from tests.support.voting import signed_vote

__all__ = ["OPTIONS", "Proposal", "Votes"]

OPTIONS = ("Agree", "Abstain", "Disagree")


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Proposal:
    number: int
    name: str
    end: float  # epoch seconds
    vote_until: float
    id: str | None = None
    ready_at: float = 0.0
    voted: set[str] = field(default_factory=set)


class Votes:
    def __init__(self, traffic: Traffic, *, duration: float) -> None:
        self.traffic = traffic
        self.duration = duration
        self.margin = max(8.0, 0.4 * duration)
        self.proposals: list[Proposal] = []
        self.last_found = 0
        self.failures: list[str] = []

    def _open(self) -> list[Proposal]:
        now = time.time()
        return [p for p in self.proposals if p.id is not None and now < p.vote_until]

    # -- ballots ----------------------------------------------------------------------

    def make(self, kind: str) -> Op | None:
        rng, world = self.traffic.rng, self.traffic.world
        proposals = self._open()
        if not proposals:
            return None
        proposal = rng.choice(proposals)
        if kind == "vote (Mutual ballot, C2S)":
            people = [p for p in world.group_people if p.actor_id not in proposal.voted]
            if not people:
                return None
            person = rng.choice(people)
            proposal.voted.add(person.actor_id)
            return self._c2s_vote(proposal, person, rng.choice(OPTIONS))
        if kind == "vote (Mastodon-shaped)":
            actors = [a for a in world.voters if a.id not in proposal.voted]
            if not actors:
                return None
            actor = rng.choice(actors)
            proposal.voted.add(actor.id)
            n = next(self.traffic.counter)
            choice = rng.choice(OPTIONS)
            doc = mastodon_vote(actor.id, str(proposal.id), world.group, choice, n)
            return self._s2s_vote(proposal, actor, doc, choice)
        signers = [s for s in world.signers if s.actor.id not in proposal.voted]
        if not signers:
            return None
        signer = rng.choice(signers)
        proposal.voted.add(signer.actor.id)
        choice = rng.choice(OPTIONS)
        doc = signed_vote(signer, str(proposal.id), world.group, choice,
                          next(self.traffic.counter))
        return self._s2s_vote(proposal, signer.actor, doc, choice)

    def _c2s_vote(self, proposal: Proposal, person: Person, choice: str) -> Op:
        traffic = self.traffic
        doc = {"type": "Note", "name": choice, "inReplyTo": proposal.id}

        async def op() -> tuple[str, bool]:
            # The member's node must hold the proposal (it names the group to send to);
            # it may still be in the group's delivery queue: wait for it, boundedly.
            await asyncio.sleep(max(0.0, proposal.ready_at + 1.0 - time.time()))
            for _ in range(20):
                status, body = await c2s(traffic.world.session, person, doc)
                if status != 404:
                    break
                traffic.stats.retries += 1
                await asyncio.sleep(0.5)
            if status != 201:
                return str(status), False
            ballot = str(body["object"]["id"])
            traffic.expect.ballots[ballot] = Ballot(proposal=str(proposal.id),
                                                    voter=person.actor_id, choice=choice)
            traffic.expect.activity(str(body["id"]), {person.node, GROUP_NODE})
            return "201", True

        return op

    def _s2s_vote(self, proposal: Proposal, actor: Any, doc: dict[str, Any],
                  choice: str) -> Op:
        traffic = self.traffic

        async def op() -> tuple[str, bool]:
            sent: list[Any] = []
            reply = await traffic.world.peer.signed_post(
                f"{traffic.world.group}/inbox", doc, actor=actor, mutate=sent.append)
            answer = label(reply.status, reply.body)
            if answer != "202":
                return answer, False
            traffic.junk.remember(sent)
            traffic.expect.ballots[doc["object"]["id"]] = Ballot(
                proposal=str(proposal.id), voter=actor.id, choice=choice)
            traffic.expect.activity(doc["id"], {GROUP_NODE})
            return answer, True

        return op

    # -- proposals --------------------------------------------------------------------

    async def proposer(self, stop: asyncio.Event) -> None:
        """Keep about two proposals taking votes while the mix runs; bounded by ``stop``
        (set when the mix ends) and by one opening per half a proposal's duration."""
        last = -self.duration
        while not stop.is_set():
            voting = [p for p in self.proposals if time.time() < p.vote_until]
            if len(voting) < 2 and time.monotonic() - last >= self.duration / 2:
                last = time.monotonic()
                await self.traffic.stats.timed("propose (Question to the group)",
                                               self._propose, legit=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    async def _propose(self) -> tuple[str, bool]:
        traffic, world = self.traffic, self.traffic.world
        person = traffic.rng.choice(world.group_people)
        number = len(self.proposals) + 1
        end = time.time() + self.duration
        proposal = Proposal(number=number, name=f"Soak proposal {number}", end=end,
                            vote_until=end - self.margin)
        self.proposals.append(proposal)
        doc = {"type": "Question", "name": proposal.name,
               "content": "Shall the commons buy a shared cargo bike?",
               "oneOf": [{"type": "Note", "name": n} for n in OPTIONS], "endTime": iso(end),
               "decisionRule": "majority", "quorum": 0.25, "to": [world.group],
               "audience": world.group}
        status, body = await c2s(world.session, person, doc)
        if status != 201:
            return str(status), False
        traffic.expect.activity(str(body["id"]), {person.node, GROUP_NODE})
        found = await self._find(proposal)
        if found is None:
            self.failures.append(f"{proposal.name} was accepted but never opened")
            return "201 (never opened)", False
        proposal.id, proposal.ready_at = found, time.time()
        traffic.expect.proposals[found] = end
        traffic.expect.activity(f"{found}/create", NODES)  # the group's Create(Question)
        return "201", True

    async def _find(self, proposal: Proposal, within: float = 30.0) -> str | None:
        """The group's id for ``proposal``: the next numbers, matched by name."""
        node = self.traffic.world.nodes[GROUP_NODE]
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for number in range(self.last_found + 1, self.last_found + 4):
                url = f"{self.traffic.world.group}/proposals/{number}"
                status, doc = await node.get(url)
                if status == 200 and isinstance(doc, dict) and doc.get("name") == proposal.name:
                    self.last_found = number
                    return url
            await asyncio.sleep(0.2)
        return None


def mastodon_vote(actor: str, proposal: str, group: str, choice: str, n: int
                  ) -> dict[str, Any]:
    """Exactly what a stock Mastodon server sends for a poll vote: HTTP-signed only."""
    return {
        "@context": AS_CONTEXT, "id": f"{actor}#votes/{n}/activity", "type": "Create",
        "actor": actor, "published": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "to": group,
        "object": {"id": f"{actor}#votes/{n}", "type": "Note", "name": choice,
                   "attributedTo": actor, "inReplyTo": proposal, "to": group},
    }
