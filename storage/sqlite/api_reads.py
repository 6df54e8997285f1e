"""sqlite reads for the client API (mixed into SqliteStore).

Point lookups (an id for an actor, a status for an object) run in place on the loop;
pages run on the reader thread, each as ONE hop doing its few statements in one read
transaction: the page's keys, then the statuses and accounts they show. Every
timeline is a descending range scan over an integer key with an index behind it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

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
from storage.sqlite.api_views import (
    NOT_BLOCKED,
    NOT_MUTED,
    REBLOG_VISIBLE,
    VISIBLE,
    load_accounts,
    load_statuses,
    page_clause,
    read_transaction,
)
from storage.sqlite.engine import SqliteEngine

__all__ = ["ApiReads"]

T = TypeVar("T")
_ALIVE = "o.deleted_at IS NULL"
_MAX_ANCESTORS = 40
_MAX_DESCENDANTS = 4096


def _timeline_sql(query: TimelineQuery, page: PageQuery) -> tuple[str, dict[str, Any], bool]:
    """SQL for one page of (key, status id) of a timeline, with its arguments."""
    kind = query.kind
    source = "FROM statuses s JOIN objects o ON o.id = s.object_id"
    key = "s.id"
    where = [_ALIVE, NOT_BLOCKED]
    args: dict[str, Any] = {"target": query.target, "tagged": query.tagged}
    if kind == "home":
        source = ("FROM home h JOIN statuses s ON s.id = h.status_id"
                  " JOIN objects o ON o.id = s.object_id")
        key = "h.status_id"
        where += ["h.owner = :viewer", NOT_MUTED, VISIBLE, REBLOG_VISIBLE]
    elif kind in ("public", "tag"):
        where += ["s.visibility = 'public'", "s.reblog_activity IS NULL", NOT_MUTED]
        if kind == "tag":
            source = ("FROM tags t JOIN statuses s ON s.id = t.status_id"
                      " JOIN objects o ON o.id = s.object_id")
            key = "t.status_id"
            where.append("t.name = :target")
    elif kind == "account":
        where += ["s.account = :target", VISIBLE, REBLOG_VISIBLE]
        if query.exclude_reblogs:
            where.append("s.reblog_activity IS NULL")
        if query.exclude_replies:  # Mastodon keeps replies to oneself (threads)
            where.append("(s.in_reply_to IS NULL OR (SELECT attributed_to FROM objects"
                         " WHERE id = s.in_reply_to) = s.account)")
        if query.tagged:
            where.append("EXISTS (SELECT 1 FROM tags WHERE name = :tagged"
                         " AND status_id = s.id)")
    elif kind == "group":
        where += ["s.grp = :target", VISIBLE, NOT_MUTED]  # (boosts have no group)
    elif kind == "bookmarks":
        source = ("FROM bookmarks bm JOIN statuses s ON s.id = bm.status_id"
                  " JOIN objects o ON o.id = s.object_id")
        key = "bm.seq"
        where += ["bm.owner = :viewer", VISIBLE]
    elif kind == "favourites":
        source = ("FROM reactions f JOIN statuses s ON s.object_id = f.object_id"
                  " AND s.reblog_activity IS NULL JOIN objects o ON o.id = s.object_id")
        key = "f.seq"
        where += ["f.actor = :viewer", "f.kind = 'like'", VISIBLE]
    if query.local:
        where.append("s.local = 1")
    elif query.remote:
        where.append("s.local = 0")
    if query.only_media:
        where.append("s.media = 1")
    paging, page_args, ascending = page_clause(key, page)
    args.update(page_args)
    order = "ASC" if ascending else "DESC"
    sql = (f"SELECT {key} AS k, s.id AS sid {source} WHERE {paging} AND "
           + " AND ".join(where) + f" ORDER BY {key} {order} LIMIT :limit")
    return sql, args, ascending


def _keyed(rows: list[sqlite3.Row], ascending: bool) -> list[tuple[int, int]]:
    pairs = [(int(r[0]), int(r[1])) for r in rows]
    return pairs[::-1] if ascending else pairs


def _status(row: sqlite3.Row) -> StatusRecord:
    return StatusRecord(id=row["id"], object_id=row["object_id"], account=row["account"],
                        reblog_activity=row["reblog_activity"], local=bool(row["local"]),
                        visibility=row["visibility"], created_at=row["created_at"])


class ApiReads:
    """Store reads for the client API (mixed into SqliteStore)."""

    engine: SqliteEngine

    def _now(self, sql: str, args: tuple[Any, ...]) -> Any:
        rows = self.engine.point(sql, args)
        return rows[0][0] if rows else None

    async def _in_one_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self.engine.read(lambda conn: read_transaction(conn, fn))
        return result

    # accounts ------------------------------------------------------------------------

    async def api_account_id(self, actor_id: str) -> int | None:
        value = self._now("SELECT rowid FROM actors WHERE id=?", (actor_id,))
        return int(value) if value is not None else None

    async def api_actor_id(self, account_id: int) -> str | None:
        value = self._now("SELECT id FROM actors WHERE rowid=?", (account_id,))
        return str(value) if value is not None else None

    async def api_accounts(self, actor_ids: Sequence[str], viewer: str | None = None
                           ) -> dict[str, AccountView]:
        ids = list(actor_ids)
        return await self._in_one_read(lambda conn: load_accounts(conn, ids, viewer))

    async def api_actor_by_acct(self, username: str, host: str | None) -> str | None:
        if host is None:
            value = self._now("SELECT actor_id FROM accounts WHERE username=?"
                              " AND kind != 'application'", (username.lower(),))
        else:
            value = self._now("SELECT id FROM actors WHERE username=? COLLATE NOCASE"
                              " AND host=? AND local=0 AND gone=0", (username, host.lower()))
        return str(value) if value is not None else None

    async def api_search_accounts(self, query: str, *, limit: int, offset: int,
                                  following_of: str | None) -> list[AccountView]:
        name, _, host = query.lstrip("@").partition("@")
        escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args: dict[str, Any] = {"prefix": f"{escaped}%", "contains": f"%{escaped}%",
                                "host": f"{host.lower()}%", "limit": limit,
                                "offset": offset, "viewer": following_of}
        clauses = ["a.gone = 0", "a.username IS NOT NULL",
                   "a.type IN ('Person', 'Group', 'Service', 'Organization')",
                   "(a.username LIKE :prefix ESCAPE '\\' OR"
                   " json_extract(a.document, '$.name') LIKE :contains ESCAPE '\\')"]
        if host:
            clauses.append("a.host LIKE :host")
        if following_of is not None:
            clauses.append("EXISTS (SELECT 1 FROM follows WHERE follower = :viewer"
                           " AND followee = a.id AND state = 'accepted')")
        sql = ("SELECT a.id FROM actors a WHERE " + " AND ".join(clauses)
               + " ORDER BY a.local DESC, a.username LIMIT :limit OFFSET :offset")

        def read(conn: sqlite3.Connection) -> list[AccountView]:
            ids = [r[0] for r in conn.execute(sql, args).fetchall()]
            found = load_accounts(conn, ids, following_of)
            return [found[i] for i in ids if i in found]

        return await self._in_one_read(read)

    async def api_search_tags(self, prefix: str, limit: int, offset: int) -> list[str]:
        rows = await self.engine.read(lambda conn: conn.execute(
            "SELECT DISTINCT name FROM tags WHERE name >= ? AND name < ? ORDER BY name"
            " LIMIT ? OFFSET ?", (prefix, prefix + "\U0010ffff", limit, offset)).fetchall())
        return [r[0] for r in rows]

    # statuses ------------------------------------------------------------------------

    async def get_status(self, status_id: int) -> StatusRecord | None:
        rows = self.engine.point("SELECT * FROM statuses WHERE id=?", (status_id,))
        return _status(rows[0]) if rows else None

    async def status_for_object(self, object_id: str) -> int | None:
        value = self._now("SELECT id FROM statuses WHERE object_id=?"
                          " AND reblog_activity IS NULL", (object_id,))
        return int(value) if value is not None else None

    async def reblog_of(self, actor: str, object_id: str) -> int | None:
        value = self._now("SELECT id FROM statuses WHERE object_id=? AND account=?"
                          " AND reblog_activity IS NOT NULL", (object_id, actor))
        return int(value) if value is not None else None

    async def api_statuses(self, ids: Sequence[int], viewer: str | None) -> StatusBundle:
        keyed = [(i, i) for i in ids]
        return await self._in_one_read(lambda conn: load_statuses(conn, keyed, viewer))

    async def timeline(self, query: TimelineQuery, page: PageQuery, viewer: str | None
                       ) -> StatusBundle:
        sql, args, ascending = _timeline_sql(query, page)
        args["viewer"] = viewer

        def read(conn: sqlite3.Connection) -> StatusBundle:
            keyed = _keyed(conn.execute(sql, args).fetchall(), ascending)
            return load_statuses(conn, keyed, viewer)

        return await self._in_one_read(read)

    async def thread(self, object_id: str, viewer: str | None
                     ) -> tuple[list[int], list[int], StatusBundle]:
        """(ancestor ids oldest first, descendant ids depth first, the visible ones)."""

        def read(conn: sqlite3.Connection) -> tuple[list[int], list[int], StatusBundle]:
            ancestors = [r[0] for r in conn.execute(
                "WITH RECURSIVE up(id, depth) AS ("
                " SELECT in_reply_to, 1 FROM objects WHERE id = :root"
                " UNION ALL SELECT o.in_reply_to, up.depth + 1 FROM up"
                " JOIN objects o ON o.id = up.id WHERE up.depth < :depth)"
                " SELECT s.id FROM up JOIN statuses s ON s.object_id = up.id"
                " AND s.reblog_activity IS NULL ORDER BY up.depth DESC",
                {"root": object_id, "depth": _MAX_ANCESTORS}).fetchall()]
            rows = conn.execute(
                "WITH RECURSIVE down(id, depth) AS (SELECT :root, 0"
                " UNION SELECT s.object_id, down.depth + 1 FROM down JOIN statuses s"
                " ON s.in_reply_to = down.id AND s.reblog_activity IS NULL"
                " WHERE down.depth < 256 LIMIT :most)"
                " SELECT s.id, s.in_reply_to, s.object_id FROM down JOIN statuses s"
                " ON s.object_id = down.id AND s.reblog_activity IS NULL"
                " WHERE down.depth > 0 ORDER BY s.id",
                {"root": object_id, "most": _MAX_DESCENDANTS}).fetchall()
            children: dict[str, list[tuple[int, str]]] = {}
            for status_id, parent, child in rows:
                children.setdefault(parent, []).append((status_id, child))
            descendants: list[int] = []
            stack = list(reversed(children.get(object_id, [])))
            seen: set[str] = set()
            while stack:  # depth first, oldest reply first, as Mastodon orders a thread
                status_id, child = stack.pop()
                if child in seen:
                    continue
                seen.add(child)
                descendants.append(status_id)
                stack.extend(reversed(children.get(child, [])))
            keyed = [(i, i) for i in ancestors + descendants]
            return ancestors, descendants, load_statuses(conn, keyed, viewer)

        return await self._in_one_read(read)

    async def latest_proposal(self, group_id: str, proposer: str) -> str | None:
        value = self._now("SELECT id FROM proposals WHERE group_id=? AND proposer=?"
                          " ORDER BY number DESC LIMIT 1", (group_id, proposer))
        return str(value) if value is not None else None

    # notifications, relationships, lists ----------------------------------------------

    async def notifications(self, owner: str, page: PageQuery, *,
                            types: Sequence[str] = (), exclude_types: Sequence[str] = (),
                            account: str | None = None, notification_id: int | None = None
                            ) -> tuple[list[NotificationView], StatusBundle]:
        paging, args, ascending = page_clause("n.id", page)
        args.update(viewer=owner, types=json.dumps(list(types)),
                    exclude=json.dumps(list(exclude_types)), account=account,
                    nid=notification_id)
        where = [paging, "n.owner = :viewer",
                 "(n.status_id IS NULL OR (o.id IS NOT NULL AND o.deleted_at IS NULL))",
                 "NOT EXISTS (SELECT 1 FROM mutes WHERE actor = :viewer AND target = n.account)",
                 "NOT EXISTS (SELECT 1 FROM blocks WHERE actor = :viewer AND target = n.account)"]
        if types:
            where.append("n.type IN (SELECT value FROM json_each(:types))")
        if exclude_types:
            where.append("n.type NOT IN (SELECT value FROM json_each(:exclude))")
        if account is not None:
            where.append("n.account = :account")
        if notification_id is not None:
            where.append("n.id = :nid")
        sql = ("SELECT n.id, n.type, n.account, n.status_id, n.created_at FROM notifications n"
               " LEFT JOIN statuses s ON s.id = n.status_id"
               " LEFT JOIN objects o ON o.id = s.object_id WHERE " + " AND ".join(where)
               + f" ORDER BY n.id {'ASC' if ascending else 'DESC'} LIMIT :limit")

        def read(conn: sqlite3.Connection) -> tuple[list[NotificationView], StatusBundle]:
            rows = conn.execute(sql, args).fetchall()
            if ascending:
                rows.reverse()
            found = [NotificationView(id=r["id"], type=r["type"], account=r["account"],
                                      status_id=r["status_id"], created_at=r["created_at"])
                     for r in rows]
            keyed = [(n.status_id, n.status_id) for n in found if n.status_id is not None]
            bundle = load_statuses(conn, keyed, owner,
                                   extra_accounts=[n.account for n in found])
            return found, bundle

        return await self._in_one_read(read)

    async def relationships(self, viewer: str, actor_ids: Sequence[str]
                            ) -> list[RelationshipView]:
        sql = (
            "SELECT a.id, a.rowid AS rid,"
            " (SELECT state FROM follows WHERE follower = :viewer AND followee = a.id) AS out,"
            " (SELECT state FROM follows WHERE follower = a.id AND followee = :viewer) AS inc,"
            " EXISTS (SELECT 1 FROM blocks WHERE actor = :viewer AND target = a.id) AS blocking,"
            " EXISTS (SELECT 1 FROM blocks WHERE actor = a.id AND target = :viewer) AS blocked,"
            " EXISTS (SELECT 1 FROM mutes WHERE actor = :viewer AND target = a.id) AS muting"
            " FROM actors a WHERE a.id IN (SELECT value FROM json_each(:ids))")
        args = {"viewer": viewer, "ids": json.dumps(list(actor_ids))}
        rows = {r["id"]: r for r in await self.engine.read(
            lambda conn: conn.execute(sql, args).fetchall())}
        return [RelationshipView(
            actor=r["id"], id=r["rid"], following=r["out"] == "accepted",
            requested=r["out"] == "pending", followed_by=r["inc"] == "accepted",
            requested_by=r["inc"] == "pending", blocking=bool(r["blocking"]),
            blocked_by=bool(r["blocked"]), muting=bool(r["muting"]))
            for a in actor_ids if (r := rows.get(a)) is not None]

    async def follow_list(self, *, followee: str | None, follower: str | None, state: str,
                          page: PageQuery) -> list[Keyed]:
        if followee is not None:
            where, other, value = "followee = :who", "follower", followee
        elif follower is not None:
            where, other, value = "follower = :who", "followee", follower
        else:
            raise ValueError("followee or follower is required")
        paging, args, ascending = page_clause("seq", page)
        args.update(who=value, state=state)
        sql = (f"SELECT seq, {other} FROM follows WHERE {where} AND state = :state AND"
               f" {paging} ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT :limit")
        rows = await self.engine.read(lambda conn: conn.execute(sql, args).fetchall())
        found = [Keyed(key=r[0], actor=r[1]) for r in rows]
        return found[::-1] if ascending else found

    async def reactors(self, object_id: str, kind: str, page: PageQuery) -> list[Keyed]:
        paging, args, ascending = page_clause("seq", page)
        args.update(object=object_id, kind=kind)
        sql = ("SELECT seq, actor FROM reactions WHERE object_id = :object AND kind = :kind"
               f" AND {paging} ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT :limit")
        rows = await self.engine.read(lambda conn: conn.execute(sql, args).fetchall())
        found = [Keyed(key=r[0], actor=r[1]) for r in rows]
        return found[::-1] if ascending else found

    # polls and idempotency ------------------------------------------------------------

    async def poll_voters(self, poll: str) -> list[str]:
        rows = await self.engine.read(lambda conn: conn.execute(
            "SELECT DISTINCT voter FROM poll_votes WHERE poll=?", (poll,)).fetchall())
        return [r[0] for r in rows]

    async def poll_tally(self, poll: str) -> tuple[dict[str, int], int]:
        def read(conn: sqlite3.Connection) -> tuple[dict[str, int], int]:
            counts = {r[0]: int(r[1]) for r in conn.execute(
                "SELECT choice, COUNT(*) FROM poll_votes WHERE poll=? GROUP BY choice",
                (poll,)).fetchall()}
            voters = conn.execute("SELECT COUNT(DISTINCT voter) FROM poll_votes WHERE poll=?",
                                  (poll,)).fetchone()[0]
            return counts, int(voters)

        return await self._in_one_read(read)

    async def get_idempotency(self, account: str, key: str, since: float) -> str | None:
        value = self._now("SELECT status_object FROM idempotency WHERE account=? AND key=?"
                          " AND created_at >= ?", (account, key, since))
        return str(value) if value is not None else None
