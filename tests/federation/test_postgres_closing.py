"""A proposal closes exactly once when three worker processes race for its closing job
(DESIGN §4: the queue is in PostgreSQL, claimed ``FOR UPDATE SKIP LOCKED``).

Node A keeps its data in PostgreSQL and runs one ``--role web`` process and three
``--role worker`` processes; its group has members on A, on sqlite nodes B and C, and
on a peer that counts every POST it receives. The closing job is queued when the
proposal opens and becomes due at its ``endTime``, when all three workers poll the
same table. Whichever takes it, there must be one result: one closed Question, one
Update and one announcement from the group, each delivered once to each follower
host, and a ledger that audits clean.
"""

from __future__ import annotations

import asyncio
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
from tests.support.metrics import metric
from tests.support.nodes import Cluster, Member, eventually
from tests.support.peer import Peer, Received
from tests.support.postgres import PgServer, fresh_database
from tests.support.voting import ledger_size, wait_closed

pytestmark = [pytest.mark.federation, pytest.mark.postgres]

WORKERS = 3
OPTIONS = ["Agree", "Disagree"]
# Time for the proposal to reach B and C and for four ballots to come back, with room
# for a loaded machine; the close itself is what the test is about.
OPEN_SECONDS = 12


def _closing_update(item: dict[str, Any], proposal: str) -> bool:
    obj = item.get("object")
    return (item.get("type") == "Update" and isinstance(obj, dict)
            and obj.get("id") == proposal and bool(obj.get("closed")))


def _announcement(item: dict[str, Any], proposal: str) -> bool:
    obj = item.get("object")
    return (item.get("type") == "Create" and isinstance(obj, dict)
            and obj.get("type") == "Note" and obj.get("inReplyTo") == proposal)


def _posts(peer: Peer, proposal: str) -> tuple[list[Received], list[Received]]:
    """The closing Updates and the announcements the peer received, repeats kept."""
    updates = [r for r in peer.received if _closing_update(r.json, proposal)]
    notes = [r for r in peer.received if _announcement(r.json, proposal)]
    return updates, notes


async def test_three_workers_close_a_proposal_exactly_once(
        cluster: Cluster, pg_server: PgServer) -> None:
    dsn = await fresh_database(pg_server, migrated=True)
    # INFO: each process logs the proposals it closes (node/governance/closing.py).
    a = await cluster.node("a", role="web", database=dsn, env={"MUTUAL_LOG_LEVEL": "INFO"})
    workers = list(await asyncio.gather(*(cluster.worker(a) for _ in range(WORKERS))))
    b, c = await asyncio.gather(cluster.node("b"), cluster.node("c"))
    ana, bo, cy = await asyncio.gather(*(asyncio.to_thread(node.member, name) for node, name
                                         in ((a, "ana"), (b, "bo"), (c, "cy"))))
    group_id = await asyncio.to_thread(a.cli, "group", "create", "garden", "--owner", "ana")
    async with Peer() as peer:
        mia = peer.actor("mia")  # a Mastodon user
        await join(bo, group_id, a)
        await join(cy, group_id, a)
        await join_from_peer(peer, mia, group_id, a)

        await ana.post({"type": "Question", "name": "Share the tool shed?",
                        "oneOf": [{"type": "Note", "name": n} for n in OPTIONS],
                        "endTime": iso_in(OPEN_SECONDS), "decisionRule": "majority",
                        "to": [group_id], "audience": group_id})
        questions = [await eventually(lambda m=m: proposal_in_inbox(m)) for m in (bo, cy)]
        proposal = questions[0]["id"]
        for member, choice in ((ana, "Agree"), (bo, "Agree"), (cy, "Disagree")):
            await member.post({"type": "Note", "name": choice, "inReplyTo": proposal})
        reply = await peer.signed_post(f"{group_id}/inbox",
                                       mastodon_vote(mia, proposal, group_id, "Agree"),
                                       actor=mia)
        assert reply.status == 202, reply

        async def all_counted() -> bool:
            return await ledger_size(a, proposal) == 4

        await eventually(all_counted)

        closed = await wait_closed(a, proposal, within=40)
        result = closed["result"]
        assert (result["outcome"], result["turnout"], result["ledgerSize"]) == ("adopted", 4, 4)

        async def delivered(member: Member) -> bool:
            question = await proposal_in_inbox(member)
            return bool(question and question.get("closed"))

        for member in (bo, cy):
            await eventually(lambda m=member: delivered(m), within=30)
        await peer.wait_for(lambda r: _closing_update(r.json, proposal), within=30)
        await peer.wait_for(lambda r: _announcement(r.json, proposal), within=30)

        async def queue_empty() -> bool:
            return all([await metric(workers[0], "mutual_queue_jobs", kind=kind,
                                     state="queued") == 0
                        for kind in ("deliver", "close_proposal")])

        await eventually(queue_empty, within=30)

        # One close, by one of the three (all still running): one log line, the ledger
        # as it was, one closing Update and one announcement in the group's outbox...
        assert all(w.process is not None and w.process.poll() is None for w in workers)
        _, again = await a.get(proposal)
        assert again["result"] == result
        assert await ledger_size(a, proposal) == 4
        outbox = await a.collection(f"{group_id}/outbox")
        assert sum(_closing_update(i, proposal) for i in outbox) == 1, outbox
        assert sum(_announcement(i, proposal) for i in outbox) == 1, outbox
        log = "".join(p.read_text(errors="replace") for p in cluster.root.glob("a-*.log"))
        assert log.count(f"closed {proposal}:") == 1, log[-3000:]
        # ...delivered once to each follower host: the peer counts POSTs, B and C
        # refuse a repeat as a duplicate, and saw none.
        updates, notes = _posts(peer, proposal)
        assert (len(updates), len(notes)) == (1, 1), (updates, notes)
        assert updates[0].json["object"]["result"] == result
        for node in (b, c):
            assert await metric(node, "mutual_inbox_accepted_total",
                                result="duplicate") == 0, node.name

    outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout
    assert "1 origin-attested" in outcome.stdout
    assert "3 voter-signed" in outcome.stdout
