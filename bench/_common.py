"""Shared pieces of the benchmarks: node processes, a bare aiohttp ceiling, a load client
(bench/_client.py, re-exported here).

Benchmarks measure a real node the way a peer meets it: a separate process reached over
loopback HTTP, set up only through the ``mutual`` CLI. Every rate is reported next to a
ceiling measured in the same run on the same machine (DESIGN §7), because absolute
numbers move between machines while ratios to the bare framework do not.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _client import (
    LoadResult,
    Prepared,
    cpu_of,
    cpu_spent,
    machine_cpu_seconds,
    proc_cpu_seconds,
    run_load,
)
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "AP",
    "LoadResult",
    "NodeProcess",
    "Prepared",
    "cpu_of",
    "cpu_spent",
    "free_port",
    "machine_cpu_seconds",
    "markdown_table",
    "proc_cpu_seconds",
    "rsa_verify_rate",
    "run_load",
    "start_bare_server",
]

AP = "application/activity+json"
_SPAWN = multiprocessing.get_context("spawn")  # no inherited event loops or sockets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_http(url: str, process: subprocess.Popen[bytes] | Any, limit: float) -> None:
    """Poll ``url`` until it answers 200; fail fast when ``process`` has exited."""
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            alive = process.poll() is None if hasattr(process, "poll") else process.is_alive()
            if not alive:
                raise RuntimeError(f"server behind {url} exited during start-up")
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {limit}s")


# -- a real Mutual node ---------------------------------------------------------------


@dataclass
class NodeProcess:
    """One ``mutual serve`` process with its own data folder, driven through the CLI."""

    root: Path
    port: int = field(default_factory=free_port)
    env: dict[str, str] = field(default_factory=lambda: {"MUTUAL_LOG_LEVEL": "WARNING"})
    profile: Path | None = None  # run under cProfile, written on a clean SIGTERM exit
    process: subprocess.Popen[bytes] | None = None
    database: str = ""  # `init --database`: a postgresql:// DSN; sqlite when empty
    role: str = "all"  # `serve --role`
    listen: int | None = None  # `serve --listen` port, when not the URL's (see `sibling`)

    @property
    def url(self) -> str:
        """The node's public URL (what signatures and ids carry)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def listen_url(self) -> str:
        """Where this process itself answers."""
        return f"http://127.0.0.1:{self.listen or self.port}"

    def sibling(self, role: str) -> NodeProcess:
        """Another process of the same node (data folder, config, public URL) on a port
        of its own: a second web process behind the node's URL, or a worker (whose
        port serves /healthz and /metrics only)."""
        return dataclasses.replace(self, role=role, listen=free_port(), process=None,
                                   profile=None)

    @property
    def log_path(self) -> Path:
        return self.root / "node.log"

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "node.cli", "--data", str(self.root / "data"), *args],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, **self.env},
        )
        if result.returncode != 0:
            raise RuntimeError(f"mutual {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def init(self, *members: str) -> dict[str, str]:
        """Initialise the data folder and create ``members``; returns name -> token."""
        database = ("--database", self.database) if self.database else ()
        self.cli("init", "--url", self.url, *database)
        tokens = {}
        for name in members:
            self.cli("account", "create", name)
            tokens[name] = self.cli("token", "create", name)
        return tokens

    def spawn(self) -> subprocess.Popen[bytes]:
        runner = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        serve = ["serve"] if self.role == "all" else ["serve", "--role", self.role]
        if self.listen is not None:
            serve += ["--listen", f"127.0.0.1:{self.listen}"]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, *runner, "-m", "node.cli", "--data", str(self.root / "data"),
                 *serve],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
            )

    async def start(self) -> None:
        self.process = self.spawn()
        probe = "/healthz" if self.role == "worker" else "/.well-known/nodeinfo"
        try:
            await wait_http(f"{self.listen_url}{probe}", self.process, 30)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; node log:\n{self.log_path.read_text()[-3000:]}") from exc

    def stop(self) -> None:
        """SIGTERM (aiohttp shuts down cleanly, cProfile writes its file), then SIGKILL."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# -- the bare aiohttp ceiling ---------------------------------------------------------


def _bare_server(port: int) -> None:
    """The least an inbox can do: read the body, parse the JSON, answer 202."""

    async def inbox(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.json_response({"status": "accepted"}, status=202)

    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def read(_: web.Request) -> web.Response:
        """The least a read API can do: answer a GET with a small JSON document."""
        return web.json_response([{"id": "1", "content": "ok"}])

    app = web.Application()
    app.router.add_post("/{tail:.*}", inbox)
    app.router.add_get("/ping", ping)
    app.router.add_get("/{tail:.*}", read)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def start_bare_server(port: int) -> multiprocessing.process.BaseProcess:
    process = _SPAWN.Process(target=_bare_server, args=(port,), daemon=True)
    process.start()
    await wait_http(f"http://127.0.0.1:{port}/ping", process, 30)
    return process


# -- crypto ceiling and output --------------------------------------------------------


def rsa_verify_rate(seconds: float = 2.0, threads: int = 1) -> float:
    """RSA-2048 PKCS#1 v1.5 SHA-256 verifications per second in this process, from
    ``threads`` threads at once: more than one shows whether the library lets the
    verifications run in parallel (it does when it releases the GIL)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public, data = key.public_key(), b"(request-target): post /users/ana/inbox\nhost: x"
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    counts = [0] * threads
    started = time.perf_counter()

    def verify(slot: int) -> None:
        while time.perf_counter() - started < seconds:
            for _ in range(100):
                public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            counts[slot] += 100

    workers = [threading.Thread(target=verify, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - started)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
