"""Delivery throughput for bench/scale.py: one post fanned out to many followers'
shared inboxes on a counting peer, drained by the node's workers.

The followers are written straight into the node's store before it starts, as
bench/api.py seeds its timeline: ``count`` remote actors, each with a shared inbox of
its own, so that one public post is ``count`` deliveries (one per shared inbox,
node/outbox.py), as if each follower were on a server of its own. The shared inboxes
are spread over ``HOSTS`` ports of one counting peer, so that the per-host
concurrency limit (``delivery.per_host_concurrency``, 4 per worker) is not what is
measured. The peer answers 202 at once and notes when each POST arrived; the rate is
taken from the first delivery to the last, which leaves out the workers' poll delay
and the post itself, the same way for every configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from _client import machine_cpu_seconds
from aiohttp import web

from storage.factory import open_store
from storage.records import ActorRecord, Op, PutActor, PutFollow

__all__ = ["CountingPeer", "DeliveryRun", "measure_drain", "seed_followers"]

HOSTS = 8
_SEED_BATCH = 500


class CountingPeer:
    """Answers 202 to every POST, on ``hosts`` loopback ports, and notes its arrival."""

    def __init__(self, hosts: int = HOSTS) -> None:
        self.sockets = [socket.socket() for _ in range(hosts)]
        for sock in self.sockets:
            sock.bind(("127.0.0.1", 0))
        self.ports = [int(s.getsockname()[1]) for s in self.sockets]
        # activity id -> (monotonic arrival time, path) of each POST
        self.arrivals: defaultdict[str, list[tuple[float, str]]] = defaultdict(list)
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def shared_inbox(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index % len(self.ports)]}/servers/{index}/inbox"

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            body = await request.read()
            self.arrivals[json.loads(body)["id"]].append((time.monotonic(), request.path))
            self.arrived.set()
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/{tail:.*}", receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        for sock in self.sockets:
            await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def seed_followers(database: str, sqlite_path: Path, followee: str,
                         peer: CountingPeer, count: int) -> None:
    """``count`` accepted followers of ``followee``, each behind its own shared inbox."""
    store = await open_store(database, sqlite_path)
    now = time.time()
    try:
        ops: list[Op] = []
        for i in range(count):
            inbox = peer.shared_inbox(i)
            host = inbox.split("/")[2]
            actor = f"http://{host}/users/f{i}"
            document = {"id": actor, "type": "Person", "preferredUsername": f"f{i}",
                        "inbox": f"{actor}/inbox", "endpoints": {"sharedInbox": inbox}}
            ops.append(PutActor(actor=ActorRecord(
                id=actor, local=False, host=host, type="Person", username=f"f{i}",
                inbox=f"{actor}/inbox", shared_inbox=inbox, followers=None,
                document=json.dumps(document), fetched_at=now)))
            ops.append(PutFollow(follower=actor, followee=followee,
                                 activity_id=f"{actor}#follow", state="accepted",
                                 created_at=now))
            if len(ops) >= _SEED_BATCH:
                await store.apply(ops)
                ops = []
        if ops:
            await store.apply(ops)
    finally:
        await store.close()


@dataclass(frozen=True, slots=True)
class DeliveryRun:
    name: str
    workers: int
    expected: int
    received: int  # POSTs, repeats included
    inboxes: int  # distinct shared inboxes reached
    first_to_last: float
    post_to_last: float
    cpu: float  # CPU seconds of the node's processes and the database server
    others: float  # CPU seconds of everything else (this bench's peer included)
    window: float  # seconds over which both were read

    @property
    def rate(self) -> float:
        return (self.inboxes - 1) / self.first_to_last if self.first_to_last > 0 else 0.0

    @property
    def repeats(self) -> int:
        return self.received - self.inboxes


async def measure_drain(name: str, workers: int, post: Callable[[], Awaitable[str]],
                        peer: CountingPeer, expected: int, *, limit: float,
                        cpu: Callable[[], float]) -> DeliveryRun:
    """Post once, then wait (at most ``limit`` seconds) until ``expected`` deliveries
    of that post arrived; ``cpu`` (the node's and its database's CPU seconds so far) is
    read over the same window."""
    machine0 = machine_cpu_seconds()
    ours0 = cpu()
    posted = time.monotonic()
    activity = await post()
    deadline = posted + limit
    while len(peer.arrivals[activity]) < expected and (left := deadline - time.monotonic()) > 0:
        peer.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(peer.arrived.wait(), min(left, 0.5))
    await asyncio.sleep(0.5)  # a repeat, if any, would come now
    ours = cpu() - ours0
    machine = machine_cpu_seconds() - machine0
    window = time.monotonic() - posted
    arrivals = peer.arrivals[activity]
    times = sorted(t for t, _ in arrivals)
    paths = Counter(path for _, path in arrivals)
    return DeliveryRun(
        name=name, workers=workers, expected=expected, received=len(arrivals),
        inboxes=len(paths), first_to_last=(times[-1] - times[0]) if times else 0.0,
        post_to_last=(times[-1] - posted) if times else 0.0, cpu=ours,
        others=max(0.0, machine - ours), window=window)
