"""The job worker for everything that is not a delivery: closing proposals,
publishing their live counts, and closing members' own polls.

Same queue, same leases as deliveries (a killed process's jobs are taken over), but
its own loop, so a backlog of deliveries never delays a proposal's closing.
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
from storage.records import Job

__all__ = ["JobWorker"]

log = logging.getLogger("mutual.jobs")
_LEASE = 120.0
_RETRY = 5.0


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

    async def run(self) -> None:
        while True:
            if await self.run_once():
                continue
            next_at = await self.node.store.next_job_at(list(RUNNERS))
            wait = self.node.config.worker_poll_seconds
            if next_at is not None:
                wait = max(0.0, min(wait, next_at - self.node.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.node.jobs_wakeup.wait(), timeout=wait)
            self.node.jobs_wakeup.clear()

    async def run_once(self) -> int:
        jobs = await self.node.store.claim_jobs(list(RUNNERS), self.node.now(), _LEASE, 8)
        for job in jobs:
            await self._run(job)
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
