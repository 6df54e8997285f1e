"""Deliveries survive peers that are down for days, slow, failing or gone.

A real node store and ``Node`` in-process, a ``DeliveryWorker`` stepped with
``run_once``/``drain`` under a clock the test turns (``tests.support.faults``), and a
peer on loopback whose inbox answers as each test scripts it. A killed sender is
covered by tests/federation/test_durability.py.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from node.context import Node
from node.delivery import DeliveryWorker
from node.fetcher import Fetcher
from node.outbox import DELIVER, publish
from protocol.vocab import PUBLIC, host_of
from storage.records import EnqueueJob, PutActivity, PutFollow
from tests.support.faults import Clock, FaultyPeer, Wire, local_node

T0 = 1_900_000_000.0


class World:
    def __init__(self, node: Node, wire: Wire, peer: FaultyPeer, clock: Clock) -> None:
        self.node = node
        self.wire = wire
        self.peer = peer
        self.clock = clock
        self.worker = DeliveryWorker(node, now=clock)

    async def step(self, at: float) -> int:
        """Move the clock to ``at``, claim what is due and finish delivering it."""
        self.clock.t = at
        claimed = await self.worker.run_once()
        await self.worker.drain()
        return claimed

    async def enqueue(self, inbox: str, count: int = 1) -> list[str]:
        """``count`` activities by ana, each queued for ``inbox``; their ids."""
        ids = []
        for _ in range(count):
            activity_id = f"{self.node.config.url}/users/ana/activities/{uuid.uuid4().hex}"
            doc = {"id": activity_id, "type": "Like", "actor": f"{self.node.config.url}/users/ana",
                   "object": f"{self.peer.url}/notes/1", "to": [PUBLIC]}
            await self.node.store.apply([
                PutActivity(id=activity_id, type="Like", actor=doc["actor"],
                            object_id=doc["object"], local=True, visibility="public",
                            audience=(PUBLIC,), document=json.dumps(doc),
                            created_at=self.clock()),
                EnqueueJob(kind=DELIVER, host=host_of(inbox), run_at=self.clock(),
                           payload=json.dumps({"activity": activity_id, "inbox": inbox,
                                               "signer": "ana"})),
            ])
            ids.append(activity_id)
        return ids

    async def paused_until(self) -> float | None:
        state = await self.node.store.host_state(self.peer.host)
        return state.paused_until if state is not None else None

    async def is_gone(self, actor_id: str) -> bool:
        record = await self.node.store.get_actor(actor_id)
        assert record is not None, actor_id
        return record.gone

    def jobs(self) -> list[dict[str, Any]]:
        """The queue as stored, read through a separate connection."""
        path = self.node.config.database_path
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT id, state, run_at, attempts, last_error FROM jobs"
                                " WHERE kind=? ORDER BY id", (DELIVER,)).fetchall()
        return [dict(r) for r in rows]


@contextlib.asynccontextmanager
async def world_with(root: Path, **settings: Any) -> AsyncIterator[World]:
    """A node configured with ``settings``, a peer (down until ``up()``) and a clock."""
    settings.setdefault("delivery_timeout", 0.5)
    wire = Wire()
    peer = FaultyPeer()
    async with local_node(root, wire, **settings) as node:
        try:
            yield World(node, wire, peer, Clock(T0))
        finally:
            await peer.down()
    assert not wire.off_loopback, "a request tried to leave loopback"


async def test_down_peer_is_retried_on_the_schedule_then_buried_and_counted(
        tmp_path: Path) -> None:
    async with world_with(tmp_path, retry_schedule=[60.0, 300.0, 900.0],
                          pause_after_failures=1000) as world:
        await world.enqueue(f"{world.peer.url}/users/bo/inbox")
        run_ats = []
        at = T0
        for _ in range(3):
            assert await world.step(at) == 1
            (job,) = world.jobs()
            assert job["state"] == "queued"
            assert job["last_error"].startswith("network")
            assert await world.step(job["run_at"] - 1) == 0, "claimed before it was due"
            run_ats.append(job["run_at"])
            at = job["run_at"]
        assert run_ats == [T0 + 60, T0 + 360, T0 + 1260]
        state = await world.node.store.host_state(world.peer.host)
        assert state is not None
        assert (state.failures, state.paused_until) == (3, None)  # below the threshold
        assert await world.step(at) == 1  # the last attempt: the schedule is spent
        (job,) = world.jobs()
        assert (job["state"], job["attempts"]) == ("dead", 4)
        assert world.worker.buried == 1
        assert await world.node.store.count_jobs(DELIVER, "dead") == 1
        assert len(world.wire.requests) == 4
        assert await world.step(at + 10**6) == 0


async def test_long_outage_pauses_the_host_probes_with_one_job_then_delivers_all(
        tmp_path: Path) -> None:
    async with world_with(tmp_path, retry_schedule=[60.0] * 20, pause_after_failures=3,
                          pause_seconds=600.0) as world:
        sent = await world.enqueue(f"{world.peer.url}/inbox", 6)
        requests = world.wire.requests

        def spent() -> int:
            """Attempts charged to queued jobs: must equal the requests really made."""
            return sum(j["attempts"] for j in world.jobs())

        assert await world.step(T0) == 6
        assert len(requests) == 6 == spent()
        assert await world.paused_until() == T0 + 600

        # During the pause: due jobs are put back untried, at no cost to their schedule.
        assert await world.step(T0 + 60) == 6
        assert len(requests) == 6 == spent()
        assert {j["run_at"] for j in world.jobs()} == {T0 + 600}

        # The pause ends: ONE probe; it fails, so the host is paused again.
        assert await world.step(T0 + 600) == 6
        assert len(requests) == 7 == spent()
        assert await world.paused_until() == T0 + 1200
        for at in sorted({j["run_at"] for j in world.jobs()}):
            await world.step(at)
        assert len(requests) == 7 == spent()
        assert {j["run_at"] for j in world.jobs()} == {T0 + 1200}

        # The peer is back: one probe gets through, then the rest follow.
        await world.peer.up()
        assert await world.step(T0 + 1200) == 6
        assert (len(requests), len(world.peer.accepted)) == (8, 1)
        assert await world.node.store.host_state(world.peer.host) is None
        await world.step(T0 + 1200 + 0.5)
        assert sorted(world.peer.accepted) == sorted(sent)
        assert world.jobs() == []
        assert (world.worker.delivered, world.worker.buried) == (6, 0)


async def test_peer_slower_than_the_timeout_counts_as_a_failure_and_is_retried(
        tmp_path: Path) -> None:
    async with world_with(tmp_path, retry_schedule=[60.0, 300.0], delivery_timeout=0.3) as world:
        world.peer.default, world.peer.slow_seconds = "slow", 5.0
        await world.peer.up()
        (sent,) = await world.enqueue(f"{world.peer.url}/inbox")
        started = time.monotonic()
        await world.step(T0)
        assert time.monotonic() - started < 2.0, "the delivery timeout did not cut it"
        (job,) = world.jobs()
        assert job["run_at"] == T0 + 60
        assert "Timeout" in job["last_error"]
        state = await world.node.store.host_state(world.peer.host)
        assert state is not None
        assert state.failures == 1
        world.peer.default = "ok"
        await world.step(T0 + 60)
        assert (world.jobs(), world.peer.accepted) == ([], [sent])


async def test_peer_answering_500_then_recovering_gets_it_exactly_once(tmp_path: Path) -> None:
    async with world_with(tmp_path, retry_schedule=[60.0, 300.0, 900.0]) as world:
        world.peer.script["/inbox"] = ["error", "error"]
        await world.peer.up()
        (sent,) = await world.enqueue(f"{world.peer.url}/inbox")
        await world.step(T0)
        await world.step(T0 + 60)
        (job,) = world.jobs()
        assert (job["run_at"], job["last_error"]) == (T0 + 360, "HTTP 500")
        await world.step(T0 + 360)
        assert (world.peer.posts, world.peer.accepted) == (3, [sent])
        assert (world.jobs(), world.worker.delivered) == ([], 1)
        assert await world.node.store.host_state(world.peer.host) is None
        assert await world.step(T0 + 10**6) == 0
        assert world.peer.posts == 3


async def _follower(world: World, name: str, *, shared_inbox: bool = False) -> str:
    actor_id = world.peer.actor(name, shared_inbox=shared_inbox)
    await world.node.resolve_actor(actor_id)
    await world.node.store.apply([PutFollow(
        follower=actor_id, followee=f"{world.node.config.url}/users/ana",
        activity_id=f"{actor_id}#follow", state="accepted", created_at=T0)])
    return actor_id


async def _post(world: World, **addressing: list[str]) -> None:
    ana = f"{world.node.config.url}/users/ana"
    note = f"{ana}/statuses/{uuid.uuid4().hex}"
    account = await world.node.store.get_account("ana")
    assert account is not None
    await publish(world.node, account, {
        "@context": "https://www.w3.org/ns/activitystreams", "id": f"{note}/activity",
        "type": "Create", "actor": ana, **addressing,
        "object": {"id": note, "type": "Note", "attributedTo": ana, "content": "hi",
                   **addressing}})


async def test_inbox_answering_410_buries_the_job_and_fan_out_skips_the_actor(
        tmp_path: Path) -> None:
    async with world_with(tmp_path) as world:
        await world.peer.up()
        gina = await _follower(world, "gina")
        world.peer.script["/users/gina/inbox"] = ["gone"]
        followers = f"{world.node.config.url}/users/ana/followers"
        await _post(world, to=[PUBLIC], cc=[followers])
        await world.step(world.clock())
        (job,) = world.jobs()
        assert (job["state"], job["last_error"]) == ("dead", "HTTP 410")
        assert world.worker.buried == 1
        assert await world.is_gone(gina)
        # Not the host's fault: it answered.
        assert await world.node.store.host_state(world.peer.host) is None
        await _post(world, to=[PUBLIC], cc=[followers])
        assert len(world.jobs()) == 1, "a new post was queued for a gone actor"


async def test_410_for_an_addressed_actor_marks_only_that_actor_gone(tmp_path: Path) -> None:
    async with world_with(tmp_path) as world:
        await world.peer.up()
        gina = world.peer.actor("gina")
        hal = await _follower(world, "hal", shared_inbox=True)
        world.peer.script["/users/gina/inbox"] = ["gone"]
        world.peer.script["/inbox"] = ["gone"]
        await _post(world, to=[gina])
        followers = f"{world.node.config.url}/users/ana/followers"
        await _post(world, to=[PUBLIC], cc=[followers])
        await world.step(world.clock())
        assert [j["state"] for j in world.jobs()] == ["dead", "dead"]
        assert await world.is_gone(gina)
        # A shared inbox answering 410 retires nobody: it speaks for no one actor.
        assert not await world.is_gone(hal)
        # A post addressed straight to the gone actor queues nothing more for it.
        queued = len(world.jobs())
        await _post(world, to=[gina])
        assert len(world.jobs()) == queued, "a post was queued for a gone actor"


async def test_per_host_concurrency_limit_holds(tmp_path: Path) -> None:
    async with world_with(tmp_path, per_host_concurrency=2, concurrency=32) as world:
        other = FaultyPeer(hold=0.1)
        world.peer.hold = 0.1
        await world.peer.up()
        await other.up()
        try:
            sent = await world.enqueue(f"{world.peer.url}/inbox", 10)
            sent_other = await world.enqueue(f"{other.url}/inbox", 10)
            assert await world.step(T0) == 20
            assert sorted(world.peer.accepted) == sorted(sent)
            assert sorted(other.accepted) == sorted(sent_other)
            # The limit is per host: each reaches it, and neither goes past it.
            assert (world.peer.max_in_flight, other.max_in_flight) == (2, 2)
        finally:
            await other.down()


async def test_endless_reply_body_does_not_hold_the_delivery(tmp_path: Path) -> None:
    async with world_with(tmp_path, delivery_timeout=5.0) as world:
        world.peer.default = "endless"
        await world.peer.up()
        (sent,) = await world.enqueue(f"{world.peer.url}/inbox")
        started = time.monotonic()
        await world.step(T0)
        assert time.monotonic() - started < 2.0
        assert (world.jobs(), world.worker.delivered, world.peer.accepted) == ([], 1, [sent])


async def test_pause_ends_when_the_probe_is_answered_even_with_a_refusal(
        tmp_path: Path) -> None:
    async with world_with(tmp_path, retry_schedule=[60.0, 300.0], pause_after_failures=3,
                          pause_seconds=600.0) as world:
        await world.enqueue(f"{world.peer.url}/inbox", 3)
        await world.step(T0)  # down: three concurrent failures pause the host
        assert await world.paused_until() == T0 + 600
        world.peer.script["/inbox"] = ["notfound"]
        await world.peer.up()
        await world.step(T0 + 600)
        # The 404 is about that one activity; the host answered, so it is resumed.
        assert await world.node.store.host_state(world.peer.host) is None
        assert [j["state"] for j in world.jobs()] == ["dead", "queued", "queued"]
        await world.step(T0 + 600.5)
        assert [j["state"] for j in world.jobs()] == ["dead"]
        assert (len(world.peer.accepted), world.peer.posts) == (2, 3)


def _guarded(node: Node, *, fail_dns: bool) -> Fetcher:
    async def resolver(host: str, port: int) -> list[str]:
        if fail_dns:
            raise OSError("Temporary failure in name resolution")
        return ["127.0.0.1"]

    return Fetcher(session=node.session, signer=node.instance_signer, allow_private=False,
                   timeout=1.0, max_bytes=1000, max_redirects=1, user_agent="test",
                   resolver=resolver)


async def test_private_inbox_is_buried_unsent_and_a_dns_failure_is_retried(
        tmp_path: Path) -> None:
    async with world_with(tmp_path, retry_schedule=[60.0]) as world:
        world.node.fetcher = _guarded(world.node, fail_dns=False)
        await world.enqueue("http://169.254.169.254/latest/inbox")
        await world.enqueue(f"{world.peer.url}/inbox")  # resolves to loopback: private too
        await world.step(T0)
        assert [(j["state"], j["last_error"]) for j in world.jobs()] == [
            ("dead", "private-address"), ("dead", "private-address")]
        world.node.fetcher = _guarded(world.node, fail_dns=True)
        await world.enqueue("http://peer.example/inbox")
        await world.step(T0 + 1)
        job = world.jobs()[-1]
        assert (job["state"], job["last_error"], job["run_at"]) == ("queued", "dns", T0 + 61)
        assert world.wire.requests == []


async def test_a_deferred_job_gives_its_attempt_back_and_frees_its_lease(
        tmp_path: Path) -> None:
    async with world_with(tmp_path) as world:
        await world.enqueue(f"{world.peer.url}/inbox")
        (job,) = await world.node.store.claim_jobs([DELIVER], T0, 120.0, 10)
        assert job.attempts == 1
        await world.node.store.defer_job(job.id, T0 + 50, "host paused")
        assert await world.node.store.claim_jobs([DELIVER], T0 + 49, 120.0, 10) == []
        (again,) = await world.node.store.claim_jobs([DELIVER], T0 + 50, 120.0, 10)
        assert (again.id, again.attempts, again.last_error) == (job.id, 1, "host paused")
