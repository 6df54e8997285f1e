"""SIGKILL in the middle of work: while the inbox takes a burst of activities, and while
a proposal is being closed.

Real node processes killed with ``kill -9`` and started again on the same data folder;
a Peer plays the remote servers. What must hold afterwards: an activity answered 2xx is
stored exactly once, one never answered can be sent again and is then stored exactly
once (the inbox dedupes by id); a proposal closes exactly once — one result, one
announcement, its binding action carried out once — and audits clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
import uuid
from collections import Counter
from contextlib import closing
from typing import Any

import aiohttp
import pytest

from node.governance.common import CLOSE
from tests.federation.test_decisions import audit, iso_in, join_from_peer, mastodon_vote
from tests.federation.test_governance_actions import question_named
from tests.support.nodes import Cluster, Member, MutualNode, eventually
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor, Reply, key_for

pytestmark = pytest.mark.federation

# Short leases: a killed process's jobs come back within a second and a half.
FAST = {"MUTUAL_DELIVERY_LEASE_SECONDS": "1.5"}


# -- SIGKILL during inbox processing ----------------------------------------------------


def note(sender: RemoteActor, to: str, n: int) -> dict[str, Any]:
    note_id = f"{sender.id}/statuses/{n}-{uuid.uuid4().hex[:8]}"
    return {"@context": AS_CONTEXT, "id": f"{note_id}/activity", "type": "Create",
            "actor": sender.id, "to": [to],
            "object": {"id": note_id, "type": "Note", "attributedTo": sender.id, "to": [to],
                       "content": f"<p>burst {n}</p>"}}


async def stored(member: Member) -> Counter[str]:
    """How many times each activity id is in the member's inbox."""
    return Counter(item["id"] for item in await member.inbox())


async def test_sigkill_during_inbox_processing_keeps_what_was_acknowledged(
        cluster: Cluster) -> None:
    node = await cluster.node("a", env=FAST)
    ana = node.member("ana")
    inbox = f"{ana.actor_id}/inbox"
    async with Peer() as peer:
        senders = [peer.actor(f"burst-{n}", key=key_for("burst")) for n in range(4)]
        activities = [(senders[n % 4], note(senders[n % 4], ana.actor_id, n))
                      for n in range(160)]
        answers: dict[str, Reply | None] = {}
        in_flight = asyncio.Semaphore(16)

        async def send(sender: RemoteActor, activity: dict[str, Any]) -> None:
            async with in_flight:
                try:
                    answers[activity["id"]] = await peer.signed_post(inbox, activity,
                                                                     actor=sender)
                except (aiohttp.ClientError, TimeoutError):
                    answers[activity["id"]] = None  # no answer: the node died

        async def forty_acknowledged() -> bool:
            return sum(1 for r in answers.values() if r is not None and r.status == 202) >= 40

        async def kill_midway() -> None:
            await eventually(forty_acknowledged, interval=0.01)
            node.stop(signal.SIGKILL)

        await asyncio.gather(kill_midway(), *(send(s, a) for s, a in activities))
        acknowledged = {i for i, r in answers.items() if r is not None and r.status == 202}
        unanswered = [(s, a) for s, a in activities if a["id"] not in acknowledged]
        assert 40 <= len(acknowledged) < len(activities), "the kill landed mid-burst"
        assert all(r is None or r.status == 202 for r in answers.values()), answers

        await node.start()
        counts = await stored(ana)
        for activity_id in acknowledged:
            assert counts[activity_id] == 1, activity_id  # acknowledged: kept, once
        # The peer sends again what got no answer, and, to be sure, the rest too.
        for sender, activity in [*unanswered, *activities[:10]]:
            reply = await peer.signed_post(inbox, activity, actor=sender)
            assert reply.status == 202, reply
            if activity["id"] in acknowledged:
                assert reply.body == {"status": "duplicate"}
        counts = await stored(ana)
        assert {i: counts[a["id"]] for i, (_, a) in enumerate(activities)} == {
            i: 1 for i in range(len(activities))}


# -- SIGKILL during a proposal's close ----------------------------------------------------


def _sql(node: MutualNode, statement: str, *args: object) -> list[tuple[Any, ...]]:
    """One statement on the node's database, from outside the node (WAL: it may run)."""
    with closing(sqlite3.connect(node.data / "mutual.db", timeout=30)) as conn, conn:
        return list(conn.execute(statement, args).fetchall())


def distinct(peer: Peer, kind: str, key: str, value: str) -> set[str]:
    """Ids of the activities of ``kind`` whose object's ``key`` is ``value`` that the
    peer received (delivery is at-least-once: ids are what is counted)."""
    found = set()
    for item in peer.received:
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            doc = item.json
            if doc["type"] == kind and doc["object"].get(key) == value:
                found.add(doc["id"])
    return found


