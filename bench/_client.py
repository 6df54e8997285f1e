"""The benchmarks' load client, and how CPU is accounted around it.

Why its own process (``run_load`` spawns it): on a 2-core machine the server gets one
core and the client the other, so that neither steals CPU from the other's event loop.
Why CPU is read from ``/proc``: wall-clock rates on a shared machine move with other
people's load, and the CPU a server spent per request does not (bench/_common.py
reports both).
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

__all__ = [
    "LoadResult",
    "Prepared",
    "cpu_of",
    "cpu_spent",
    "machine_cpu_seconds",
    "proc_cpu_seconds",
    "run_load",
]

#: One prepared request: (path, headers, body). Signed before timing, sent verbatim.
Prepared = tuple[str, dict[str, str], bytes]
_SPAWN = multiprocessing.get_context("spawn")  # no inherited event loops or sockets


def machine_cpu_seconds() -> float:
    """CPU seconds all cores spent busy (user, nice, system, irq, softirq) since boot."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks[i] for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all threads (the aiosqlite thread included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(pids: Sequence[int]) -> dict[int, float]:
    """``proc_cpu_seconds`` of each process still running (a database backend may end
    between two readings: subtract readings of the pids present in both)."""
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = proc_cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            continue
    return seconds


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())



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
                server_pid: int | Sequence[int], client: str, method: str = "POST",
                ok: int = 202, duration: float | None = None,
                ports: Sequence[int] = ()) -> LoadResult:
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if ports and client != "raw":
        raise ValueError("spreading connections over ports needs the raw client")
    spread = itertools.cycle(ports or [port])  # the ports connections go to, in turn
    pids = [server_pid] if isinstance(server_pid, int) else list(server_pid)
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
            raw = _RawConnection(host, next(spread))
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

        cpu0, server0 = time.process_time(), cpu_of(pids)
        machine0, t0 = machine_cpu_seconds(), time.perf_counter()
        if duration is not None:
            stop[0] = min(time.monotonic() + duration, deadline)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - t0
        cpu, server = time.process_time() - cpu0, cpu_spent(server0, cpu_of(pids))
        machine = machine_cpu_seconds() - machine0
    sent = len(requests) if duration is None else len(latencies)
    return LoadResult(sent=sent, statuses=statuses, seconds=seconds,
                      latencies=sorted(latencies), client_cpu=cpu, server_cpu=server,
                      machine_cpu=machine, errors=errors, ok=ok)


def _load_child(conn: Any, *args: Any) -> None:
    conn.send(asyncio.run(_load(*args)))
    conn.close()


def run_load(base: str, requests: list[Prepared], *, concurrency: int,
             server_pid: int | Sequence[int], limit: float = 120.0, client: str = "raw",
             method: str = "POST", ok: int = 202, duration: float | None = None,
             ports: Sequence[int] = ()) -> LoadResult:
    """POST every request to ``base + path`` from a separate process; bounded by ``limit``.

    ``client`` is ``raw`` (prebuilt bytes on keep-alive sockets) or ``aiohttp``;
    ``method`` ``GET`` sends the requests with their (empty) bodies as GETs, and ``ok``
    is the status counted as success. With ``duration`` (seconds) the requests are sent
    in a loop until that time has passed, instead of once each.

    ``server_pid`` may be several processes (a node's web processes and its database):
    ``server_cpu`` is their sum. With ``ports``, the keep-alive connections go to those
    ports of ``base``'s host in turn, every request still carrying ``base``'s ``Host``,
    as a proxy in front of several web processes sends them (signatures cover Host).
    """
    parent, child = _SPAWN.Pipe(duplex=False)
    process = _SPAWN.Process(target=_load_child,
                             args=(child, base, requests, concurrency, limit, server_pid,
                                   client, method, ok, duration, tuple(ports)))
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
