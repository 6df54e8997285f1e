"""Loading what apps are shown: statuses with everything they need, and accounts.

The twin of storage/sqlite/api_views.py, plus the timeline SQL that sqlite keeps in
api_reads.py: a page of status ids becomes ``StatusView`` values with counts, the
viewer's flags and poll votes, plus the ``AccountView`` of every account they name,
with the same visibility rules decided in SQL. The queries run on one pooled
connection inside one read-only snapshot (``snapshot``), so a page, its statuses and
their accounts agree, as they do in sqlite's read transaction.

The viewer is always ``$1`` of these queries, so the visibility fragments can name it.
Stored JSON is read through ``jsonb_doc`` (storage/postgres/schema_api.py), and text
is compared and ordered under ``COLLATE "C"`` where sqlite orders bytes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg

from storage.api import (
    AccountView,
    PageQuery,
    PostView,
    StatusBundle,
    StatusView,
    TimelineQuery,
)
from storage.postgres.engine import PgEngine

__all__ = [
    "NOT_BLOCKED",
    "NOT_MUTED",
    "REBLOG_VISIBLE",
    "VISIBLE",
    "Params",
    "load_accounts",
    "load_statuses",
    "page_clause",
    "snapshot",
    "timeline_sql",
]

T = TypeVar("T")

# The object ``o`` may be read by $1 (NULL for anonymous): public and unlisted by all;
# the author; whoever it is addressed to; followers-only by accepted followers; and what
# is addressed to a group by the group's members, to whom the group relays it
# (FEP-1b12). The audience is a JSON array of strings; ``?`` asks for one of them.
VISIBLE = """(o.visibility IN ('public', 'unlisted') OR o.attributed_to = $1::text
 OR jsonb_doc(o.audience) ? $1::text
 OR (o.visibility = 'followers' AND EXISTS (
     SELECT 1 FROM follows vf JOIN actors va ON va.id = vf.followee
     WHERE vf.follower = $1::text AND vf.followee = o.attributed_to
       AND vf.state = 'accepted' AND jsonb_doc(o.audience) ? va.followers))
 OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(jsonb_doc(o.audience)) AS g(value)
     JOIN follows gf ON gf.followee = g.value AND gf.follower = $1::text
       AND gf.state = 'accepted'
     JOIN actors ga ON ga.id = g.value AND ga.type = 'Group'))"""
# A boost ``s`` that is not public is for the booster's followers.
REBLOG_VISIBLE = """(s.reblog_activity IS NULL OR s.visibility IN ('public', 'unlisted')
 OR s.account = $1::text OR EXISTS (SELECT 1 FROM follows rf WHERE rf.follower = $1::text
     AND rf.followee = s.account AND rf.state = 'accepted'))"""
NOT_BLOCKED = """NOT EXISTS (SELECT 1 FROM blocks b
 WHERE (b.actor = $1::text AND b.target IN (s.account, o.attributed_to))
    OR (b.target = $1::text AND b.actor IN (s.account, o.attributed_to)))"""
NOT_MUTED = """NOT EXISTS (SELECT 1 FROM mutes m
 WHERE m.actor = $1::text AND m.target IN (s.account, o.attributed_to))"""

# Mentions: the ``href`` of every ``Mention`` in ``tag``. Like sqlite's json_each, a
# ``tag`` that is one object is walked member by member (so it names nobody).
_MENTIONS = """(SELECT array_agg(m.value ->> 'href')
  FROM (SELECT jsonb_doc(o.document) -> 'tag' AS tag OFFSET 0) AS t,
  LATERAL (SELECT value FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.tag) = 'array'
             THEN t.tag ELSE '[]' END)
           UNION ALL SELECT value FROM jsonb_each(CASE WHEN jsonb_typeof(t.tag) = 'object'
             THEN t.tag ELSE '{}' END)) AS m
  WHERE jsonb_typeof(m.value) = 'object' AND m.value ->> 'type' = 'Mention'
    AND jsonb_typeof(m.value -> 'href') = 'string')"""

_STATUSES = f"""
SELECT s.id, s.account, s.reblog_activity, s.visibility AS s_visibility,
  s.created_at AS s_created, p.id AS post_id, o.id AS object_id, o.type, o.attributed_to,
  o.in_reply_to, o.visibility, o.audience, o.local, o.document, o.published, o.created_at,
  (SELECT COUNT(*) FROM statuses r WHERE r.in_reply_to = o.id
     AND r.reblog_activity IS NULL) AS replies,
  (SELECT COUNT(*) FROM reactions WHERE object_id = o.id AND kind = 'like') AS likes,
  (SELECT COUNT(*) FROM reactions WHERE object_id = o.id AND kind = 'announce') AS shares,
  EXISTS (SELECT 1 FROM reactions WHERE kind = 'like' AND actor = $1::text
     AND object_id = o.id) AS favourited,
  EXISTS (SELECT 1 FROM reactions WHERE kind = 'announce' AND actor = $1::text
     AND object_id = o.id) AS reblogged,
  EXISTS (SELECT 1 FROM bookmarks WHERE owner = $1::text AND status_id = p.id) AS bookmarked,
  (SELECT id FROM statuses WHERE object_id = o.in_reply_to
     AND reblog_activity IS NULL) AS reply_id,
  (SELECT attributed_to FROM objects WHERE id = o.in_reply_to) AS reply_author,
  {_MENTIONS} AS mentions,
  CASE WHEN o.type = 'Question' THEN (SELECT array_agg(choice ORDER BY choice COLLATE "C")
     FROM poll_votes WHERE poll = o.id AND voter = $1::text) END AS own_votes,
  CASE WHEN o.type = 'Question' AND o.local <> 0 THEN (SELECT COALESCE(
     json_object_agg(choice, n ORDER BY choice COLLATE "C"), '{{}}')::text FROM
     (SELECT choice, COUNT(*) AS n FROM poll_votes WHERE poll = o.id GROUP BY choice) AS c)
  END AS poll_counts,
  CASE WHEN o.type = 'Question' AND o.local <> 0 THEN (SELECT COUNT(DISTINCT voter)
     FROM poll_votes WHERE poll = o.id) END AS poll_voters
