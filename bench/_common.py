"""Shared pieces of the benchmarks: node processes, a bare aiohttp ceiling, a load client.

Benchmarks measure a real node the way a peer meets it: a separate process reached over
loopback HTTP, set up only through the ``mutual`` CLI. Every rate is reported next to a
ceiling measured in the same run on the same machine (DESIGN §7), because absolute
numbers move between machines while ratios to the bare framework do not.

The load client always runs in its own process: on a 2-core machine the server gets one
core and the client the other, so that neither steals CPU from the other's event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "AP",
    "LoadResult",
    "NodeProcess",
    "Prepared",
    "free_port",
    "machine_cpu_seconds",
    "markdown_table",
    "proc_cpu_seconds",
    "rsa_verify_rate",
    "run_load",
    "start_bare_server",
]

AP = "application/activity+json"
#: One prepared request: (path, headers, body). Signed before timing, sent verbatim.
Prepared = tuple[str, dict[str, str], bytes]
_SPAWN = multiprocessing.get_context("spawn")  # no inherited event loops or sockets


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_cpu_seconds() -> float:
    """CPU seconds all cores spent busy (user, nice, system, irq, softirq) since boot."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks[i] for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads (the aiosqlite thread included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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
        self.cli("init", "--url", self.url)
        tokens = {}
        for name in members:
            self.cli("account", "create", name)
            tokens[name] = self.cli("token", "create", name)
        return tokens

    def spawn(self) -> subprocess.Popen[bytes]:
        runner = ["-m", "cProfile", "-o", str(self.profile)] if self.profile else []
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [sys.executable, *runner, "-m", "node.cli", "--data", str(self.root / "data"),
                 "serve"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
            )

    async def start(self) -> None:
        self.process = self.spawn()
        try:
            await wait_http(f"{self.url}/.well-known/nodeinfo", self.process, 30)
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


# -- the load client ------------------------------------------------------------------


@dataclass
class LoadResult:
    sent: int
    statuses: Counter[int]
    seconds: float
    latencies: list[float]  # seconds, sorted
    client_cpu: float  # CPU seconds the client process used
    server_cpu: float  # CPU seconds the server process used in the same window
    machine_cpu: float  # CPU seconds all processes used: the rest is someone else's load
    errors: Counter[str]
    ok: int = 202  # the status that counts as success (200 for GETs)

    @property
    def rate(self) -> float:
        """Accepted (``ok``) requests per wall-clock second."""
        return self.statuses.get(self.ok, 0) / self.seconds if self.seconds else 0.0

    @property
    def cpu_rate(self) -> float:
        """Accepted requests per CPU-second of the server: robust to a client that is the
        bottleneck and to a VM that loses its CPU for a while, both seen on these hosts."""
        return self.statuses.get(self.ok, 0) / self.server_cpu if self.server_cpu else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))]


async def _aiohttp_post(session: aiohttp.ClientSession, base: str, request: Prepared,
                        method: str = "POST") -> tuple[int, bytes]:
    path, headers, body = request
    async with session.request(method, base + path, data=body, headers=headers) as response:
        return response.status, await response.read()


class _RawConnection:
    """HTTP/1.1 keep-alive over asyncio streams, requests written as prebuilt bytes.

    Why: the aiohttp client costs more CPU per request than the bare aiohttp server, so
    with it the "ceiling" measures the client. This one parses only the status line and
    Content-Length, so the server under test is what saturates.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self, wire: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(wire)
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status, length, close = int(lines[0].split()[1]), None, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length is None:
            raise RuntimeError("response without Content-Length")
        body = await reader.readexactly(length)
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def _wire(host: str, request: Prepared, method: str = "POST") -> bytes:
    path, headers, body = request
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _load(base: str, requests: list[Prepared], concurrency: int, limit: float,
                server_pid: int, client: str, method: str = "POST", ok: int = 202,
                duration: float | None = None) -> LoadResult:
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    work: list[Any] = ([_wire(parts.netloc, r, method) for r in requests] if client == "raw"
                       else list(requests))  # built before the clock starts
    # With a duration, the requests are sent round and round until it has passed.
    queue = iter(work) if duration is None else itertools.cycle(work)
    deadline = time.monotonic() + limit
    stop = [float("inf")]  # set when the clock starts
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            raw = _RawConnection(host, port)
            for item in queue:  # a shared iterator: each request is sent once
                if time.monotonic() > stop[0]:
                    break
                if time.monotonic() > deadline:
                    errors["wall-clock limit"] += 1
                    continue
                started = time.perf_counter()
                try:
                    if client == "raw":
                        status, body = await asyncio.wait_for(raw.send(item), 30)
                    else:
                        status, body = await _aiohttp_post(session, base, item, method)
                    statuses[status] += 1
                    if status != ok and len(errors) < 20:
                        errors[f"{status}: {body[:160].decode(errors='replace')}"] += 1
                except (OSError, aiohttp.ClientError, asyncio.IncompleteReadError,
                        TimeoutError) as exc:
                    raw.close()
                    errors[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - started)
            raw.close()

        cpu0, server0 = time.process_time(), proc_cpu_seconds(server_pid)
        machine0, t0 = machine_cpu_seconds(), time.perf_counter()
        if duration is not None:
            stop[0] = min(time.monotonic() + duration, deadline)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
        cpu, server = time.process_time() - cpu0, proc_cpu_seconds(server_pid) - server0
        machine = machine_cpu_seconds() - machine0
    sent = len(requests) if duration is None else len(latencies)
    return LoadResult(sent=sent, statuses=statuses, seconds=seconds,
                      latencies=sorted(latencies), client_cpu=cpu, server_cpu=server,
                      machine_cpu=machine, errors=errors, ok=ok)


def _load_child(conn: Any, *args: Any) -> None:
    conn.send(asyncio.run(_load(*args)))
    conn.close()


def run_load(base: str, requests: list[Prepared], *, concurrency: int, server_pid: int,
             limit: float = 120.0, client: str = "raw", method: str = "POST", ok: int = 202,
             duration: float | None = None) -> LoadResult:
    """POST every request to ``base + path`` from a separate process; bounded by ``limit``.

    ``client`` is ``raw`` (prebuilt bytes on keep-alive sockets) or ``aiohttp``;
    ``method`` ``GET`` sends the requests with their (empty) bodies as GETs, and ``ok``
    is the status counted as success. With ``duration`` (seconds) the requests are sent
    in a loop until that time has passed, instead of once each.
    """
    parent, child = _SPAWN.Pipe(duplex=False)
    process = _SPAWN.Process(target=_load_child,
                             args=(child, base, requests, concurrency, limit, server_pid,
                                   client, method, ok, duration))
    process.start()
    child.close()
    try:
        if not parent.poll(limit + 60):
            raise RuntimeError("load client did not finish in time")
        result: LoadResult = parent.recv()
        return result
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


# -- crypto ceiling and output --------------------------------------------------------


def rsa_verify_rate(seconds: float = 2.0) -> float:
    """RSA-2048 PKCS#1 v1.5 SHA-256 verifications per second on this core."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public, data = key.public_key(), b"(request-target): post /users/ana/inbox\nhost: x"
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(100):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        count += 100
    return count / elapsed


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
