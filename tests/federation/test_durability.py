"""Deliveries survive a peer being down and the sender being killed mid-delivery."""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.support.nodes import Cluster, Member, eventually

pytestmark = pytest.mark.federation


async def _arrived(member: Member) -> set[str]:
    return {i["object"]["id"] for i in await member.inbox()
            if i["type"] == "Create" and isinstance(i.get("object"), dict)}


async def _follow(follower: Member, followee: Member) -> None:
    await follower.post({"type": "Follow", "object": followee.actor_id})

    async def accepted() -> bool:
        return followee.actor_id in await follower.node.collection(
            f"{follower.actor_id}/following")

    await eventually(accepted)


async def test_post_reaches_a_node_that_was_down_when_it_was_sent(cluster: Cluster) -> None:
    b = await cluster.node("b")
    c = await cluster.node("c")
    bo, cy = b.member("bo"), c.member("cy")
    await _follow(cy, bo)

    c.stop()
    create = await bo.post({"type": "Note", "content": "Posted while C was down"})
    await asyncio.sleep(1.5)  # several delivery attempts fail meanwhile
    assert await b.collection(f"{bo.actor_id}/followers") == [cy.actor_id]

    await c.start()  # same port, same data; nobody touches B
    arrived = await eventually(lambda: _arrived(cy), within=20)
    assert create["object"]["id"] in arrived


async def test_sigkill_during_delivery_loses_nothing(cluster: Cluster) -> None:
    # One delivery at a time, so that the kill lands in the middle of the fan-out.
    b = await cluster.node("b", env={"MUTUAL_DELIVERY_PER_HOST_CONCURRENCY": "1",
                                     "MUTUAL_DELIVERY_CONCURRENCY": "1"})
    c = await cluster.node("c")
    bo, cy = b.member("bo"), c.member("cy")
    await _follow(cy, bo)

    c.stop()
    sent = [(await bo.post({"type": "Note", "content": f"post {n}"}))["object"]["id"]
            for n in range(60)]
    await c.start()

    async def some_arrived() -> set[str] | None:
        got = await _arrived(cy)
        return got if got else None

    await eventually(some_arrived, within=20)
    b.stop(signal.SIGKILL)
    at_kill = await _arrived(cy)

    await b.start()
    async def all_arrived() -> bool:
        return await _arrived(cy) >= set(sent)

    await eventually(all_arrived, within=40)
    items = [i["object"]["id"] for i in await cy.inbox() if i["type"] == "Create"]
    assert sorted(items) == sorted(set(items)), "a post was stored twice"
    assert set(items) == set(sent)
    # The kill landed mid-delivery: something was still queued when B died.
    assert len(at_kill) < len(sent)
