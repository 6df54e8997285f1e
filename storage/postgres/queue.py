"""The durable job queue and the per-host delivery state, on PostgreSQL.

The table is the queue (``jobs``, as on sqlite): a claim sets a lease
(``locked_until``) and a job is claimable while it is queued, due, and not under a
live lease. Several worker processes claim from one table at once (``serve --role
worker``, DESIGN §4), so a claim is ONE statement that picks due rows ``FOR UPDATE SKIP
LOCKED`` and stamps their lease: a row another claimer is stamping is skipped instead
of waited for, and a row it stamped a moment ago is re-checked on its new version (READ
COMMITTED re-reads a row changed after the statement began) and fails ``locked_until <
now``. No job is handed out twice, and a crashed worker's jobs come back to anyone once
their lease runs out.

Each statement here runs in a transaction of its own (autocommit), which is all a
single statement needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from storage.postgres.engine import PgEngine, rowcount
from storage.records import HostState, Job
from storage.rows import host_state as _host
from storage.rows import job as _job

__all__ = ["QueueStore"]


class QueueStore:
    """Job queue and host state methods of the Store (mixed into PgStore)."""

    engine: PgEngine

    async def claim_jobs(self, kinds: Sequence[str], now: float, lease: float,
                         limit: int) -> list[Job]:
        rows = await self.engine.fetch(
            "WITH due AS (SELECT id FROM jobs WHERE state='queued' AND kind = ANY($1::text[])"
            " AND run_at <= $2 AND (locked_until IS NULL OR locked_until < $2)"
            " ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
            " UPDATE jobs SET locked_until = $4, attempts = jobs.attempts + 1 FROM due"
            " WHERE jobs.id = due.id RETURNING jobs.*",
            list(kinds), now, limit, now + lease)
        return sorted((_job(r) for r in rows), key=lambda j: (j.run_at, j.id))

    async def release_leases(self) -> int:
        """Free the leases that have run out (by the database's clock); never a live one.

        sqlite frees every lease here, an admin's tool for when no worker runs. On
        PostgreSQL other processes share the table, and a live lease is another
        worker's job in flight, renewed while it runs (``renew_leases``): freeing it
        would have that job done twice. A dead worker's leases need nothing either: a
        claim takes a job whose lease is over. So this only tidies: after it, an
        expired lease no longer shows in ``locked_until``."""
        status = await self.engine.execute(
            "UPDATE jobs SET locked_until = NULL WHERE locked_until IS NOT NULL"
            " AND locked_until < EXTRACT(EPOCH FROM clock_timestamp())")
        return rowcount(status)

    async def renew_leases(self, job_ids: Sequence[int], until: float) -> int:
        """Extend the leases of jobs this worker still holds. A job finished, retried or
        deferred meanwhile has no lease (or no row) and is left alone."""
        ids = list(job_ids)
        if not ids:
            return 0
        status = await self.engine.execute(
            "UPDATE jobs SET locked_until=$1 WHERE id = ANY($2::bigint[]) AND state='queued'"
            " AND locked_until IS NOT NULL", until, ids)
        return rowcount(status)

    async def finish_job(self, job_id: int) -> None:
        await self.engine.execute("DELETE FROM jobs WHERE id=$1", job_id)

    async def retry_job(self, job_id: int, run_at: float, error: str) -> None:
        await self.engine.execute(
            "UPDATE jobs SET run_at=$1, locked_until=NULL, last_error=$2 WHERE id=$3",
            run_at, error[:500], job_id)

    async def defer_job(self, job_id: int, run_at: float, error: str) -> None:
        """Put a claimed job back untried (its host is paused): the claim's attempt is
        given back, so waiting out a pause never eats into the retry schedule."""
        await self.engine.execute(
            "UPDATE jobs SET run_at=$1, locked_until=NULL, last_error=$2,"
            " attempts=GREATEST(attempts-1, 0) WHERE id=$3", run_at, error[:500], job_id)

    async def bury_job(self, job_id: int, error: str) -> None:
        await self.engine.execute(
            "UPDATE jobs SET state='dead', locked_until=NULL, last_error=$1 WHERE id=$2",
            error[:500], job_id)

    async def next_job_at(self, kinds: Sequence[str]) -> float | None:
        # GREATEST skips NULLs: an unleased job counts from its run_at, as on sqlite.
        value = await self.engine.fetchval(
            "SELECT MIN(GREATEST(run_at, locked_until)) FROM jobs"
            " WHERE state='queued' AND kind = ANY($1::text[])", list(kinds))
        return float(value) if value is not None else None

    async def count_jobs(self, kind: str | None = None, state: str = "queued") -> int:
        if kind is None:
            return int(await self.engine.fetchval(
                "SELECT COUNT(*) FROM jobs WHERE state=$1", state))
        return int(await self.engine.fetchval(
            "SELECT COUNT(*) FROM jobs WHERE state=$1 AND kind=$2", state, kind))

    async def host_state(self, host: str) -> HostState | None:
        row = await self.engine.fetchrow("SELECT * FROM hosts WHERE host=$1", host)
        return _host(row) if row is not None else None

    async def record_host_result(self, host: str, *, ok: bool, error: str | None,
                                 paused_until: float | None) -> HostState:
        if ok:
            await self.engine.execute("DELETE FROM hosts WHERE host=$1", host)
            return HostState(host=host, failures=0, paused_until=None, last_error=None)
        row = await self.engine.fetchrow(
            "INSERT INTO hosts (host, failures, paused_until, last_error) VALUES ($1,1,$2,$3)"
            " ON CONFLICT (host) DO UPDATE SET failures=hosts.failures+1,"
            " paused_until=EXCLUDED.paused_until, last_error=EXCLUDED.last_error"
            " RETURNING *", host, paused_until, (error or "")[:500])
        assert row is not None  # an upsert always returns its row
        return _host(row)

    async def claim_probe(self, host: str, now: float, until: float) -> bool:
        """Take the one probe of a host whose pause has ended (see ``Store``).

        A compare-and-set in one UPDATE: of two processes racing for it, the second
        waits for the first's row lock, re-checks ``paused_until <= now`` on the row
        the first left (now ``until``), and updates nothing."""
        status = await self.engine.execute(
            "UPDATE hosts SET paused_until=$1 WHERE host=$2 AND paused_until IS NOT NULL"
            " AND paused_until <= $3", until, host, now)
        return rowcount(status) > 0
