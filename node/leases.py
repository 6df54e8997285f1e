"""Job leases that stay alive while their worker does: how several worker processes
share one queue, and how a crashed one's jobs come back.

A claim (``Store.claim_jobs``) locks a job until ``now + lease``; claims honour that
expiry, so a job is never taken while its lease runs. A worker may hold a job longer
than any fixed lease (deliveries wait for their host's concurrency slot, a closing
waits behind the other jobs of its batch), so the worker renews the leases of every
job it still holds every third of a lease. A worker that dies stops renewing, and its
jobs are free again at most one lease later, for any other worker or for itself
restarted.

Why not free every lease at start, as a single process could: with several worker
processes on one database (DESIGN §4), a worker that starts would take the live jobs
of the others, and each would be delivered twice. Why not name the owner in the row:
a restarted process would need a stable identity to recognise its own old leases, and
containers and ``systemctl`` instances do not give one for free. A short renewed
lease needs neither; a restarted single node resumes within ``delivery.lease_seconds``
(30 s by default). A lease renewed after it ran out, when another worker has already
taken the job, leaves both working on it once: delivery is at-least-once anyway, and
receivers dedupe by activity id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from storage.store import Store

__all__ = ["Leases"]

log = logging.getLogger("mutual.leases")


class Leases:
    """The ids of the jobs one worker holds, and the loop that renews their leases."""

    def __init__(self, store: Store, *, seconds: float, now: Callable[[], float]) -> None:
        self.store = store
        self.seconds = seconds
        self.now = now
        self.held: set[int] = set()

    def hold(self, job_id: int) -> None:
        self.held.add(job_id)

    def let_go(self, job_id: int) -> None:
        self.held.discard(job_id)

    async def renew(self) -> int:
        """Push the leases of every held job one lease ahead; how many were renewed."""
        if not self.held:
            return 0
        return await self.store.renew_leases(sorted(self.held), self.now() + self.seconds)

    async def keep_alive(self) -> None:
        """Renew every third of a lease until cancelled (two renewals may fail in a
        row, e.g. a database busy for seconds, before a lease can run out)."""
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:  # a background loop's outermost level: log, try again
                log.exception("renewing %d job leases failed", len(self.held))

    @contextlib.asynccontextmanager
    async def kept_alive(self) -> AsyncIterator[None]:
        """Renew in the background for as long as the block runs."""
        renewing = asyncio.create_task(self.keep_alive())
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
