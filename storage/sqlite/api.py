"""sqlite side of the client API: operation interpreters and the derived writes.

The derived writes keep the API tables in step with the ActivityPub ones inside the
same transaction, so apps never see a post without its status id or a home feed that
misses a delivered post:

- a new post-like object (``PutObject`` with ``status``) gets its ``statuses`` row and
  its hashtags;
- a boost (``PutReaction`` announce) gets a status row of its own, removed again by
  the ``DeleteReaction`` that undoes it;
- an inbox entry (``AddToInbox``) of a Create or an Announce puts that status in the
  owner's home, as ``AddToHome`` does for an author's own posts.

The reads live in ``storage/sqlite/api_reads.py``.
"""

from __future__ import annotations

import sqlite3

from storage.api import (
    AddToHome,
    DismissNotifications,
    Notify,
    PutBookmark,
    PutIdempotency,
    PutMute,
    PutPollVote,
    UpdateProfile,
)
from storage.records import AddToInbox, DeleteReaction, PutActivity, PutObject, PutReaction
from storage.sqlite.api_reads import ApiReads
from storage.store import AlreadyExists

__all__ = ["ApiReads", "after_inbox", "after_put_object", "after_reaction", "apply_api"]

STATUS_TYPES = frozenset({"Note", "Article", "Page", "Question", "Image", "Video", "Event",
                          "Audio"})


def after_put_object(conn: sqlite3.Connection, op: PutObject) -> None:
    """The status row (and hashtags) of a newly stored post; nothing for an update."""
    if not op.status or op.type not in STATUS_TYPES or op.attributed_to is None:
        return
    doc = op.document
    # A substring test first: most posts have neither, and sqlite's JSON functions
    # would parse the whole document to find out.
    media = "0"
    if '"attachment"' in doc:
        media = ("CASE json_type(:doc, '$.attachment') WHEN 'array' THEN"
                 " json_array_length(:doc, '$.attachment') > 0 WHEN 'object' THEN 1 ELSE 0 END")
    group = "NULL"
    if '"audience"' in doc:
        group = ("CASE json_type(:doc, '$.audience') WHEN 'text' THEN"
                 " json_extract(:doc, '$.audience') END")
    cur = conn.execute(
        "INSERT OR IGNORE INTO statuses (object_id, account, local, visibility, created_at,"
        f" in_reply_to, media, grp) VALUES (:id, :account, :local, :visibility, :created,"
        f" :reply, {media}, {group})",
        {"id": op.id, "account": op.attributed_to, "local": int(op.local),
         "visibility": op.visibility, "created": op.created_at, "reply": op.in_reply_to,
         "doc": doc})
    if op.tags and cur.rowcount:
        status_id = cur.lastrowid
        conn.executemany("INSERT OR IGNORE INTO tags (name, status_id) VALUES (?,?)",
                         [(tag, status_id) for tag in dict.fromkeys(op.tags)])


def after_reaction(conn: sqlite3.Connection, op: PutReaction | DeleteReaction) -> None:
    """A boost is a status of its own (one per booster and post); its undo removes it."""
    if op.kind != "announce":
        return
    if isinstance(op, DeleteReaction):
        conn.execute("DELETE FROM statuses WHERE object_id=? AND account=?"
                     " AND reblog_activity IS NOT NULL", (op.object_id, op.actor))
        return
    conn.execute(
        "INSERT OR IGNORE INTO statuses (object_id, account, reblog_activity, local,"
        " visibility, created_at)"
        " SELECT :object, :actor, :activity, COALESCE(a.local, 0),"
        " COALESCE(a.visibility, 'public'), :created"
        " FROM (SELECT 1) LEFT JOIN activities a ON a.id = :activity"
        " WHERE NOT EXISTS (SELECT 1 FROM statuses WHERE object_id = :object"
        " AND account = :actor AND reblog_activity IS NOT NULL)",
        {"object": op.object_id, "actor": op.actor, "activity": op.activity_id,
         "created": op.created_at})


