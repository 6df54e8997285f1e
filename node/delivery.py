"""The delivery worker: POSTs queued activities to remote inboxes.

The table is the queue (``jobs``): a job is claimed with a lease (``locked_until``), so
if the process dies mid-delivery the lease runs out and the job is taken again — the
receiver dedupes by activity id, so at-least-once is safe. Failures are retried on the
configured backoff schedule; a host that keeps failing is paused (its jobs wait) and
probed with one job when the pause ends, like Mastodon's per-host failure tracker.
A 410 Gone for an actor's inbox means the actor is gone: we stop delivering there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime

import aiohttp

from node.context import USER_AGENT, Node
from node.fetcher import FetchError, check_address
from node.outbox import DELIVER
from protocol.httpsig import sign_cavage
from storage.records import Job

__all__ = ["DeliveryWorker"]

log = logging.getLogger("mutual.delivery")
_LEASE = 120.0
_PERMANENT = {400, 401, 403, 404, 405, 410, 413, 422}


class DeliveryWorker:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.config = node.config
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.config.per_host_concurrency))
        self._slots = asyncio.Semaphore(self.config.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0

    async def run(self) -> None:
        """Claim due jobs until cancelled; sleeps until the next job is due or a wake-up."""
        while True:
            claimed = await self.run_once()
            if claimed:
                continue
            self.node.delivery_wakeup.clear()
            next_at = await self.node.store.next_job_at([DELIVER])
            wait = self.config.worker_poll_seconds
            if next_at is not None:
                wait = max(0.0, min(wait, next_at - self.node.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.node.delivery_wakeup.wait(), timeout=wait)

    async def run_once(self) -> int:
        """Claim one batch and start delivering it; returns how many were claimed."""
        free = self.config.concurrency - len(self._tasks)
        if free <= 0:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            return 1
        jobs = await self.node.store.claim_jobs([DELIVER], self.node.now(), _LEASE, free)
        for job in jobs:
            task = asyncio.create_task(self._deliver(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(jobs)

    async def drain(self) -> None:
        """Wait for deliveries in flight (tests and shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self, job: Job) -> None:
        try:
            async with self._per_host[job.host or ""]:
                await self._attempt(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker's outermost loop: record and reschedule
            log.exception("delivery job %s failed unexpectedly", job.id)
            await self._failed(job, f"internal: {exc!r}", permanent=False)

    async def _attempt(self, job: Job) -> None:
        node = self.node
        payload = json.loads(job.payload)
        host = job.host or ""
        state = await node.store.host_state(host)
        now = node.now()
        if state is not None and state.paused_until is not None and state.paused_until > now:
            # Paused: wait for the pause to end; the first job after it is the probe.
            await node.store.retry_job(job.id, state.paused_until, state.last_error or "paused")
            return
        if await node.store.is_domain_blocked(host):
            await node.store.bury_job(job.id, "domain blocked")
            return
        activity = await node.store.get_activity(payload["activity"])
        if activity is None:
            await node.store.bury_job(job.id, "activity no longer stored")
            return
        body = activity.document.encode()
        inbox = payload["inbox"]
        key_id, key = await node.signer_by_username(payload["signer"])
        headers = {
            "Content-Type": "application/activity+json",
            "User-Agent": f"{USER_AGENT} (+{self.config.url})",
        }
        headers.update(sign_cavage(method="POST", url=inbox, body=body, key_id=key_id,
                                   private_key=key, now=datetime.now(UTC)))
        try:
            await self._check_target(inbox)
            async with node.session.post(
                inbox, data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.config.delivery_timeout),
            ) as response:
                status = response.status
                await response.read()
        except FetchError as exc:
            await self._failed(job, exc.reason, permanent=True)
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._failed(job, f"network: {exc!r}", permanent=False)
            return
        if 200 <= status < 300:
            await node.store.finish_job(job.id)
            await node.store.record_host_result(host, ok=True, error=None, paused_until=None)
            self.delivered += 1
            return
        # A 4xx means the receiver read it and said no: retrying will not change that.
        permanent = status in _PERMANENT
        await self._failed(job, f"HTTP {status}", permanent=permanent, host_fault=not permanent)

    async def _check_target(self, inbox: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(inbox)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await check_address(parts.hostname or "", port,
                            allow_private=self.config.allow_private_addresses)

    async def _failed(self, job: Job, error: str, *, permanent: bool,
                      host_fault: bool = True) -> None:
        node = self.node
        schedule = self.config.retry_schedule
        if permanent or job.attempts > len(schedule):
            log.info("giving up delivery job %s to %s: %s", job.id, job.host, error)
            await node.store.bury_job(job.id, error)
            return
        delay = schedule[min(job.attempts - 1, len(schedule) - 1)]
        await node.store.retry_job(job.id, node.now() + delay, error)
        if host_fault and job.host:
            state = await node.store.host_state(job.host)
            failures = (state.failures if state else 0) + 1
            paused = (node.now() + self.config.pause_seconds
                      if failures >= self.config.pause_after_failures else None)
            await node.store.record_host_result(job.host, ok=False, error=error,
                                                paused_until=paused)
