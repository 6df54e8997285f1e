"""The job worker for everything that is not a delivery: closing proposals,
publishing their live counts, and closing members' own polls.

Same queue, same leases as deliveries (short and renewed, node/leases.py: a killed
process's jobs are taken over), but its own loop, so a backlog of deliveries never
delays a proposal's closing. Every periodic action of the node is such a job, queued
with a ``dedupe_key`` in the transaction that makes it due (a proposal opened, a
ballot counted, a poll posted) and claimed by one worker: however many worker
processes run, a proposal closes once and its counts go out once per window.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping

from node.api.notify import POLL_EXPIRE
from node.api.polls import expire_poll
from node.context import Node
from node.governance.closing import close_proposal, publish_counts
from node.governance.common import CLOSE, COUNTS
from node.leases import Leases
from storage.records import Job
from storage.store import StorageError

__all__ = ["JobWorker"]

log = logging.getLogger("mutual.jobs")
_RETRY = 5.0
_BATCH = 8


async def _close(node: Node, payload: Mapping[str, str]) -> None:
    await close_proposal(node, payload["proposal"])


async def _counts(node: Node, payload: Mapping[str, str]) -> None:
    await publish_counts(node, payload["proposal"])


RUNNERS: Mapping[str, Callable[[Node, Mapping[str, str]], Awaitable[None]]] = {
    CLOSE: _close,
    COUNTS: _counts,
    POLL_EXPIRE: expire_poll,  # a member's own poll ends (client API)
}


class JobWorker:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.leases = Leases(node.store, seconds=node.config.lease_seconds, now=node.now)

    async def run(self) -> None:
        async with self.leases.kept_alive():
            await self._loop()

    async def _loop(self) -> None:
        while True:
            try:
                if await self.run_once():
                    continue
            except StorageError as exc:
                # The worker's outermost loop: a database busy for a while (another
                # process holds its lock) must not end it. What it held goes back to the
                # queue when the leases run out; try again at the next poll.
                log.warning("job worker cannot use the queue now: %s", exc)
                for job_id in sorted(self.leases.held):
                    self.leases.let_go(job_id)
            next_at = await self.node.store.next_job_at(list(RUNNERS))
            wait = self.node.config.worker_poll_seconds
            if next_at is not None:
                wait = max(0.0, min(wait, next_at - self.node.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.node.jobs_wakeup.wait(), timeout=wait)
            self.node.jobs_wakeup.clear()

    async def run_once(self) -> int:
        jobs = await self.node.store.claim_jobs(list(RUNNERS), self.node.now(),
                                                self.leases.seconds, _BATCH)
        for job in jobs:
            self.leases.hold(job.id)
        try:
            for job in jobs:
                await self._run(job)
                self.leases.let_go(job.id)
        except asyncio.CancelledError:
            # Stopping: what was claimed and not done goes back now, its attempt given
            # back, rather than waiting for its lease to run out.
            for job_id in sorted(self.leases.held):
                await self.node.store.defer_job(job_id, self.node.now(), "worker stopped")
                self.leases.let_go(job_id)
            raise
        return len(jobs)

    async def _run(self, job: Job) -> None:
        try:
            await RUNNERS[job.kind](self.node, json.loads(job.payload))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker's outermost loop: record and reschedule
            log.exception("job %s (%s) failed", job.id, job.kind)
            await self.node.store.retry_job(job.id, self.node.now() + _RETRY, repr(exc))
            return
        await self.node.store.finish_job(job.id)
