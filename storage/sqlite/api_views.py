"""Loading what apps are shown: statuses with everything they need, and accounts.

These functions run on the reader connection inside one read transaction (one
round trip for the caller): a page of status ids becomes ``StatusView`` values with
counts, the viewer's flags and poll votes, plus the ``AccountView`` of every account
they name. Visibility is decided here, in SQL, with the rules of
``node/routes/common.can_read``: what the viewer may not see is simply not returned.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from storage.api import AccountView, PageQuery, PostView, StatusBundle, StatusView

__all__ = [
    "NOT_BLOCKED",
    "NOT_MUTED",
    "REBLOG_VISIBLE",
    "VISIBLE",
    "load_accounts",
    "load_statuses",
    "page_clause",
]

# The object ``o`` may be read by :viewer (NULL for anonymous): public and unlisted by
# all; the author; whoever it is addressed to; followers-only by accepted followers; and
# what is addressed to a group by the group's members, to whom the group relays it
# (FEP-1b12), so a member reads in the API what the group delivered to them.
VISIBLE = """(o.visibility IN ('public', 'unlisted') OR o.attributed_to = :viewer
 OR EXISTS (SELECT 1 FROM json_each(o.audience) WHERE value = :viewer)
 OR (o.visibility = 'followers' AND EXISTS (
     SELECT 1 FROM follows vf JOIN actors va ON va.id = vf.followee
     WHERE vf.follower = :viewer AND vf.followee = o.attributed_to AND vf.state = 'accepted'
       AND EXISTS (SELECT 1 FROM json_each(o.audience) WHERE value = va.followers)))
 OR EXISTS (SELECT 1 FROM json_each(o.audience) g
     JOIN follows gf ON gf.followee = g.value AND gf.follower = :viewer
       AND gf.state = 'accepted'
     JOIN actors ga ON ga.id = g.value AND ga.type = 'Group'))"""
# A boost ``s`` that is not public is for the booster's followers.
REBLOG_VISIBLE = """(s.reblog_activity IS NULL OR s.visibility IN ('public', 'unlisted')
 OR s.account = :viewer OR EXISTS (SELECT 1 FROM follows rf WHERE rf.follower = :viewer
     AND rf.followee = s.account AND rf.state = 'accepted'))"""
NOT_BLOCKED = """NOT EXISTS (SELECT 1 FROM blocks b
 WHERE (b.actor = :viewer AND b.target IN (s.account, o.attributed_to))
    OR (b.target = :viewer AND b.actor IN (s.account, o.attributed_to)))"""
NOT_MUTED = """NOT EXISTS (SELECT 1 FROM mutes m
 WHERE m.actor = :viewer AND m.target IN (s.account, o.attributed_to))"""

_STATUSES = f"""
SELECT s.id, s.account, s.reblog_activity, s.visibility AS s_visibility,
  s.created_at AS s_created, p.id AS post_id, o.id AS object_id, o.type, o.attributed_to,
  o.in_reply_to, o.visibility, o.audience, o.local, o.document, o.published, o.created_at,
  (SELECT COUNT(*) FROM statuses r WHERE r.in_reply_to = o.id
     AND r.reblog_activity IS NULL) AS replies,
  (SELECT COUNT(*) FROM reactions WHERE object_id = o.id AND kind = 'like') AS likes,
  (SELECT COUNT(*) FROM reactions WHERE object_id = o.id AND kind = 'announce') AS shares,
  EXISTS (SELECT 1 FROM reactions WHERE kind = 'like' AND actor = :viewer
     AND object_id = o.id) AS favourited,
  EXISTS (SELECT 1 FROM reactions WHERE kind = 'announce' AND actor = :viewer
     AND object_id = o.id) AS reblogged,
  EXISTS (SELECT 1 FROM bookmarks WHERE owner = :viewer AND status_id = p.id) AS bookmarked,
  (SELECT id FROM statuses WHERE object_id = o.in_reply_to
     AND reblog_activity IS NULL) AS reply_id,
  (SELECT attributed_to FROM objects WHERE id = o.in_reply_to) AS reply_author,
  (SELECT json_group_array(CASE WHEN t.type = 'object' THEN json_extract(t.value, '$.href') END)
     FROM json_each(o.document, '$.tag') t
     WHERE CASE WHEN t.type = 'object' THEN json_extract(t.value, '$.type') END = 'Mention'
  ) AS mentions,
  CASE WHEN o.type = 'Question' THEN (SELECT json_group_array(choice) FROM poll_votes
     WHERE poll = o.id AND voter = :viewer) END AS own_votes,
  CASE WHEN o.type = 'Question' AND o.local THEN (SELECT json_group_object(choice, n) FROM
     (SELECT choice, COUNT(*) AS n FROM poll_votes WHERE poll = o.id GROUP BY choice))
  END AS poll_counts,
  CASE WHEN o.type = 'Question' AND o.local THEN (SELECT COUNT(DISTINCT voter)
     FROM poll_votes WHERE poll = o.id) END AS poll_voters