def after_inbox(conn: sqlite3.Connection, op: AddToInbox | AddToHome,
                activity: PutActivity | None = None) -> None:
    """A Create's post, or an Announce's boost, joins the owner's home.

    A group's Announce of a member's Create (FEP-1b12) is a relay, not a boost: the
    relayed post itself joins the home. ``activity`` is the activity's insert when the
    same unit made it: then its row is known and is not read back."""
    if activity is not None:
        kind, object_id = activity.type, activity.object_id
    else:
        row = conn.execute("SELECT type, object_id FROM activities WHERE id=?",
                           (op.activity_id,)).fetchone()
        if row is None:
            return
        kind, object_id = row
    if kind not in ("Create", "Announce"):
        return
    if kind == "Create":
        conn.execute("INSERT OR IGNORE INTO home (owner, status_id) SELECT ?, id FROM statuses"
                     " WHERE object_id=? AND reblog_activity IS NULL", (op.owner, object_id))
        return
    cur = conn.execute("INSERT OR IGNORE INTO home (owner, status_id) SELECT ?, id"
                       " FROM statuses WHERE reblog_activity=?", (op.owner, op.activity_id))
    if cur.rowcount:
        return
    conn.execute(
        "INSERT OR IGNORE INTO home (owner, status_id) SELECT ?, s.id FROM statuses s"
        " WHERE s.reblog_activity IS NULL AND s.object_id = ("
        " SELECT COALESCE(json_extract(document, '$.object.object.id'),"
        " json_extract(document, '$.object.object')) FROM activities"
        " WHERE id=? AND json_type(document, '$.object') = 'object')",
        (op.owner, op.activity_id))


def apply_api(conn: sqlite3.Connection, op: object) -> bool:
    """Apply ``op`` if it is a client-API operation; False when it is not one."""
    if isinstance(op, AddToHome):
        after_inbox(conn, op)
    elif isinstance(op, Notify):
        conn.execute(
            "INSERT OR IGNORE INTO notifications (owner, type, account, status_id,"
            " activity_id, created_at) VALUES (?,?,?,"
            " (SELECT id FROM statuses WHERE object_id=? AND reblog_activity IS NULL),?,?)",
            (op.owner, op.type, op.account, op.object_id, op.activity_id, op.created_at))
    elif isinstance(op, DismissNotifications):
        if op.id is None:
            conn.execute("DELETE FROM notifications WHERE owner=?", (op.owner,))
        else:
            conn.execute("DELETE FROM notifications WHERE owner=? AND id=?", (op.owner, op.id))
    elif isinstance(op, PutBookmark):
        if op.present:
            conn.execute("INSERT OR IGNORE INTO bookmarks (owner, status_id, created_at)"
                         " VALUES (?,?,?)", (op.owner, op.status_id, op.created_at))
        else:
            conn.execute("DELETE FROM bookmarks WHERE owner=? AND status_id=?",
                         (op.owner, op.status_id))
    elif isinstance(op, PutMute):
        if op.present:
            conn.execute("INSERT OR IGNORE INTO mutes (actor, target, created_at)"
                         " VALUES (?,?,?)", (op.actor, op.target, op.created_at))
        else:
            conn.execute("DELETE FROM mutes WHERE actor=? AND target=?", (op.actor, op.target))
    elif isinstance(op, PutIdempotency):
        written = conn.execute(
            "INSERT INTO idempotency (account, key, status_object, created_at)"
            " VALUES (?,?,?,?) ON CONFLICT (account, key) DO UPDATE SET"
            " status_object=excluded.status_object, created_at=excluded.created_at"
            " WHERE ?5 IS NULL OR idempotency.created_at < ?5",
            (op.account, op.key, op.status_object, op.created_at, op.unless_since)).rowcount
        if not written:
            raise AlreadyExists(f"idempotency key {op.key!r} is taken")
    elif isinstance(op, PutPollVote):
        if op.replace:
            conn.execute("DELETE FROM poll_votes WHERE poll=? AND voter=?", (op.poll, op.voter))
        conn.executemany(
            "INSERT OR IGNORE INTO poll_votes (poll, voter, choice, activity_id, created_at)"
            " VALUES (?,?,?,?,?)",
            [(op.poll, op.voter, c, op.activity_id, op.created_at) for c in op.choices])
    elif isinstance(op, UpdateProfile):
        conn.execute("UPDATE accounts SET display_name=?, summary=?, manually_approves=?"
                     " WHERE username=?",
                     (op.display_name, op.summary, int(op.manually_approves), op.username))
    else:
        return False
    return True
