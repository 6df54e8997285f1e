"""The delivery worker: POSTs queued activities to remote inboxes.

The table is the queue (``jobs``): a job is claimed with a short lease that the worker
renews while it holds the job (node/leases.py), so if the process dies mid-delivery the
lease runs out and the job is taken again, by another worker process or by this one
restarted — the receiver dedupes by activity id, so at-least-once is safe. Failures are
retried on the configured backoff schedule; a host that keeps failing is paused (its
jobs wait, without spending attempts) and, when the pause ends, probed with ONE job
while the others wait for its outcome, like Mastodon's per-host failure tracker. The
pause and the probe live in the database (``hosts``; the probe is taken with
``Store.claim_probe``), so they hold across any number of worker processes. What
stays per process: the per-host concurrency limit (with W workers a host may see W
times ``per_host_concurrency`` requests at once) and the lock that orders this
process's failure bookkeeping (another process's concurrent failure may delay a pause
by one failure, never prevent it: the count only grows). A 410 Gone from
an actor's own inbox means the actor is gone: the job is buried and the actor marked
gone, so later fan-outs skip it.

Time comes from ``now`` (the node's clock unless a test injects one), and ``run_once``
and ``drain`` advance the worker one step at a time, so tests replay days of retries
without sleeping. The ``Date`` header alone is always the wall clock: the receiver
checks it against its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from node.context import USER_AGENT, Node
from node.fetcher import FetchError
from node.leases import Leases
from node.outbox import DELIVER
from protocol.httpsig import sign_cavage
from protocol.vocab import host_of
from storage.records import ActivityRecord, DeleteActor, Job
from storage.store import StorageError

__all__ = ["DeliveryWorker"]

log = logging.getLogger("mutual.delivery")
# The receiver read the request and said no: retrying will not change its mind.
_PERMANENT = {400, 401, 403, 404, 405, 410, 413, 422}
# Only the status matters; a reply is read this far so that the connection can be
# reused, and no further, since a hostile inbox could answer with an endless body.
_MAX_REPLY = 64 * 1024
_FOLLOWERS_PAGE = 500


class DeliveryWorker:
    def __init__(self, node: Node, *, now: Callable[[], float] | None = None) -> None:
        self.node = node
        self.config = node.config
        self.now = now or node.now
        self._per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.config.per_host_concurrency))
        self._tasks: set[asyncio.Task[None]] = set()
        self._bookkeeping: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.leases = Leases(node.store, seconds=self.config.lease_seconds, now=self.now)
        self.delivered = 0
        self.buried = 0

    async def run(self) -> None:
        """Claim due jobs until cancelled; sleeps until the next job is due or a wake-up."""
        async with self.leases.kept_alive():
            await self._loop()

    async def _loop(self) -> None:
        while True:
            try:
                claimed = await self.run_once()
            except StorageError as exc:
                # The worker's outermost loop: a database busy for a while (another
                # process holds its lock) must not end it. Try again at the next poll.
                log.warning("delivery worker cannot claim jobs now: %s", exc)
                claimed = 0
            if claimed:
                continue
            self.node.delivery_wakeup.clear()
            next_at = await self.node.store.next_job_at([DELIVER])
            wait = self.config.worker_poll_seconds
            if next_at is not None:
                wait = max(0.0, min(wait, next_at - self.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.node.delivery_wakeup.wait(), timeout=wait)

    async def run_once(self) -> int:
        """Claim one batch and start delivering it; returns how many were claimed."""
        free = self.config.concurrency - len(self._tasks)
        if free <= 0:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            return 1
        jobs = await self.node.store.claim_jobs([DELIVER], self.now(), self.leases.seconds,
                                                free)
        for job in jobs:
            self.leases.hold(job.id)
            task = asyncio.create_task(self._deliver(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(jobs)

    async def drain(self) -> None:
        """Wait for deliveries in flight (tests and shutdown), their leases kept alive:
        at shutdown some still wait for their host's turn."""
        if not self._tasks:
            return
        async with self.leases.kept_alive():
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self, job: Job) -> None:
        try:
            async with self._per_host[job.host or ""]:
                await self._attempt(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the worker's outermost loop: record and reschedule
            log.exception("delivery job %s failed unexpectedly", job.id)
            await self._failed(job, f"internal: {exc!r}", permanent=False, host_fault=False)
        finally:
            self.leases.let_go(job.id)

    async def _attempt(self, job: Job) -> None:
        """Send now, or wait out the host's pause; after a pause, one job is the probe."""
        host = job.host or ""
        state = await self.node.store.host_state(host)
        now = self.now()
        if state is None or state.paused_until is None:
            await self._send(job, host)
            return
        if state.paused_until > now:
            await self.node.store.defer_job(job.id, state.paused_until,
                                            f"host paused: {state.last_error}")
            self.node.metrics.delivery("deferred")
            return
        # The pause is over: whoever moves it on by one delivery timeout probes, in
        # whichever process; the others look again once the probe has had its answer.
        probe_ends = now + self.config.delivery_timeout
        if not await self.node.store.claim_probe(host, now, probe_ends):
            await self.node.store.defer_job(job.id, probe_ends,
                                            "waiting for the probe of a paused host")
            self.node.metrics.delivery("deferred")
            return
        await self._send(job, host)

    async def _send(self, job: Job, host: str) -> None:
        node = self.node
        payload = json.loads(job.payload)
        if await node.store.is_domain_blocked(host):
            await self._bury(job, "domain blocked")
            return
        activity = await node.store.get_activity(payload["activity"])
        if activity is None:
            await self._bury(job, "activity no longer stored")
            return
        try:
            key_id, key = await node.signer_by_username(payload["signer"])
        except KeyError:
            await self._bury(job, "the signing account no longer exists")
            return
        inbox = payload["inbox"]
        try:
            target = await node.fetcher.guard.target(inbox)
        except FetchError as exc:
            # An address we must never reach will not become reachable; a name that does
            # not resolve today may resolve tomorrow, like any other network failure.
            transient = exc.reason == "dns"
            await self._failed(job, exc.reason, permanent=not transient, host_fault=transient)
            return
        body = activity.document.encode()
        headers = {
            "Content-Type": "application/activity+json",
            "User-Agent": f"{USER_AGENT} (+{self.config.url})",
        }
        headers.update(sign_cavage(method="POST", url=inbox, body=body, key_id=key_id,
                                   private_key=key, now=datetime.now(UTC)))
        try:
            async with await target.open(
                node.session, "POST", data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.config.delivery_timeout),
            ) as response:
                status = response.status
                await _read_some(response)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            await self._failed(job, f"network: {exc!r}", permanent=False)
            return
        if 200 <= status < 300:
            await node.store.finish_job(job.id)
            await node.store.record_host_result(host, ok=True, error=None, paused_until=None)
            self.delivered += 1
            node.metrics.delivery("ok")
            return
        if status not in _PERMANENT:
            await self._failed(job, f"HTTP {status}", permanent=False)
            return
        # The host is up and answered: for its failure tracker that is a success, as
        # Mastodon counts it; only this delivery is given up.
        await node.store.record_host_result(host, ok=True, error=None, paused_until=None)
        if status == 410:
            await self._mark_gone(inbox, activity, payload["signer"])
        await self._bury(job, f"HTTP {status}", outcome="gone" if status == 410 else "buried")

    async def _failed(self, job: Job, error: str, *, permanent: bool,
                      host_fault: bool = True) -> None:
        node = self.node
        schedule = self.config.retry_schedule
        if host_fault and job.host:
            node.metrics.host_failed(job.host)
        if permanent or job.attempts > len(schedule):
            await self._bury(job, error)
            return
        now = self.now()
        delay = schedule[min(job.attempts - 1, len(schedule) - 1)]
        await node.store.retry_job(job.id, now + delay, error)
        node.metrics.delivery("retry")
        if host_fault and job.host:
            # Read, decide and write as one step per host: concurrent failures that all
            # read the same count would each stay below the threshold, and never pause.
            async with self._bookkeeping[job.host]:
                state = await node.store.host_state(job.host)
                failures = (state.failures if state else 0) + 1
                paused = (now + self.config.pause_seconds
                          if failures >= self.config.pause_after_failures else None)
                await node.store.record_host_result(job.host, ok=False, error=error,
                                                    paused_until=paused)

    async def _bury(self, job: Job, error: str, *, outcome: str = "buried") -> None:
        log.info("giving up delivery job %s to %s: %s", job.id, job.host, error)
        await self.node.store.bury_job(job.id, error)
        self.buried += 1
        self.node.metrics.delivery(outcome)

    async def _mark_gone(self, inbox: str, activity: ActivityRecord, signer: str) -> None:
        """Mark the actors whose own inbox answered 410 as gone (DeleteActor: their
        follows end, so fan-out skips them), as a Delete of the actor would.

        Only actors on the inbox's own host, and never for a shared inbox: a host can
        retire its own actors, not anyone else's. The candidates are the activity's
        addressees and the signer's followers, the two ways fan-out picks an inbox.
        """
        store = self.node.store
        host = host_of(inbox)
        candidates = {a for a in activity.audience if _host(a) == host}
        account = await store.get_account(signer)
        cursor: int | None = None
        while account is not None:
            page = await store.follows_page(followee=account.actor_id, follower=None,
                                            cursor=cursor, limit=_FOLLOWERS_PAGE)
            candidates.update(a for a in page.items if _host(a) == host)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        gone = []
        for actor_id in sorted(candidates):
            record = await store.get_actor(actor_id)
            if (record is not None and not record.local and not record.gone
                    and record.inbox == inbox and record.shared_inbox != inbox):
                gone.append(actor_id)
        if gone:
            log.info("%s answered 410 Gone: marking %s gone", inbox, ", ".join(gone))
            await store.apply([DeleteActor(id=actor_id) for actor_id in gone])


async def _read_some(response: aiohttp.ClientResponse) -> None:
    left = _MAX_REPLY
    while left > 0:
        chunk = await response.content.read(left)
        if not chunk:
            return
        left -= len(chunk)


def _host(url: str) -> str | None:
    try:
        return host_of(url)
    except ValueError:  # a port out of range: on no host
        return None
