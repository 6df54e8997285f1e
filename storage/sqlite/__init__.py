"""The embedded sqlite engine (WAL), the default for a node in one process."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from storage.records import (
    AccountRecord,
    ActivityRecord,
    ActorRecord,
    ApplyResult,
    FollowRecord,
    HostState,
    Job,
    ObjectRecord,
    Op,
    Page,
    TokenRecord,
)
from storage.rows import account as _account
from storage.rows import activity as _activity
from storage.rows import actor as _actor
from storage.rows import host_state as _host_state
from storage.rows import job as _job
from storage.rows import object_ as _object
from storage.rows import page as _page
from storage.sqlite.api import ApiReads
from storage.sqlite.engine import SqliteEngine
from storage.sqlite.governance import GovernanceReads
from storage.sqlite.oauth import OAuthReads, token_record
from storage.sqlite.writes import apply_or_skip

__all__ = ["SqliteStore", "open_sqlite"]


async def open_sqlite(path: Path | str) -> SqliteStore:
    store = SqliteStore(SqliteEngine(path))
    await store.engine.open()
    return store


_MAX_SEQ = 2**62


class SqliteStore(GovernanceReads, ApiReads, OAuthReads):
    """``storage.store.Store`` over one sqlite file."""

    def __init__(self, engine: SqliteEngine) -> None:
        self.engine = engine

    async def close(self) -> None:
        await self.engine.close()

    async def apply(self, ops: Sequence[Op]) -> ApplyResult:
        ops = list(ops)
        return await self.engine.write(lambda conn: apply_or_skip(conn, ops))

    def _point(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Row | None:
        """One row by primary key or unique index, read in place (see the engine)."""
        rows = self.engine.point(sql, args)
        return rows[0] if rows else None

    async def _one(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Row | None:
        rows: list[sqlite3.Row] = await self.engine.read(
            lambda conn: conn.execute(sql, args).fetchall()
        )
        return rows[0] if rows else None

    async def _all(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return await self.engine.read(lambda conn: conn.execute(sql, args).fetchall())

    def _scalar_now(self, sql: str, args: tuple[Any, ...]) -> Any:
        row = self._point(sql, args)
        return row[0] if row is not None else None

    async def _scalar(self, sql: str, args: tuple[Any, ...]) -> Any:
        row = await self._one(sql, args)
        return row[0] if row is not None else None

    # accounts, actors, keys, tokens --------------------------------------------------

    async def get_account(self, username: str) -> AccountRecord | None:
        row = self._point("SELECT * FROM accounts WHERE username=?", (username.lower(),))
        return _account(row) if row else None

    async def get_account_by_actor(self, actor_id: str) -> AccountRecord | None:
        row = self._point("SELECT * FROM accounts WHERE actor_id=?", (actor_id,))
        return _account(row) if row else None

    async def get_actor(self, actor_id: str) -> ActorRecord | None:
        row = self._point("SELECT * FROM actors WHERE id=?", (actor_id,))
        return _actor(row) if row else None

    async def get_key(self, key_id: str) -> tuple[str, str] | None:
        row = self._point("SELECT owner, pem FROM keys WHERE id=?", (key_id,))
        return (row["owner"], row["pem"]) if row else None

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        row = self._point("SELECT * FROM tokens WHERE token_hash=?", (token_hash,))
        return token_record(row) if row else None

    async def count_local_accounts(self) -> int:
        return int(await self._scalar(
            "SELECT COUNT(*) FROM accounts WHERE kind='person'", ()) or 0)

    async def count_local_posts(self) -> int:
        return int(await self._scalar(
            "SELECT COUNT(*) FROM objects WHERE local=1 AND deleted_at IS NULL", ()) or 0)

    # activities and objects ------------------------------------------------------

    async def get_activity(self, activity_id: str) -> ActivityRecord | None:
        row = self._point("SELECT * FROM activities WHERE id=?", (activity_id,))
        return _activity(row) if row else None

    async def has_activity(self, activity_id: str) -> bool:
        return self._point("SELECT 1 FROM activities WHERE id=?", (activity_id,)) is not None

    async def get_object(self, object_id: str) -> ObjectRecord | None:
        row = self._point("SELECT * FROM objects WHERE id=?", (object_id,))
        return _object(row) if row else None

    async def replies(self, object_id: str, limit: int) -> list[ObjectRecord]:
        rows = await self._all(
            "SELECT * FROM objects WHERE in_reply_to=? AND deleted_at IS NULL"
            " ORDER BY seq LIMIT ?", (object_id, limit))
        return [_object(r) for r in rows]

    async def count_reactions(self, object_id: str, kind: str) -> int:
        return int(await self._scalar(
            "SELECT COUNT(*) FROM reactions WHERE object_id=? AND kind=?", (object_id, kind)))

    async def find_reaction_activity(self, kind: str, actor: str, object_id: str) -> str | None:
        value = self._scalar_now(
            "SELECT activity_id FROM reactions WHERE kind=? AND actor=? AND object_id=?",
            (kind, actor, object_id))
        return str(value) if value is not None else None

    async def find_activity(self, actor: str, type_: str, object_id: str) -> str | None:
        # Not a point read: the index narrows to every activity of this type on the
        # object (all the Likes of a popular post), then filters by actor.
        value = await self._scalar(
            "SELECT id FROM activities WHERE object_id=? AND type=? AND actor=?"
            " ORDER BY seq DESC LIMIT 1", (object_id, type_, actor))
        return str(value) if value is not None else None

    # collections -------------------------------------------------------------------

    async def inbox_page(self, owner: str, cursor: int | None,
                         limit: int) -> Page[ActivityRecord]:
        rows = await self._all(
            "SELECT a.* FROM inbox i JOIN activities a ON a.seq = i.activity_seq"
            " WHERE i.owner=? AND i.activity_seq < ? ORDER BY i.activity_seq DESC LIMIT ?",
            (owner, cursor or _MAX_SEQ, limit + 1))
        total = await self._scalar("SELECT COUNT(*) FROM inbox WHERE owner=?", (owner,))
        return _page(rows, limit, _activity, int(total))

    async def outbox_page(self, actor: str, visibilities: Sequence[str], cursor: int | None,
                          limit: int) -> Page[ActivityRecord]:
        marks = ",".join("?" * len(visibilities))
        args = (actor, *visibilities)
        rows = await self._all(
            f"SELECT * FROM activities WHERE actor=? AND local=1 AND visibility IN ({marks})"
            " AND seq < ? ORDER BY seq DESC LIMIT ?", (*args, cursor or _MAX_SEQ, limit + 1))
        total = await self._scalar(
            f"SELECT COUNT(*) FROM activities WHERE actor=? AND local=1"
            f" AND visibility IN ({marks})", args)
        return _page(rows, limit, _activity, int(total))

    async def liked_page(self, actor: str, cursor: int | None, limit: int) -> Page[str]:
        rows = await self._all(
            "SELECT seq, object_id FROM reactions WHERE actor=? AND kind='like' AND seq < ?"
            " ORDER BY seq DESC LIMIT ?", (actor, cursor or _MAX_SEQ, limit + 1))
        total = await self._scalar(
            "SELECT COUNT(*) FROM reactions WHERE actor=? AND kind='like'", (actor,))
        return _page(rows, limit, lambda r: r["object_id"], int(total))

    async def follows_page(self, *, followee: str | None, follower: str | None,
                           cursor: int | None, limit: int) -> Page[str]:
        if followee is not None:
            where, arg, column = "followee=?", followee, "follower"
        elif follower is not None:
            where, arg, column = "follower=?", follower, "followee"
        else:
            raise ValueError("followee or follower is required")
        rows = await self._all(
            f"SELECT seq, {column} AS other FROM follows WHERE {where} AND state='accepted'"
            " AND seq < ? ORDER BY seq DESC LIMIT ?", (arg, cursor or _MAX_SEQ, limit + 1))
        total = await self._scalar(
            f"SELECT COUNT(*) FROM follows WHERE {where} AND state='accepted'", (arg,))
        return _page(rows, limit, lambda r: r["other"], int(total))

    # social graph ------------------------------------------------------------------

    async def get_follow(self, follower: str, followee: str) -> FollowRecord | None:
        row = self._point(
            "SELECT * FROM follows WHERE follower=? AND followee=?", (follower, followee))
        if row is None:
            return None
        return FollowRecord(
            follower=row["follower"], followee=row["followee"],
            activity_id=row["activity_id"], state=row["state"], created_at=row["created_at"],
        )

    async def local_followers(self, followee: str) -> list[str]:
        rows = await self._all(
            "SELECT f.follower FROM follows f JOIN actors a ON a.id = f.follower"
            " WHERE f.followee=? AND f.state='accepted' AND a.local=1", (followee,))
        return [r[0] for r in rows]

    async def remote_follower_inboxes(self, followee: str) -> list[str]:
        rows = await self._all(
            "SELECT DISTINCT COALESCE(a.shared_inbox, a.inbox) FROM follows f"
            " JOIN actors a ON a.id = f.follower"
            " WHERE f.followee=? AND f.state='accepted' AND a.local=0 AND a.gone=0",
            (followee,))
        return [r[0] for r in rows]

    async def is_blocked(self, actor: str, target: str) -> bool:
        return self._point(
            "SELECT 1 FROM blocks WHERE actor=? AND target=?", (actor, target)) is not None

    async def is_domain_blocked(self, domain: str) -> bool:
        return self._point(
            "SELECT 1 FROM domain_blocks WHERE domain=?", (domain.lower(),)) is not None

    async def blocked_domains(self) -> list[str]:
        return [r[0] for r in await self._all(
            "SELECT domain FROM domain_blocks ORDER BY domain", ())]

    # job queue ---------------------------------------------------------------------

    async def claim_jobs(self, kinds: Sequence[str], now: float, lease: float,
                         limit: int) -> list[Job]:
        marks = ",".join("?" * len(kinds))

        def claim(conn: sqlite3.Connection) -> list[Job]:
            rows = conn.execute(
                "UPDATE jobs SET locked_until=?, attempts=attempts+1 WHERE id IN ("
                f" SELECT id FROM jobs WHERE state='queued' AND kind IN ({marks})"
                " AND run_at<=? AND (locked_until IS NULL OR locked_until<?)"
                " ORDER BY run_at, id LIMIT ?) RETURNING *",
                (now + lease, *kinds, now, now, limit)).fetchall()
            return sorted((_job(r) for r in rows), key=lambda j: (j.run_at, j.id))

        return await self.engine.write(claim)

    async def release_leases(self) -> int:
        """Free every claimed job, live or not: only for an admin who knows that no
        worker runs. The node no longer calls it at start (several worker processes
        may share one database); short renewed leases bring a crashed worker's jobs
        back instead (``renew_leases``)."""
        def release(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE jobs SET locked_until=NULL WHERE locked_until IS NOT NULL").rowcount

        return await self.engine.write(release)

    async def renew_leases(self, job_ids: Sequence[int], until: float) -> int:
        """Extend the leases of jobs this worker still holds. A job finished, retried or
        deferred meanwhile has no lease (or no row) and is left alone."""
        ids = list(job_ids)
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        return await self.engine.write(lambda conn: conn.execute(
            f"UPDATE jobs SET locked_until=? WHERE id IN ({marks}) AND state='queued'"
            " AND locked_until IS NOT NULL", (until, *ids)).rowcount)

    async def finish_job(self, job_id: int) -> None:
        await self.engine.write(
            lambda conn: conn.execute("DELETE FROM jobs WHERE id=?", (job_id,)))

    async def retry_job(self, job_id: int, run_at: float, error: str) -> None:
        await self.engine.write(lambda conn: conn.execute(
            "UPDATE jobs SET run_at=?, locked_until=NULL, last_error=? WHERE id=?",
            (run_at, error[:500], job_id)))

    async def defer_job(self, job_id: int, run_at: float, error: str) -> None:
        """Put a claimed job back untried (its host is paused): the claim's attempt is
        given back, so waiting out a pause never eats into the retry schedule."""
        await self.engine.write(lambda conn: conn.execute(
            "UPDATE jobs SET run_at=?, locked_until=NULL, last_error=?,"
            " attempts=MAX(attempts-1, 0) WHERE id=?", (run_at, error[:500], job_id)))

    async def bury_job(self, job_id: int, error: str) -> None:
        await self.engine.write(lambda conn: conn.execute(
            "UPDATE jobs SET state='dead', locked_until=NULL, last_error=? WHERE id=?",
            (error[:500], job_id)))

    async def next_job_at(self, kinds: Sequence[str]) -> float | None:
        marks = ",".join("?" * len(kinds))
        value = await self._scalar(
            f"SELECT MIN(COALESCE(MAX(run_at, locked_until), run_at)) FROM jobs"
            f" WHERE state='queued' AND kind IN ({marks})", tuple(kinds))
        return float(value) if value is not None else None

    async def count_jobs(self, kind: str | None = None, state: str = "queued") -> int:
        if kind is None:
            return int(await self._scalar("SELECT COUNT(*) FROM jobs WHERE state=?", (state,)))
        return int(await self._scalar(
            "SELECT COUNT(*) FROM jobs WHERE state=? AND kind=?", (state, kind)))

    async def host_state(self, host: str) -> HostState | None:
        row = self._point("SELECT * FROM hosts WHERE host=?", (host,))
        if row is None:
            return None
        return _host_state(row)

    async def record_host_result(self, host: str, *, ok: bool, error: str | None,
                                 paused_until: float | None) -> HostState:
        def record(conn: sqlite3.Connection) -> HostState:
            if ok:
                conn.execute("DELETE FROM hosts WHERE host=?", (host,))
                return HostState(host=host, failures=0, paused_until=None, last_error=None)
            row = conn.execute(
                "INSERT INTO hosts (host, failures, paused_until, last_error) VALUES (?,1,?,?)"
                " ON CONFLICT (host) DO UPDATE SET failures=hosts.failures+1,"
                " paused_until=excluded.paused_until, last_error=excluded.last_error"
                " RETURNING *", (host, paused_until, (error or "")[:500])).fetchone()
            return _host_state(row)

        return await self.engine.write(record)

    async def claim_probe(self, host: str, now: float, until: float) -> bool:
        """Take the one probe of a host whose pause has ended (see ``Store``)."""
        return bool(await self.engine.write(lambda conn: conn.execute(
            "UPDATE hosts SET paused_until=? WHERE host=? AND paused_until IS NOT NULL"
            " AND paused_until<=?", (until, host, now)).rowcount))