FROM statuses s
JOIN objects o ON o.id = s.object_id
JOIN statuses p ON p.object_id = s.object_id AND p.reblog_activity IS NULL
WHERE s.id = ANY($2::bigint[]) AND o.deleted_at IS NULL
  AND {VISIBLE} AND {REBLOG_VISIBLE} AND {NOT_BLOCKED}
"""

# ``manuallyApprovesFollowers`` counts when it is JSON true or the number 1, as sqlite's
# ``json_extract(...) IS 1`` does.
_ACCOUNTS = """
SELECT a.rowid AS rid, a.id, a.local, a.host, a.type, a.username, a.document, a.fetched_at,
  acc.created_at AS acc_created,
  COALESCE(acc.manually_approves,
           CASE WHEN jsonb_doc(a.document) -> 'manuallyApprovesFollowers'
                     IN ('true'::jsonb, '1'::jsonb) THEN 1 ELSE 0 END) AS locked,
  COALESCE(st.statuses, 0) AS statuses, COALESCE(st.followers, 0) AS followers,
  COALESCE(st.following, 0) AS following, st.last_status_at,
  CASE WHEN a.id = $1::text THEN (SELECT COUNT(*) FROM follows
     WHERE followee = a.id AND state = 'pending') ELSE 0 END AS requests
FROM actors a
LEFT JOIN accounts acc ON acc.actor_id = a.id
LEFT JOIN account_stats st ON st.actor = a.id
WHERE a.id = ANY($2::text[])
"""


class Params:
    """asyncpg's positional arguments, numbered as a query is put together.

    >>> p = Params("viewer")
    >>> p.add(20), p.values
    ('$2', ['viewer', 20])
    """

    def __init__(self, *values: Any) -> None:
        self.values: list[Any] = list(values)

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def page_clause(column: str, page: PageQuery, params: Params) -> tuple[str, str, bool]:
    """(SQL conditions, the LIMIT placeholder, ascending) for Mastodon's paging.

    ``min_id`` pages are read oldest first (the page right after ``min_id``), and the
    caller turns them around, so every page is answered newest first."""
    clauses = ["TRUE"]
    limit = params.add(int(page.limit))
    if page.max_id is not None:
        clauses.append(f"{column} < {params.add(int(page.max_id))}")
    if page.min_id is not None:
        clauses.append(f"{column} > {params.add(int(page.min_id))}")
        return " AND ".join(clauses), limit, True
    if page.since_id is not None:
        clauses.append(f"{column} > {params.add(int(page.since_id))}")
    return " AND ".join(clauses), limit, False


def timeline_sql(query: TimelineQuery, page: PageQuery, viewer: str | None
                  ) -> tuple[str, list[Any], bool]:
    """SQL for one page of (key, status id) of a timeline, with its arguments."""
    kind = query.kind
    params = Params(viewer)
    source = "FROM statuses s JOIN objects o ON o.id = s.object_id"
    key = "s.id"
    where = ["o.deleted_at IS NULL", NOT_BLOCKED]
    if kind == "home":
        source = ("FROM home h JOIN statuses s ON s.id = h.status_id"
                  " JOIN objects o ON o.id = s.object_id")
        key = "h.status_id"
        where += ["h.owner = $1::text", NOT_MUTED, VISIBLE, REBLOG_VISIBLE]
    elif kind in ("public", "tag"):
        where += ["s.visibility = 'public'", "s.reblog_activity IS NULL", NOT_MUTED]
        if kind == "tag":
            source = ("FROM tags t JOIN statuses s ON s.id = t.status_id"
                      " JOIN objects o ON o.id = s.object_id")
            key = "t.status_id"
            where.append(f"t.name = {params.add(query.target)}::text")
    elif kind == "account":
        where += [f"s.account = {params.add(query.target)}::text", VISIBLE, REBLOG_VISIBLE]
        if query.exclude_reblogs:
            where.append("s.reblog_activity IS NULL")
        if query.exclude_replies:  # Mastodon keeps replies to oneself (threads)
            where.append("(s.in_reply_to IS NULL OR (SELECT attributed_to FROM objects"
                         " WHERE id = s.in_reply_to) = s.account)")
        if query.tagged:
            where.append(f"EXISTS (SELECT 1 FROM tags WHERE name = {params.add(query.tagged)}"
                         "::text AND status_id = s.id)")
    elif kind == "group":
        # (boosts have no group)
        where += [f"s.grp = {params.add(query.target)}::text", VISIBLE, NOT_MUTED]
    elif kind == "bookmarks":
        source = ("FROM bookmarks bm JOIN statuses s ON s.id = bm.status_id"
                  " JOIN objects o ON o.id = s.object_id")
        key = "bm.seq"
        where += ["bm.owner = $1::text", VISIBLE]
    elif kind == "favourites":
        source = ("FROM reactions f JOIN statuses s ON s.object_id = f.object_id"
                  " AND s.reblog_activity IS NULL JOIN objects o ON o.id = s.object_id")
        key = "f.seq"
        where += ["f.actor = $1::text", "f.kind = 'like'", VISIBLE]
    if query.local:
        where.append("s.local = 1")
    elif query.remote:
        where.append("s.local = 0")
    if query.only_media:
        where.append("s.media = 1")
    paging, limit, ascending = page_clause(key, page, params)
    order = "ASC" if ascending else "DESC"
    sql = (f"SELECT {key} AS k, s.id AS sid {source} WHERE {paging} AND "
           + " AND ".join(where) + f" ORDER BY {key} {order} LIMIT {limit}")
    return sql, params.values, ascending


async def snapshot(engine: PgEngine, fn: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run ``fn`` on one connection in one read-only snapshot (REPEATABLE READ)."""
    async with engine.acquire() as conn, conn.transaction(
            isolation="repeatable_read", readonly=True):
        return await fn(conn)  # type: ignore[arg-type]


