"""Real Mutual nodes as separate processes on loopback ports, for federation tests.

Each node has its own data folder and database and is driven only through the CLI and
public HTTP, as an admin and members would drive it. Retry schedules and job leases
are shortened through the environment so that recovery is observable within a test.

A node is one ``serve`` process of ``role`` ``all`` by default; ``Cluster.worker``
adds a ``--role worker`` process on an existing node's data folder (it listens on a
port of its own, for ``/healthz`` and ``/metrics`` only), and ``Cluster.web`` a
``--role web`` process on its own port (several of them sit behind one public URL,
e.g. tests/support/proxy.py). ``database`` initialises a node on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

AP = "application/activity+json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mutual(data: Path, *args: str, stdin: str | None = None,
           env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "--data", str(data), *args],
        input=stdin, capture_output=True, text=True, timeout=60,
        env={**os.environ, **(env or {})}, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mutual {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 15.0,
                     interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s (last value: {last!r})")


@dataclass
class Member:
    node: MutualNode
    name: str
    token: str

    @property
    def actor_id(self) -> str:
        return f"{self.node.url}/users/{self.name}"

    @property
    def acct(self) -> str:
        return f"{self.name}@{self.node.host}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": AP, "Accept": AP}

    async def post(self, doc: dict[str, Any]) -> dict[str, Any]:
        """POST to the C2S outbox; returns the published activity (asserts 201)."""
        assert self.node.session is not None
        async with self.node.session.post(f"{self.actor_id}/outbox", json=doc,
                                          headers=self._auth()) as response:
            body = await response.json(content_type=None)
            assert response.status == 201, (response.status, body)
            assert response.headers["Location"] == body["id"]
            return dict(body)

    async def inbox(self) -> list[dict[str, Any]]:
        """Every item of this member's inbox collection, newest first (all pages)."""
        return await self.node.collection(f"{self.actor_id}/inbox", headers=self._auth())


@dataclass
class MutualNode:
    name: str
    root: Path
    session: aiohttp.ClientSession | None
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    role: str = "all"  # `serve --role`
    database: str = ""  # `init --database`: a postgresql:// DSN, or sqlite when empty

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / self.name

    def _env(self) -> dict[str, str]:
        return {
            "MUTUAL_DELIVERY_RETRY_SCHEDULE": "0.5,0.5,1,1,2,2,3",
            "MUTUAL_DELIVERY_PAUSE_AFTER_FAILURES": "1000",
            "MUTUAL_DELIVERY_WORKER_POLL_SECONDS": "0.2",
            # A killed worker's jobs come back within a lease (node/leases.py).
            "MUTUAL_DELIVERY_LEASE_SECONDS": "5",
            "MUTUAL_GOVERNANCE_COUNTS_INTERVAL": "1",
            "MUTUAL_FEDERATION_FETCH_TIMEOUT": "5",
            **self.env,
        }

    def init(self) -> None:
        database = ("--database", self.database) if self.database else ()
        mutual(self.data, "init", "--url", self.url, *database)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        return mutual(self.data, *args, stdin=stdin, env=self._env())

    def member(self, name: str) -> Member:
        self.cli("account", "create", name)
        return Member(node=self, name=name, token=self.cli("token", "create", name))

    async def start(self) -> None:
        await asyncio.to_thread(self.start_sync)

    def start_sync(self) -> None:
        args = ["serve"]
        if self.role != "all":  # on a port of its own (a worker's: /healthz, /metrics)
            args += ["--role", self.role, "--listen", self.host]
        log_name = self.name if self.role == "all" else f"{self.name}-{self.role}"
        with (self.root / f"{log_name}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "node.cli", "--data", str(self.data), *args],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self._env()},
            )
        self.wait_until_up()

    def wait_until_up(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: see the logs in {self.root}")
            probe = "/healthz" if self.role == "worker" else "/.well-known/nodeinfo"
            try:
                with urllib.request.urlopen(f"{self.url}{probe}", timeout=2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"node {self.name} did not come up within {timeout}s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    async def get(self, url: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        assert self.session is not None, "bind a client session to the node first"
        async with self.session.get(url, headers={"Accept": AP, **(headers or {})}) as response:
            text = await response.text()
            try:
                return response.status, json.loads(text)
            except json.JSONDecodeError:
                return response.status, text

    async def collection(self, url: str, *, headers: dict[str, str] | None = None
                         ) -> list[Any]:
        status, doc = await self.get(url, headers=headers)
        assert status == 200, (status, doc)
        page = doc.get("first", doc)
        items: list[Any] = []
        while True:
            items.extend(page.get("orderedItems", page.get("items", [])))
            next_url = page.get("next")
            if not next_url:
                return items
            status, page = await self.get(next_url, headers=headers)
            assert status == 200, (status, page)


class Cluster:
    """Starts nodes on demand and always stops them, even when a test fails."""

    def __init__(self, root: Path, session: aiohttp.ClientSession) -> None:
        self.root = root
        self.session = session
        self.nodes: list[MutualNode] = []

    async def node(self, name: str, *, env: dict[str, str] | None = None,
                   start: bool = True, role: str = "all", database: str = ""
                   ) -> MutualNode:
        node = MutualNode(name=name, root=self.root, session=self.session, env=env or {},
                          role=role, database=database)
        node.init()
        self.nodes.append(node)
        if start:
            await node.start()
        return node

    async def worker(self, of: MutualNode, *, start: bool = True) -> MutualNode:
        """A ``--role worker`` process on ``of``'s data folder (``of`` is not changed;
        the worker's ``url`` is its own /healthz and /metrics port)."""
        worker = MutualNode(name=of.name, root=self.root, session=self.session,
                            env=dict(of.env), role="worker")
        self.nodes.append(worker)
        if start:
            await worker.start()
        return worker

    async def web(self, of: MutualNode, *, start: bool = True) -> MutualNode:
        """A ``--role web`` process on ``of``'s data folder, listening on a port of its
        own (its ``url``); the node's public URL stays ``of.url``."""
        web = MutualNode(name=of.name, root=self.root, session=self.session,
                         env=dict(of.env), role="web")
        self.nodes.append(web)
        if start:
            await web.start()
        return web

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop(signal.SIGKILL)