FROM statuses s
JOIN objects o ON o.id = s.object_id
JOIN statuses p ON p.object_id = s.object_id AND p.reblog_activity IS NULL
WHERE s.id IN (SELECT value FROM json_each(:ids)) AND o.deleted_at IS NULL
  AND {VISIBLE} AND {REBLOG_VISIBLE} AND {NOT_BLOCKED}
"""

_ACCOUNTS = """
SELECT a.rowid AS rid, a.id, a.local, a.host, a.type, a.username, a.document, a.fetched_at,
  acc.created_at AS acc_created,
  COALESCE(acc.manually_approves,
           json_extract(a.document, '$.manuallyApprovesFollowers') IS 1, 0) AS locked,
  COALESCE(st.statuses, 0) AS statuses, COALESCE(st.followers, 0) AS followers,
  COALESCE(st.following, 0) AS following, st.last_status_at,
  CASE WHEN a.id = :viewer THEN (SELECT COUNT(*) FROM follows
     WHERE followee = a.id AND state = 'pending') ELSE 0 END AS requests
FROM actors a
LEFT JOIN accounts acc ON acc.actor_id = a.id
LEFT JOIN account_stats st ON st.actor = a.id
WHERE a.id IN (SELECT value FROM json_each(:ids))
"""


def page_clause(column: str, page: PageQuery) -> tuple[str, dict[str, Any], bool]:
    """(SQL conditions, arguments, ascending) for Mastodon's paging on ``column``.

    ``min_id`` pages are read oldest first (the page right after ``min_id``), and the
    caller turns them around, so every page is answered newest first."""
    clauses = ["1"]
    args: dict[str, Any] = {"limit": page.limit}
    if page.max_id is not None:
        clauses.append(f"{column} < :max_id")
        args["max_id"] = page.max_id
    if page.min_id is not None:
        clauses.append(f"{column} > :min_id")
        args["min_id"] = page.min_id
        return " AND ".join(clauses), args, True
    if page.since_id is not None:
        clauses.append(f"{column} > :since_id")
        args["since_id"] = page.since_id
    return " AND ".join(clauses), args, False


def load_accounts(conn: sqlite3.Connection, actor_ids: Iterable[str],
                  viewer: str | None) -> dict[str, AccountView]:
    ids = sorted({a for a in actor_ids if a})
    if not ids:
        return {}
    rows = conn.execute(_ACCOUNTS, {"ids": json.dumps(ids), "viewer": viewer}).fetchall()
    return {r["id"]: AccountView(
        id=r["rid"], actor=r["id"], local=bool(r["local"]), host=r["host"], type=r["type"],
        username=r["username"], document=r["document"], fetched_at=r["fetched_at"],
        created_at=r["acc_created"], manually_approves=bool(r["locked"]),
        statuses_count=r["statuses"], followers_count=r["followers"],
        following_count=r["following"], last_status_at=r["last_status_at"],
        follow_requests_count=r["requests"]) for r in rows}


def _post(r: sqlite3.Row) -> PostView:
    counts = json.loads(r["poll_counts"]) if r["poll_counts"] else None
    return PostView(
        status_id=r["post_id"], object_id=r["object_id"], type=r["type"],
        author=r["attributed_to"], in_reply_to=r["in_reply_to"], visibility=r["visibility"],
        audience=tuple(json.loads(r["audience"])), local=bool(r["local"]),
        document=r["document"], published=r["published"], created_at=r["created_at"],
        replies_count=r["replies"], favourites_count=r["likes"], reblogs_count=r["shares"],
        favourited=bool(r["favourited"]), reblogged=bool(r["reblogged"]),
        bookmarked=bool(r["bookmarked"]), in_reply_to_id=r["reply_id"],
        in_reply_to_author=r["reply_author"],
        own_votes=tuple(json.loads(r["own_votes"])) if r["own_votes"] else (),
        poll_counts=counts if r["type"] == "Question" and r["local"] else None,
        poll_voters=r["poll_voters"])


def load_statuses(conn: sqlite3.Connection, keyed: Sequence[tuple[int, int]],
                  viewer: str | None, *, extra_accounts: Iterable[str] = ()) -> StatusBundle:
    """``keyed`` is (page key, status id) in page order; statuses the viewer may not
    see (or that were deleted) are left out."""
    if not keyed:
        return StatusBundle(statuses=[], accounts=load_accounts(conn, extra_accounts, viewer))
    ids = [status_id for _, status_id in keyed]
    rows = {r["id"]: r for r in conn.execute(
        _STATUSES, {"ids": json.dumps(ids), "viewer": viewer}).fetchall()}
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
        wanted.update(m for m in json.loads(r["mentions"] or "[]") if isinstance(m, str))
    return StatusBundle(statuses=statuses, accounts=load_accounts(conn, wanted, viewer))


def read_transaction(conn: sqlite3.Connection, fn: Any) -> Any:
    """Run ``fn(conn)`` inside one read transaction: its statements see one snapshot."""
    conn.execute("BEGIN")
    try:
        return fn(conn)
    finally:
        conn.execute("COMMIT")