async def load_accounts(conn: asyncpg.Connection, actor_ids: Iterable[str],
                        viewer: str | None) -> dict[str, AccountView]:
    ids = sorted({a for a in actor_ids if a})
    if not ids:
        return {}
    rows = await conn.fetch(_ACCOUNTS, viewer, ids)
    return {r["id"]: AccountView(
        id=r["rid"], actor=r["id"], local=bool(r["local"]), host=r["host"], type=r["type"],
        username=r["username"], document=r["document"], fetched_at=r["fetched_at"],
        created_at=r["acc_created"], manually_approves=bool(r["locked"]),
        statuses_count=r["statuses"], followers_count=r["followers"],
        following_count=r["following"], last_status_at=r["last_status_at"],
        follow_requests_count=r["requests"]) for r in rows}


def _post(r: asyncpg.Record) -> PostView:
    counts = json.loads(r["poll_counts"]) if r["poll_counts"] else None
    return PostView(
        status_id=r["post_id"], object_id=r["object_id"], type=r["type"],
        author=r["attributed_to"], in_reply_to=r["in_reply_to"], visibility=r["visibility"],
        audience=tuple(json.loads(r["audience"])), local=bool(r["local"]),
        document=r["document"], published=r["published"], created_at=r["created_at"],
        replies_count=r["replies"], favourites_count=r["likes"], reblogs_count=r["shares"],
        favourited=r["favourited"], reblogged=r["reblogged"], bookmarked=r["bookmarked"],
        in_reply_to_id=r["reply_id"], in_reply_to_author=r["reply_author"],
        own_votes=tuple(r["own_votes"] or ()),
        poll_counts=counts if r["type"] == "Question" and r["local"] else None,
        poll_voters=r["poll_voters"])


async def load_statuses(conn: asyncpg.Connection, keyed: Sequence[tuple[int, int]],
                        viewer: str | None, *, extra_accounts: Iterable[str] = ()
                        ) -> StatusBundle:
    """``keyed`` is (page key, status id) in page order; statuses the viewer may not
    see (or that were deleted) are left out."""
    if not keyed:
        return StatusBundle(statuses=[],
                            accounts=await load_accounts(conn, extra_accounts, viewer))
    ids = [status_id for _, status_id in keyed]
    rows = {r["id"]: r for r in await conn.fetch(_STATUSES, viewer, ids)}
    statuses: list[StatusView] = []
    wanted: set[str] = set(extra_accounts)
    for key, status_id in keyed:
        r = rows.get(status_id)
        if r is None:
            continue
        statuses.append(StatusView(
            id=r["id"], account=r["account"], reblog_activity=r["reblog_activity"],
            visibility=r["s_visibility"], created_at=r["s_created"], post=_post(r), key=key))
        wanted.update((r["account"], r["attributed_to"], r["reply_author"]))
        wanted.update(m for m in r["mentions"] or () if isinstance(m, str))
    return StatusBundle(statuses=statuses, accounts=await load_accounts(conn, wanted, viewer))
