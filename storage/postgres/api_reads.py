"""PostgreSQL reads for the client API (mixed into PgStore).

The twin of storage/sqlite/api_reads.py, answer for answer: point lookups go straight
to the pool; a page runs its few statements (the page's keys, then the statuses and
accounts they show) on one connection in one snapshot (``api_views.snapshot``). Every
timeline is a descending range scan over an integer key with an index behind it.

Text that sqlite compares case-insensitively (``COLLATE NOCASE``, ``LIKE``) is folded
here under the "C" collation, which folds ASCII letters only, as sqlite does; text it
orders is ordered under "C" too (bytes, like sqlite's BINARY), whatever the locale
the database was created with.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from storage.api import (
    AccountView,
    Keyed,
    NotificationView,
    PageQuery,
    RelationshipView,
    StatusBundle,
    StatusRecord,
    TimelineQuery,
)
from storage.postgres.api_views import (
    Params,
    load_accounts,
    load_statuses,
    page_clause,
    snapshot,
    timeline_sql,
)
from storage.postgres.engine import PgEngine

__all__ = ["ApiReads"]

_MAX_ANCESTORS = 40
_MAX_DESCENDANTS = 4096
_ACCOUNT_TYPES = "('Person', 'Group', 'Service', 'Organization')"


def _c_string(text: str) -> str:
    """Text as sqlite reads it where it walks C strings (a LIKE pattern, a value
    decoded from JSON): up to the first NUL. PostgreSQL text cannot hold a NUL at all,
    so the rest is dropped before sending.

    >>> _c_string("ab\\x00cd%")
    'ab'
    """
    return text.partition("\x00")[0]


def _keyed(rows: list[asyncpg.Record], ascending: bool) -> list[tuple[int, int]]:
    pairs = [(int(r[0]), int(r[1])) for r in rows]
    return pairs[::-1] if ascending else pairs


def _status(row: asyncpg.Record) -> StatusRecord:
    return StatusRecord(id=row["id"], object_id=row["object_id"], account=row["account"],
                        reblog_activity=row["reblog_activity"], local=bool(row["local"]),
                        visibility=row["visibility"], created_at=row["created_at"])


def _depth_first(object_id: str, rows: list[asyncpg.Record]) -> list[int]:
    """Descendant status ids depth first, oldest reply first, as Mastodon orders a
    thread; ``rows`` are (status id, parent, object id) ordered by status id."""
    children: dict[str, list[tuple[int, str]]] = {}
    for status_id, parent, child in rows:
        children.setdefault(parent, []).append((status_id, child))
    descendants: list[int] = []
    stack = list(reversed(children.get(object_id, [])))
    seen: set[str] = set()
    while stack:
        status_id, child = stack.pop()
        if child in seen:
            continue
        seen.add(child)
        descendants.append(status_id)
        stack.extend(reversed(children.get(child, [])))
    return descendants


class ApiReads:
    """Store reads for the client API (mixed into PgStore)."""

    engine: PgEngine

    # accounts ------------------------------------------------------------------------

    async def api_account_id(self, actor_id: str) -> int | None:
        value = await self.engine.fetchval("SELECT rowid FROM actors WHERE id=$1", actor_id)
        return int(value) if value is not None else None

    async def api_actor_id(self, account_id: int) -> str | None:
        value = await self.engine.fetchval("SELECT id FROM actors WHERE rowid=$1",
                                           int(account_id))
        return str(value) if value is not None else None

    async def api_accounts(self, actor_ids: Sequence[str], viewer: str | None = None
                           ) -> dict[str, AccountView]:
        async with self.engine.acquire() as conn:  # one statement: no transaction
            return await load_accounts(conn, actor_ids, viewer)  # type: ignore[arg-type]

    async def api_actor_by_acct(self, username: str, host: str | None) -> str | None:
        if host is None:
            value = await self.engine.fetchval(
                "SELECT actor_id FROM accounts WHERE username=$1 AND kind != 'application'",
                username.lower())
        else:
            # Ties (one name twice on a host) go to the oldest actor, as sqlite's
            # index walk (name, then rowid) does.
            value = await self.engine.fetchval(
                "SELECT id FROM actors WHERE lower(username COLLATE \"C\")"
                " = lower($1::text COLLATE \"C\") AND host=$2 AND local=0 AND gone=0"
                " ORDER BY rowid LIMIT 1", username, host.lower())
        return str(value) if value is not None else None

    async def api_search_accounts(self, query: str, *, limit: int, offset: int,
                                  following_of: str | None) -> list[AccountView]:
        name, _, host = query.lstrip("@").partition("@")
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params = Params()
        prefix = params.add(_c_string(f"{escaped}%"))
        contains = params.add(_c_string(f"%{escaped}%"))
        # ILIKE under "C" folds ASCII only, like sqlite's LIKE; its escape is '\'.
        clauses = ["a.gone = 0", "a.username IS NOT NULL", f"a.type IN {_ACCOUNT_TYPES}",
                   f"(a.username ILIKE ({prefix}::text COLLATE \"C\") OR"
                   f" (jsonb_doc(a.document) ->> 'name') ILIKE ({contains}::text"
                   " COLLATE \"C\"))"]
        if host:  # sqlite's LIKE here has no escape character: '\' is itself
            clauses.append(f"a.host ILIKE ({params.add(_c_string(f'{host.lower()}%'))}::text"
                           " COLLATE \"C\") ESCAPE ''")
        if following_of is not None:
            clauses.append(f"EXISTS (SELECT 1 FROM follows WHERE follower ="
                           f" {params.add(following_of)}::text AND followee = a.id"
                           " AND state = 'accepted')")
        # sqlite leaves equal names in table (rowid) order; here that order is asked for.
        sql = ("SELECT a.id FROM actors a WHERE " + " AND ".join(clauses)
               + " ORDER BY a.local DESC, a.username COLLATE \"C\", a.rowid"
               + f" LIMIT {params.add(int(limit))} OFFSET {params.add(int(offset))}")

        async def read(conn: asyncpg.Connection) -> list[AccountView]:
            ids = [r[0] for r in await conn.fetch(sql, *params.values)]
            found = await load_accounts(conn, ids, following_of)
            return [found[i] for i in ids if i in found]

        return await snapshot(self.engine, read)

    async def api_search_tags(self, prefix: str, limit: int, offset: int) -> list[str]:
        rows = await self.engine.fetch(
            "SELECT DISTINCT name FROM tags WHERE name >= $1 AND name < $2 ORDER BY name"
            " LIMIT $3 OFFSET $4", prefix, prefix + "\U0010ffff", int(limit), int(offset))
        return [r[0] for r in rows]

    # statuses ------------------------------------------------------------------------

    async def get_status(self, status_id: int) -> StatusRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM statuses WHERE id=$1", int(status_id))
        return _status(row) if row else None

    async def status_for_object(self, object_id: str) -> int | None:
        value = await self.engine.fetchval(
            "SELECT id FROM statuses WHERE object_id=$1 AND reblog_activity IS NULL",
            object_id)
        return int(value) if value is not None else None

    async def reblog_of(self, actor: str, object_id: str) -> int | None:
        value = await self.engine.fetchval(
            "SELECT id FROM statuses WHERE object_id=$1 AND account=$2"
            " AND reblog_activity IS NOT NULL", object_id, actor)
        return int(value) if value is not None else None

    async def api_statuses(self, ids: Sequence[int], viewer: str | None) -> StatusBundle:
        keyed = [(int(i), int(i)) for i in ids]
        return await snapshot(self.engine, lambda conn: load_statuses(conn, keyed, viewer))

    async def timeline(self, query: TimelineQuery, page: PageQuery, viewer: str | None
                       ) -> StatusBundle:
        sql, args, ascending = timeline_sql(query, page, viewer)

        async def read(conn: asyncpg.Connection) -> StatusBundle:
            keyed = _keyed(await conn.fetch(sql, *args), ascending)
            return await load_statuses(conn, keyed, viewer)

        return await snapshot(self.engine, read)

    async def thread(self, object_id: str, viewer: str | None
                     ) -> tuple[list[int], list[int], StatusBundle]:
        """(ancestor ids oldest first, descendant ids depth first, the visible ones)."""

        async def read(conn: asyncpg.Connection) -> tuple[list[int], list[int], StatusBundle]:
            ancestors = [r[0] for r in await conn.fetch(
                "WITH RECURSIVE up(id, depth) AS ("
                " SELECT in_reply_to, 1 FROM objects WHERE id = $1"
                " UNION ALL SELECT o.in_reply_to, up.depth + 1 FROM up"
                " JOIN objects o ON o.id = up.id WHERE up.depth < $2)"
                " SELECT s.id FROM up JOIN statuses s ON s.object_id = up.id"
                " AND s.reblog_activity IS NULL ORDER BY up.depth DESC",
                object_id, _MAX_ANCESTORS)]
            # The recursive query is evaluated only as far as the LIMIT pulls it, so the
            # cap bounds the walk as sqlite's LIMIT inside the CTE does.
            rows = await conn.fetch(
                "WITH RECURSIVE down(id, depth) AS (SELECT $1::text, 0"
                " UNION SELECT s.object_id, down.depth + 1 FROM down JOIN statuses s"
                " ON s.in_reply_to = down.id AND s.reblog_activity IS NULL"
                " WHERE down.depth < 256)"
                " SELECT s.id, s.in_reply_to, s.object_id"
                " FROM (SELECT id, depth FROM down LIMIT $2) AS d JOIN statuses s"
                " ON s.object_id = d.id AND s.reblog_activity IS NULL"
                " WHERE d.depth > 0 ORDER BY s.id",
                object_id, _MAX_DESCENDANTS)
            descendants = _depth_first(object_id, rows)
            keyed = [(i, i) for i in ancestors + descendants]
            return ancestors, descendants, await load_statuses(conn, keyed, viewer)

        return await snapshot(self.engine, read)

    async def latest_proposal(self, group_id: str, proposer: str) -> str | None:
        value = await self.engine.fetchval(
            "SELECT id FROM proposals WHERE group_id=$1 AND proposer=$2"
            " ORDER BY number DESC LIMIT 1", group_id, proposer)
        return str(value) if value is not None else None

    # notifications, relationships, lists ----------------------------------------------

    async def notifications(self, owner: str, page: PageQuery, *,
                            types: Sequence[str] = (), exclude_types: Sequence[str] = (),
                            account: str | None = None, notification_id: int | None = None
                            ) -> tuple[list[NotificationView], StatusBundle]:
        # sqlite reads the types through JSON, which ends each at a NUL.
        types, exclude_types = [_c_string(t) for t in types], [
            _c_string(t) for t in exclude_types]
        params = Params(owner)
        paging, limit, ascending = page_clause("n.id", page, params)
        where = [paging, "n.owner = $1::text",
                 "(n.status_id IS NULL OR (o.id IS NOT NULL AND o.deleted_at IS NULL))",
                 "NOT EXISTS (SELECT 1 FROM mutes WHERE actor = $1::text"
                 " AND target = n.account)",
                 "NOT EXISTS (SELECT 1 FROM blocks WHERE actor = $1::text"
                 " AND target = n.account)"]
        if types:
            where.append(f"n.type = ANY({params.add(list(types))}::text[])")
        if exclude_types:
            where.append(f"n.type <> ALL({params.add(list(exclude_types))}::text[])")
        if account is not None:
            where.append(f"n.account = {params.add(account)}::text")
        if notification_id is not None:
            where.append(f"n.id = {params.add(int(notification_id))}::bigint")
        sql = ("SELECT n.id, n.type, n.account, n.status_id, n.created_at FROM notifications n"
               " LEFT JOIN statuses s ON s.id = n.status_id"
               " LEFT JOIN objects o ON o.id = s.object_id WHERE " + " AND ".join(where)
               + f" ORDER BY n.id {'ASC' if ascending else 'DESC'} LIMIT {limit}")

        async def read(conn: asyncpg.Connection
                       ) -> tuple[list[NotificationView], StatusBundle]:
            rows = await conn.fetch(sql, *params.values)
            if ascending:
                rows.reverse()
            found = [NotificationView(id=r["id"], type=r["type"], account=r["account"],
                                      status_id=r["status_id"], created_at=r["created_at"])
                     for r in rows]
            keyed = [(n.status_id, n.status_id) for n in found if n.status_id is not None]
            bundle = await load_statuses(conn, keyed, owner,
                                         extra_accounts=[n.account for n in found])
            return found, bundle

        return await snapshot(self.engine, read)

    async def relationships(self, viewer: str, actor_ids: Sequence[str]
                            ) -> list[RelationshipView]:
        rows = {r["id"]: r for r in await self.engine.fetch(
            "SELECT a.id, a.rowid AS rid,"
            " (SELECT state FROM follows WHERE follower = $1 AND followee = a.id) AS out,"
            " (SELECT state FROM follows WHERE follower = a.id AND followee = $1) AS inc,"
            " EXISTS (SELECT 1 FROM blocks WHERE actor = $1 AND target = a.id) AS blocking,"
            " EXISTS (SELECT 1 FROM blocks WHERE actor = a.id AND target = $1) AS blocked,"
            " EXISTS (SELECT 1 FROM mutes WHERE actor = $1 AND target = a.id) AS muting"
            " FROM actors a WHERE a.id = ANY($2::text[])", viewer, list(actor_ids))}
        return [RelationshipView(
            actor=r["id"], id=r["rid"], following=r["out"] == "accepted",
            requested=r["out"] == "pending", followed_by=r["inc"] == "accepted",
            requested_by=r["inc"] == "pending", blocking=r["blocking"],
            blocked_by=r["blocked"], muting=r["muting"])
            for a in actor_ids if (r := rows.get(a)) is not None]

    async def follow_list(self, *, followee: str | None, follower: str | None, state: str,
                          page: PageQuery) -> list[Keyed]:
        if followee is not None:
            column, other, value = "followee", "follower", followee
        elif follower is not None:
            column, other, value = "follower", "followee", follower
        else:
            raise ValueError("followee or follower is required")
        params = Params(value, state)
        paging, limit, ascending = page_clause("seq", page, params)
        rows = await self.engine.fetch(
            f"SELECT seq, {other} FROM follows WHERE {column} = $1 AND state = $2 AND"
            f" {paging} ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT {limit}",
            *params.values)
        found = [Keyed(key=r[0], actor=r[1]) for r in rows]
        return found[::-1] if ascending else found

    async def reactors(self, object_id: str, kind: str, page: PageQuery) -> list[Keyed]:
        params = Params(object_id, kind)
        paging, limit, ascending = page_clause("seq", page, params)
        rows = await self.engine.fetch(
            "SELECT seq, actor FROM reactions WHERE object_id = $1 AND kind = $2"
            f" AND {paging} ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT {limit}",
            *params.values)
        found = [Keyed(key=r[0], actor=r[1]) for r in rows]
        return found[::-1] if ascending else found

    # polls and idempotency ------------------------------------------------------------

    async def poll_voters(self, poll: str) -> list[str]:
        # sqlite answers in its primary key's order (voter); asked for here.
        rows = await self.engine.fetch(
            "SELECT DISTINCT voter COLLATE \"C\" AS voter FROM poll_votes WHERE poll=$1"
            " ORDER BY 1", poll)
        return [r[0] for r in rows]

    async def poll_tally(self, poll: str) -> tuple[dict[str, int], int]:
        rows = await self.engine.fetch(
            "SELECT choice, COUNT(*) AS n,"
            " (SELECT COUNT(DISTINCT voter) FROM poll_votes WHERE poll=$1) AS voters"
            " FROM poll_votes WHERE poll=$1 GROUP BY choice ORDER BY choice COLLATE \"C\"",
            poll)
        return {r["choice"]: int(r["n"]) for r in rows}, int(rows[0]["voters"]) if rows else 0

    async def get_idempotency(self, account: str, key: str, since: float) -> str | None:
        value = await self.engine.fetchval(
            "SELECT status_object FROM idempotency WHERE account=$1 AND key=$2"
            " AND created_at >= $3", account, key, since)
        return str(value) if value is not None else None
