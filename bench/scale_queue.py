"""Queue claim rate for bench/scale.py: processes competing for one pre-filled queue.

Why separate processes and not tasks: a worker process is what scales out (DESIGN §4),
and each has its own connection pool; tasks in one process would share one event
loop and measure it. Each process opens its own store, waits at a barrier so that all
start together, then claims batches of ``BATCH`` under a lease (as the delivery worker
claims its free slots) and finishes every job it got, one statement each (as a worker
does after each delivery), until a claim comes back empty. The parent checks that
every job was claimed exactly once: the property ``FOR UPDATE SKIP LOCKED`` is there
for (storage/postgres/queue.py).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.factory import open_store
from storage.records import EnqueueJob

__all__ = ["QueueRun", "claim_race", "fill_queue"]

KIND = "bench-claim"
BATCH = 32  # delivery.concurrency: what an idle delivery worker claims at once
LEASE = 300.0  # longer than any run: a job is never taken back while its claimer lives
_FILL_BATCH = 2_000
_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True)
class QueueRun:
    name: str
    processes: int
    jobs: int
    seconds: float  # first claim of any process to the last finish of any
    claimed: int
    repeats: int  # jobs claimed more than once
    missing: int  # jobs never claimed
    cpu: float  # CPU seconds of the claimers and the database server

    @property
    def rate(self) -> float:
        return (self.claimed - self.repeats) / self.seconds if self.seconds else 0.0


async def fill_queue(database: str, sqlite_path: Path, count: int) -> list[int]:
    """Queue ``count`` due jobs; returns their ids."""
    store = await open_store(database, sqlite_path)
    ids: list[int] = []
    try:
        for start in range(0, count, _FILL_BATCH):
            size = min(_FILL_BATCH, count - start)
            result = await store.apply([EnqueueJob(kind=KIND, payload="{}", host=None,
                                                   run_at=0.0) for _ in range(size)])
            ids.extend(result.job_ids)
    finally:
        await store.close()
    return ids


async def _claim_until_empty(database: str, sqlite_path: Path, barrier: Any,
                             limit: float) -> tuple[list[int], float, float, float]:
    store = await open_store(database, sqlite_path)
    claimed: list[int] = []
    try:
        await asyncio.to_thread(barrier.wait)
        cpu0, started = time.process_time(), time.monotonic()
        deadline = started + limit
        while time.monotonic() < deadline:
            jobs = await store.claim_jobs([KIND], time.time(), LEASE, BATCH)
            if not jobs:
                break
            for job in jobs:
                claimed.append(job.id)
                await store.finish_job(job.id)
        ended = time.monotonic()
    finally:
        await store.close()
    return claimed, started, ended, time.process_time() - cpu0


def _claimer(conn: Any, database: str, sqlite_path: Path, barrier: Any,
             limit: float) -> None:
    conn.send(asyncio.run(_claim_until_empty(database, sqlite_path, barrier, limit)))
    conn.close()


async def claim_race(name: str, database: str, sqlite_path: Path, *, jobs: int,
                     processes: int, limit: float, db_cpu: Callable[[], float]) -> QueueRun:
    """Fill a queue with ``jobs`` jobs, then let ``processes`` processes empty it;
    ``db_cpu`` reads the database server's CPU seconds so far (0 for sqlite, whose
    work is in the claimers' own)."""
    ids = await fill_queue(database, sqlite_path, jobs)
    barrier = _SPAWN.Barrier(processes + 1)
    pipes, children = [], []
    for _ in range(processes):
        parent, child = _SPAWN.Pipe(duplex=False)
        process = _SPAWN.Process(target=_claimer,
                                 args=(child, database, sqlite_path, barrier, limit))
        process.start()
        child.close()
        pipes.append(parent)
        children.append(process)
    try:
        await asyncio.to_thread(barrier.wait, limit)  # every claimer has its store open
        db_before = db_cpu()
        results = []
        for pipe in pipes:
            if not await asyncio.to_thread(pipe.poll, limit + 60):
                raise RuntimeError("a claimer did not finish in time")
            results.append(pipe.recv())
        db_spent = db_cpu() - db_before
    finally:
        for process in children:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    times = Counter(job_id for claimed, *_ in results for job_id in claimed)
    seconds = max(r[2] for r in results) - min(r[1] for r in results)
    return QueueRun(name=name, processes=processes, jobs=len(ids), seconds=seconds,
                    claimed=sum(times.values()),
                    repeats=sum(n - 1 for n in times.values() if n > 1),
                    missing=len(set(ids) - set(times)),
                    cpu=sum(r[3] for r in results) + db_spent)
