"""The PostgreSQL engine (asyncpg), for a node scaled out over several processes.

``PgStore`` answers exactly as ``SqliteStore`` does (the contract suite in
tests/storage/ runs on both): same records, same errors, same dedupe, same order and
pages. Where sqlite relied on being the only writer, this engine says so in SQL (see
storage/postgres/engine.py, queue.py and governance.py). One documented difference:
``release_leases`` frees only expired leases, since other processes' leases are live.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from storage.postgres.api import ApiReads
from storage.postgres.channel import Listener, broadcast
from storage.postgres.engine import PgEngine
from storage.postgres.governance import GovernanceReads
from storage.postgres.oauth import OAuthReads
from storage.postgres.queue import QueueStore
from storage.postgres.writes import Duplicate, apply_ops
from storage.records import (
    AccountRecord,
    ActivityRecord,
    ActorRecord,
    ApplyResult,
    FollowRecord,
    ObjectRecord,
    Op,
    Page,
    TokenRecord,
)
from storage.rows import account as _account
from storage.rows import activity as _activity
from storage.rows import actor as _actor
from storage.rows import object_ as _object
from storage.rows import page as _page
from storage.rows import token as _token

__all__ = ["PgStore", "open_postgres"]


async def open_postgres(dsn: str, *, min_size: int = 1, max_size: int = 10) -> PgStore:
    store = PgStore(PgEngine(dsn, min_size=min_size, max_size=max_size))
    await store.engine.open()
    return store


_MAX_SEQ = 2**62


class PgStore(QueueStore, GovernanceReads, ApiReads, OAuthReads):
    """``storage.store.Store`` over one PostgreSQL database, shared by any number of
    node processes."""

    def __init__(self, engine: PgEngine) -> None:
        self.engine = engine
        self._listener: Listener | None = None

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        await self.engine.close()

    # Between the node's processes (storage/postgres/channel.py); sqlite has no such
    # channel, and a sqlite node has one web process.

    async def broadcast(self, payloads: Sequence[str]) -> None:
        await broadcast(self.engine, payloads)

    async def listen(self, on_message: Callable[[str], None]) -> None:
        if self._listener is None:
            self._listener = Listener(self.engine.dsn, on_message)
            await self._listener.start()

    async def apply(self, ops: Sequence[Op]) -> ApplyResult:
        ops = list(ops)
        try:
            return await self.engine.write(lambda conn: apply_ops(conn, ops))
        except Duplicate:  # the transaction has rolled back: nothing of ``ops`` stays
            return ApplyResult(applied=False)

    async def _count(self, sql: str, *args: Any) -> int:
        return int(await self.engine.fetchval(sql, *args) or 0)

    # accounts, actors, keys, tokens --------------------------------------------------

    async def get_account(self, username: str) -> AccountRecord | None:
        row = await self.engine.fetchrow(
            "SELECT * FROM accounts WHERE username=$1", username.lower())
        return _account(row) if row else None

    async def get_account_by_actor(self, actor_id: str) -> AccountRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM accounts WHERE actor_id=$1", actor_id)
        return _account(row) if row else None

    async def get_actor(self, actor_id: str) -> ActorRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM actors WHERE id=$1", actor_id)
        return _actor(row) if row else None

    async def get_key(self, key_id: str) -> tuple[str, str] | None:
        row = await self.engine.fetchrow("SELECT owner, pem FROM keys WHERE id=$1", key_id)
        return (row["owner"], row["pem"]) if row else None

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM tokens WHERE token_hash=$1", token_hash)
        return _token(row) if row else None

    async def count_local_accounts(self) -> int:
        return await self._count("SELECT COUNT(*) FROM accounts WHERE kind='person'")

    async def count_local_posts(self) -> int:
        return await self._count(
            "SELECT COUNT(*) FROM objects WHERE local=1 AND deleted_at IS NULL")

    # activities and objects ------------------------------------------------------

    async def get_activity(self, activity_id: str) -> ActivityRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM activities WHERE id=$1", activity_id)
        return _activity(row) if row else None

    async def has_activity(self, activity_id: str) -> bool:
        row = await self.engine.fetchrow("SELECT 1 FROM activities WHERE id=$1", activity_id)
        return row is not None

    async def get_object(self, object_id: str) -> ObjectRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM objects WHERE id=$1", object_id)
        return _object(row) if row else None

    async def replies(self, object_id: str, limit: int) -> list[ObjectRecord]:
        rows = await self.engine.fetch(
            "SELECT * FROM objects WHERE in_reply_to=$1 AND deleted_at IS NULL"
            " ORDER BY seq LIMIT $2", object_id, limit)
        return [_object(r) for r in rows]

    async def count_reactions(self, object_id: str, kind: str) -> int:
        return await self._count(
            "SELECT COUNT(*) FROM reactions WHERE object_id=$1 AND kind=$2", object_id, kind)

    async def find_reaction_activity(self, kind: str, actor: str, object_id: str) -> str | None:
        value = await self.engine.fetchval(
            "SELECT activity_id FROM reactions WHERE kind=$1 AND actor=$2 AND object_id=$3",
            kind, actor, object_id)
        return str(value) if value is not None else None

    async def find_activity(self, actor: str, type_: str, object_id: str) -> str | None:
        value = await self.engine.fetchval(
            "SELECT id FROM activities WHERE object_id=$1 AND type=$2 AND actor=$3"
            " ORDER BY seq DESC LIMIT 1", object_id, type_, actor)
        return str(value) if value is not None else None

    # collections (newest first; cursor = the seq to continue below) -----------------

    async def inbox_page(self, owner: str, cursor: int | None,
                         limit: int) -> Page[ActivityRecord]:
        rows = await self.engine.fetch(
            "SELECT a.* FROM inbox i JOIN activities a ON a.seq = i.activity_seq"
            " WHERE i.owner=$1 AND i.activity_seq < $2 ORDER BY i.activity_seq DESC LIMIT $3",
            owner, cursor or _MAX_SEQ, limit + 1)
        total = await self._count("SELECT COUNT(*) FROM inbox WHERE owner=$1", owner)
        return _page(rows, limit, _activity, total)

    async def outbox_page(self, actor: str, visibilities: Sequence[str], cursor: int | None,
                          limit: int) -> Page[ActivityRecord]:
        where = "actor=$1 AND local=1 AND visibility = ANY($2::text[])"
        shown = list(visibilities)
        rows = await self.engine.fetch(
            f"SELECT * FROM activities WHERE {where} AND seq < $3 ORDER BY seq DESC LIMIT $4",
            actor, shown, cursor or _MAX_SEQ, limit + 1)
        total = await self._count(f"SELECT COUNT(*) FROM activities WHERE {where}",
                                  actor, shown)
        return _page(rows, limit, _activity, total)

    async def liked_page(self, actor: str, cursor: int | None, limit: int) -> Page[str]:
        rows = await self.engine.fetch(
            "SELECT seq, object_id FROM reactions WHERE actor=$1 AND kind='like' AND seq < $2"
            " ORDER BY seq DESC LIMIT $3", actor, cursor or _MAX_SEQ, limit + 1)
        total = await self._count(
            "SELECT COUNT(*) FROM reactions WHERE actor=$1 AND kind='like'", actor)
        return _page(rows, limit, lambda r: r["object_id"], total)

    async def follows_page(self, *, followee: str | None, follower: str | None,
                           cursor: int | None, limit: int) -> Page[str]:
        if followee is not None:
            where, arg, column = "followee=$1", followee, "follower"
        elif follower is not None:
            where, arg, column = "follower=$1", follower, "followee"
        else:
            raise ValueError("followee or follower is required")
        rows = await self.engine.fetch(
            f"SELECT seq, {column} AS other FROM follows WHERE {where} AND state='accepted'"
            " AND seq < $2 ORDER BY seq DESC LIMIT $3", arg, cursor or _MAX_SEQ, limit + 1)
        total = await self._count(
            f"SELECT COUNT(*) FROM follows WHERE {where} AND state='accepted'", arg)
        return _page(rows, limit, lambda r: r["other"], total)

    # social graph ------------------------------------------------------------------

    async def get_follow(self, follower: str, followee: str) -> FollowRecord | None:
        row = await self.engine.fetchrow(
            "SELECT * FROM follows WHERE follower=$1 AND followee=$2", follower, followee)
        if row is None:
            return None
        return FollowRecord(
            follower=row["follower"], followee=row["followee"],
            activity_id=row["activity_id"], state=row["state"], created_at=row["created_at"],
        )

    async def local_followers(self, followee: str) -> list[str]:
        # In the order the follows were made: the order sqlite's index scan gives.
        rows = await self.engine.fetch(
            "SELECT f.follower FROM follows f JOIN actors a ON a.id = f.follower"
            " WHERE f.followee=$1 AND f.state='accepted' AND a.local=1 ORDER BY f.seq",
            followee)
        return [r[0] for r in rows]

    async def remote_follower_inboxes(self, followee: str) -> list[str]:
        rows = await self.engine.fetch(
            "SELECT COALESCE(a.shared_inbox, a.inbox) FROM follows f"
            " JOIN actors a ON a.id = f.follower"
            " WHERE f.followee=$1 AND f.state='accepted' AND a.local=0 AND a.gone=0"
            " GROUP BY 1 ORDER BY MIN(f.seq)", followee)
        return [r[0] for r in rows]

    async def is_blocked(self, actor: str, target: str) -> bool:
        row = await self.engine.fetchrow(
            "SELECT 1 FROM blocks WHERE actor=$1 AND target=$2", actor, target)
        return row is not None

    async def is_domain_blocked(self, domain: str) -> bool:
        row = await self.engine.fetchrow(
            "SELECT 1 FROM domain_blocks WHERE domain=$1", domain.lower())
        return row is not None

    async def blocked_domains(self) -> list[str]:
        rows = await self.engine.fetch(
            'SELECT domain FROM domain_blocks ORDER BY domain COLLATE "C"')
        return [r[0] for r in rows]
