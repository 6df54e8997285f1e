"""Deterministic fault tests: an in-process node with a clock the test turns, a wire
tap that sees every outgoing request, and a peer whose inbox misbehaves on demand.

``local_node`` is a real node store (sqlite in a temp folder) and a real ``Node``
without an HTTP server: the test drives ``DeliveryWorker.run_once``/``drain`` itself
and moves ``Clock`` forward, so days of retries take milliseconds. ``Wire`` counts the
requests the node's HTTP client starts and refuses, before any connection, one to an
address that is not loopback: these tests must never leave the machine.
``FaultyPeer`` is down until ``up()``, answers each inbox POST as ``script`` says, and
serves actor documents for the fetches a fan-out makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web

from node.accounts import create_account
from node.config import Config
from node.context import Node
from node.urls import INSTANCE_ACTOR, Urls
from storage.sqlite import open_sqlite

__all__ = ["AP", "Clock", "FaultyPeer", "Wire", "local_node"]

AP = "application/activity+json"


class Clock:
    """The worker's ``now``: stands still until the test moves it."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


@dataclass
class Wire:
    """Every request the node's client session starts, in order (their URLs)."""

    requests: list[str] = field(default_factory=list)
    dns_lookups: list[str] = field(default_factory=list)
    off_loopback: list[str] = field(default_factory=list)

    def trace(self) -> aiohttp.TraceConfig:
        config = aiohttp.TraceConfig()

        async def started(_s: aiohttp.ClientSession, _c: SimpleNamespace,
                          params: aiohttp.TraceRequestStartParams) -> None:
            host = params.url.host or ""
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                self.off_loopback.append(str(params.url))
                raise AssertionError(f"a test tried to reach {params.url} off loopback")
            self.requests.append(str(params.url))

        async def resolving(_s: aiohttp.ClientSession, _c: SimpleNamespace,
                            params: aiohttp.TraceDnsResolveHostStartParams) -> None:
            self.dns_lookups.append(params.host)

        config.on_request_start.append(started)
        config.on_dns_resolvehost_start.append(resolving)
        return config


@contextlib.asynccontextmanager
async def local_node(root: Path, wire: Wire, **settings: Any) -> AsyncIterator[Node]:
    """A started ``Node`` over a fresh sqlite store, with members ana and the instance
    actor; its URL is on loopback but nothing listens there (no HTTP server)."""
    config = Config(data_dir=root, url="http://127.0.0.1:9", allow_private_addresses=True,
                    **settings)
    store = await open_sqlite(config.database_path)
    urls = Urls(config.url)
    await create_account(store, urls, INSTANCE_ACTOR, kind="application")
    await create_account(store, urls, "ana")
    session = aiohttp.ClientSession(trace_configs=[wire.trace()])
    try:
        node = Node(config=config, store=store, session=session)
        await node.start()
        yield node
    finally:
        await session.close()
        await store.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(repr=False)
class FaultyPeer:
    """A remote server on loopback; its inbox answers what ``script`` says.

    ``script[path]`` is a list of answers consumed one per POST (``default`` after it):
    ``"ok"`` (202), ``"error"`` (500), ``"gone"`` (410), ``"notfound"`` (404),
    ``"slow"`` (202, but only after ``slow_seconds``), ``"endless"`` (202 with a body
    that never ends). ``hold`` keeps every answer in flight a while, to observe
    concurrency.
    """

    port: int = field(default_factory=_closed_port)
    script: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    default: str = "ok"
    slow_seconds: float = 2.0
    hold: float = 0.0
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted: list[str] = field(default_factory=list)
    posts: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def actor(self, name: str, *, shared_inbox: bool = False) -> str:
        """Publish a Person (without a key: nothing here verifies the peer's requests)."""
        actor_id = f"{self.url}/users/{name}"
        doc: dict[str, Any] = {
            "@context": "https://www.w3.org/ns/activitystreams", "id": actor_id,
            "type": "Person", "preferredUsername": name, "inbox": f"{actor_id}/inbox",
            "outbox": f"{actor_id}/outbox", "followers": f"{actor_id}/followers",
        }
        if shared_inbox:
            doc["endpoints"] = {"sharedInbox": f"{self.url}/inbox"}
        self.documents[f"/users/{name}"] = doc
        return actor_id

    async def up(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", self._get)
        app.router.add_route("POST", "/{path:.*}", self._post)
        self._released.clear()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        """Stop listening: connections are refused from now on."""
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _get(self, request: web.Request) -> web.Response:
        doc = self.documents.get(request.path)
        if doc is None:
            return web.Response(status=404)
        return web.Response(body=json.dumps(doc).encode(), content_type=AP)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.posts += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            queue = self.script[request.path]
            answer = queue.pop(0) if queue else self.default
            if self.hold:
                await asyncio.sleep(self.hold)
            if answer == "slow":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._released.wait(), self.slow_seconds)
                return web.Response(status=202)
            if answer == "endless":
                return await self._endless(request, body)
            status = {"ok": 202, "error": 500, "gone": 410, "notfound": 404}[answer]
            if status == 202:
                self.accepted.append(json.loads(body)["id"])
            return web.Response(status=status)
        finally:
            self.in_flight -= 1

    async def _endless(self, request: web.Request, body: bytes) -> web.StreamResponse:
        self.accepted.append(json.loads(body)["id"])
        response = web.StreamResponse(status=202)
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            while not self._released.is_set():
                await response.write(b"x" * 65536)
        return response
