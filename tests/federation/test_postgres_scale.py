"""A node spread over processes on PostgreSQL fans out FANOUT deliveries, and a worker
SIGKILLed mid-run loses none of them (DESIGN §4, docs/deploy.md §5).

Node A keeps its data in PostgreSQL and runs as four real processes: two ``--role
web`` behind a round-robin proxy (its public URL, tests/support/proxy.py) and two
``--role worker``. Nodes B and C are ordinary sqlite nodes. A's members post direct
notes, each addressed to PER_POST actors' own inboxes: members of B and of C, and
actors of a counting peer that have no shared inbox. A direct note goes to each
addressee's personal inbox (node/outbox.py), so POSTS notes are FANOUT deliveries
without FANOUT posts. The web processes queue them all first; then both workers start
draining, and one is SIGKILLed once both have delivered some.

What "exactly once" can mean with at-least-once delivery: every delivery arrives, and
the receivers store every activity exactly once. The killed worker's jobs come back
one lease later (node/leases.py); one it had already sent but not yet marked done is
sent again, and shows up only as a raw POST that the receiver refuses as a duplicate,
never as a second row. So raw POSTs are counted where they can be (every POST at the
peer, by inbox and activity; B's and C's inbox counters ``stored`` and ``duplicate``)
and the repeats are bounded by what the killed worker could have had on the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections import Counter

import pytest

from tests.support.metrics import metric
from tests.support.nodes import Cluster, Member, MutualNode, eventually
from tests.support.peer import Peer
from tests.support.postgres import PgServer, fresh_database
from tests.support.proxy import RoundRobinProxy

pytestmark = [pytest.mark.federation, pytest.mark.postgres, pytest.mark.slow]

FANOUT = 2_000  # deliveries in total
ON_B, ON_C, ON_PEER = 4, 4, 12  # addressees of every note, each on its own inbox
PER_POST = ON_B + ON_C + ON_PEER
POSTS = FANOUT // PER_POST
PER_HOST = 4  # a worker's per-host concurrency: what it can have on the wire per host
# Repeats the kill may cause: the killed worker's sends in flight, per receiving host.
MAX_REPEATS = PER_HOST * 3
ENV = {"MUTUAL_DELIVERY_PER_HOST_CONCURRENCY": str(PER_HOST)}
assert POSTS * PER_POST == FANOUT


async def _creates(member: Member) -> list[str]:
    """Ids of the Create activities in ``member``'s inbox, repeats kept."""
    return [i["id"] for i in await member.inbox() if i["type"] == "Create"]


async def _accepted(node: MutualNode) -> Counter[str]:
    """The inbox POSTs ``node`` accepted, by result: ``stored`` or ``duplicate``."""
    return Counter({r: int(await metric(node, "mutual_inbox_accepted_total", result=r))
                    for r in ("stored", "duplicate")})


async def _members(node: MutualNode, prefix: str, count: int) -> list[Member]:
    """Created one after another (each is two CLI runs on the node's database), in a
    thread, so that the proxy and the peer in this loop keep answering."""
    return await asyncio.to_thread(lambda: [node.member(f"{prefix}{n}") for n in range(count)])


async def test_fanout_survives_a_sigkilled_worker_and_every_delivery_lands_once(
        cluster: Cluster, pg_server: PgServer) -> None:
    dsn = await fresh_database(pg_server, migrated=True)
    async with RoundRobinProxy() as proxy, Peer() as peer:
        a = MutualNode(name="a", root=cluster.root, session=cluster.session,
                       port=proxy.port, env=ENV, database=dsn)
        await asyncio.to_thread(a.init)
        webs = list(await asyncio.gather(cluster.web(a), cluster.web(a)))
        proxy.backends.extend(w.url for w in webs)
        b, c = await asyncio.gather(cluster.node("b", env=ENV), cluster.node("c", env=ENV))
        authors, on_b, on_c = await asyncio.gather(
            _members(a, "author", 2), _members(b, "bo", ON_B), _members(c, "cy", ON_C))
        others = [peer.actor(f"p{n}", endpoints={}) for n in range(ON_PEER)]  # no shared inbox
        to = [m.actor_id for m in (*on_b, *on_c)] + [p.id for p in others]

        # The web processes queue every delivery; no worker runs yet.
        turns = asyncio.Semaphore(4)

        async def post(n: int, author: Member) -> str:
            async with turns:
                done = await author.post({"type": "Note", "content": f"note {n}", "to": to})
                return str(done["id"])

        sent = list(await asyncio.gather(*(post(n, author) for n, author in
                                           zip(range(POSTS), itertools.cycle(authors)))))
        assert len(set(sent)) == POSTS
        assert min(proxy.served.values()) >= POSTS // 3, proxy.served  # both web processes
        assert await metric(webs[0], "mutual_queue_jobs", kind="deliver",
                            state="queued") == FANOUT

        # Two workers drain the queue; one dies once both are at it.
        doomed, survivor = await asyncio.gather(cluster.worker(a), cluster.worker(a))

        async def both_delivering() -> bool:
            return all([await metric(w, "mutual_deliveries_total", outcome="ok") >= 50
                        for w in (doomed, survivor)])

        await eventually(both_delivering, within=30, interval=0.05)
        doomed.stop(signal.SIGKILL)
        at_kill = len(peer.received) + sum(
            [sum((await _accepted(n)).values()) for n in (b, c)])
        assert at_kill < FANOUT, "the kill came after the fan-out had ended"
        by_survivor = await metric(survivor, "mutual_deliveries_total", outcome="ok")
        expected = {(f"/users/{p.id.rsplit('/', 1)[1]}/inbox", activity)
                    for p in others for activity in sent}

        async def drained() -> bool:
            arrived = {(r.path, r.json["id"]) for r in list(peer.received)}
            queued = await metric(survivor, "mutual_queue_jobs", kind="deliver",
                                  state="queued")
            return arrived >= expected and queued == 0

        await eventually(drained, within=60, interval=0.25)

        # Every delivery arrived; repeats only where the kill could have caused them.
        repeats = Counter[str]()
        at_peer = Counter((r.path, r.json["id"]) for r in peer.received)
        assert set(at_peer) == expected
        repeats["peer"] = sum(at_peer.values()) - len(expected)
        for node, addressees in ((b, on_b), (c, on_c)):
            counts = await _accepted(node)
            assert counts["stored"] == POSTS, (node.name, counts)  # one row per activity
            raw = counts["stored"] + counts["duplicate"]
            assert raw >= POSTS * len(addressees), (node.name, counts)
            repeats[node.name] = raw - POSTS * len(addressees)
            for member in addressees:  # in each addressee's inbox, each exactly once
                creates = await _creates(member)
                assert sorted(creates) == sorted(sent), member.acct
        assert sum(repeats.values()) <= MAX_REPEATS, repeats

        # The survivor took over the dead worker's leases; nothing was given up.
        assert await metric(survivor, "mutual_deliveries_total", outcome="ok") > by_survivor
        assert await metric(survivor, "mutual_queue_jobs", kind="deliver", state="dead") == 0
        assert await metric(survivor, "mutual_deliveries_total", outcome="buried") == 0