async def test_sigkill_during_a_proposals_close_closes_it_exactly_once(
        cluster: Cluster) -> None:
    node = await cluster.node("a", env=FAST)
    ana = node.member("ana")
    garden = node.cli("group", "create", "garden", "--owner", "ana")
    async with Peer() as peer:
        mia, gus = peer.actor("mia"), peer.actor("gus")
        for actor in (mia, gus):
            await join_from_peer(peer, actor, garden, node)
        # gus's actor document is a day old: the close, which tells gus he was removed,
        # fetches it again, and the test holds that fetch to kill the node mid-close.
        node.stop(signal.SIGKILL)
        _sql(node, "UPDATE actors SET fetched_at=0 WHERE id=?", gus.id)
        await node.start()
        await ana.post({"type": "Question", "name": "Remove gus?", "endTime": iso_in(3),
                        "oneOf": [{"type": "Note", "name": n} for n in ("Agree", "Disagree")],
                        "action": {"type": "RemoveMember", "object": gus.id},
                        "to": [garden], "audience": garden})
        proposal = (await eventually(lambda: question_named(ana, "Remove gus?")))["id"]
        await ana.post({"type": "Note", "name": "Agree", "inReplyTo": proposal})
        reply = await peer.signed_post(f"{garden}/inbox",
                                       mastodon_vote(mia, proposal, garden, "Agree"), actor=mia)
        assert reply.status == 202, reply
        gate = peer.hold(gus.id)
        fetches = peer.fetched.count("/users/gus")
        await eventually(lambda: _fetched_again(peer, fetches), within=20, interval=0.02)
        node.stop(signal.SIGKILL)  # closing: tallied, signed, not yet committed
        assert _sql(node, "SELECT state FROM proposals WHERE id=?", proposal) == [("open",)]
        gate.set()

        await node.start()
        closed = await _closed(node, proposal)
        await peer.wait_for(lambda r: r.json["type"] == "Reject", within=20)
        await _once_each(node, peer, proposal, gus)
        assert gus.id not in await node.collection(f"{garden}/followers")

        # The other window: the close committed, the process died before it removed
        # the job. The same state as after such a kill: the job back, its lease run out.
        node.stop(signal.SIGKILL)
        _sql(node, "INSERT INTO jobs (kind, payload, host, run_at, locked_until, attempts,"
                   " created_at, dedupe_key) VALUES (?,?,NULL,?,?,1,?,?)",
             CLOSE, f'{{"proposal": "{proposal}"}}', time.time() - 5, time.time() - 1,
             time.time() - 5, f"close:{proposal}")
        await node.start()

        async def job_done() -> bool:
            return not _sql(node, "SELECT 1 FROM jobs WHERE kind=?", CLOSE)

        await eventually(job_done, within=20)
        await asyncio.sleep(0.5)  # anything the job would have sent has had its turn
        _, again = await node.get(proposal)
        assert again["result"] == closed["result"]
        await _once_each(node, peer, proposal, gus)
    outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout


async def _fetched_again(peer: Peer, before: int) -> bool:
    return peer.fetched.count("/users/gus") > before


async def _closed(node: MutualNode, proposal: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        status, doc = await node.get(proposal)
        return doc if status == 200 and doc.get("closed") else None

    result: dict[str, Any] = await eventually(check, within=30)
    assert result["result"]["outcome"] == "adopted"
    return result


async def _once_each(node: MutualNode, peer: Peer, proposal: str, gus: RemoteActor) -> None:
    """One closing Update, one announcement and one Reject of gus, whatever was sent
    twice (delivery is at-least-once, so ids are what is counted)."""
    rows = _sql(node, "SELECT state, result IS NOT NULL FROM proposals WHERE id=?", proposal)
    assert rows == [("closed", 1)]
    closing_updates = {i for i in distinct(peer, "Update", "id", proposal)
                       if _closing(peer, i)}
    assert len(closing_updates) == 1, closing_updates
    assert len(distinct(peer, "Create", "inReplyTo", proposal)) == 1  # the announcement
    assert len(distinct(peer, "Reject", "actor", gus.id)) == 1
    notes = _sql(node, "SELECT COUNT(*) FROM objects WHERE in_reply_to=? AND attributed_to"
                       " LIKE '%/groups/garden'", proposal)
    assert notes == [(1,)]


def _closing(peer: Peer, activity_id: str) -> bool:
    for item in peer.received:
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            if item.json["id"] == activity_id:
                return item.json["object"].get("closed") is not None
    return False
