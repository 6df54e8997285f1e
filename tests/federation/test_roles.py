"""A node split into processes (``mutual serve --role web|worker``, DESIGN §4), on the
sqlite engine: a web process and a worker process on one data folder (WAL lets several
processes share the database).

The web process serves HTTP and runs no worker: what it queues waits in the database.
The worker process serves no public route, claims those jobs and delivers them.
"""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.nodes import Cluster, Member, MutualNode, eventually

pytestmark = pytest.mark.federation


async def _metric(node: MutualNode, name: str, **labels: str) -> float:
    status, text = await node.get(f"{node.url}/metrics", headers={"Accept": "text/plain"})
    assert status == 200, (status, text)
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return float(item.value)
    return 0.0


async def _following(member: Member) -> list[str]:
    return await member.node.collection(f"{member.actor_id}/following")


async def _arrived(member: Member) -> set[str]:
    return {i["object"]["id"] for i in await member.inbox()
            if i["type"] == "Create" and isinstance(i.get("object"), dict)}


async def test_web_process_alone_queues_and_a_worker_process_delivers(
        cluster: Cluster) -> None:
    b = await cluster.node("b", role="web")
    c = await cluster.node("c")
    bo, cy = b.member("bo"), c.member("cy")
    status, health = await b.get(f"{b.url}/healthz")
    assert (status, health["role"]) == (200, "web")

    # cy follows bo: C delivers the Follow; B accepts it, and queues the Accept...
    await cy.post({"type": "Follow", "object": bo.actor_id})
    await eventually(lambda: b.collection(f"{bo.actor_id}/followers"))
    # Addressed to cy, so it is cy's whichever of it and the Accept C gets first.
    create = await bo.post({"type": "Note", "content": "Written through the web process",
                            "to": [cy.actor_id]})

    async def queued() -> bool:
        return await _metric(b, "mutual_queue_jobs", kind="deliver", state="queued") >= 2

    await eventually(queued)
    # ...which nobody sends: many worker polls later, still nothing has left B.
    await asyncio.sleep(2.0)
    assert await _following(cy) == []
    assert create["object"]["id"] not in await _arrived(cy)
    assert await _metric(b, "mutual_queue_jobs", kind="deliver", state="queued") >= 2
    assert await _metric(b, "mutual_queue_oldest_due_seconds", kind="deliver") >= 1.0
    assert await _metric(b, "mutual_deliveries_total", outcome="ok") == 0

    # A worker process on B's data folder takes the queue over and delivers it all.
    worker = await cluster.worker(b)
    status, health = await worker.get(f"{worker.url}/healthz")
    assert (status, health["role"]) == (200, "worker")
    status, _ = await worker.get(f"{worker.url}/.well-known/nodeinfo")
    assert status == 404, "a worker serves no public route"

    await eventually(lambda: _following(cy), within=20)
    assert await _following(cy) == [bo.actor_id]
    arrived = await eventually(lambda: _arrived(cy), within=20)
    assert create["object"]["id"] in arrived

    async def drained() -> bool:
        return await _metric(b, "mutual_queue_jobs", kind="deliver", state="queued") == 0

    await eventually(drained)
    assert await _metric(worker, "mutual_deliveries_total", outcome="ok") >= 2
    assert await _metric(b, "mutual_deliveries_total", outcome="ok") == 0

    # A post made now, through the web process, goes out through the worker too.
    later = await bo.post({"type": "Note", "content": "And this one"})

    async def later_arrived() -> bool:
        return later["object"]["id"] in await _arrived(cy)

    await eventually(later_arrived, within=20)


async def test_two_worker_processes_deliver_each_post_once(cluster: Cluster) -> None:
    b = await cluster.node("b", role="web")
    c = await cluster.node("c")
    bo, cy = b.member("bo"), c.member("cy")
    first, second = await cluster.worker(b), await cluster.worker(b)
    await cy.post({"type": "Follow", "object": bo.actor_id})
    await eventually(lambda: _following(cy), within=20)
    sent = [(await bo.post({"type": "Note", "content": f"post {n}"}))["object"]["id"]
            for n in range(20)]

    async def all_arrived() -> bool:
        return await _arrived(cy) >= set(sent)

    await eventually(all_arrived, within=30)
    delivered = [await _metric(w, "mutual_deliveries_total", outcome="ok")
                 for w in (first, second)]
    # 20 posts and the Accept, each sent by exactly one of the two workers.
    assert sum(delivered) == len(sent) + 1, delivered
