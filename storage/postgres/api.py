"""PostgreSQL side of the client API: operation interpreters and the derived writes.

The twin of storage/sqlite/api.py, with the same derived writes in the same
transaction (a new post gets its status row and hashtags, a boost its own status row,
an inbox entry of a Create or an Announce a place in the owner's home).

Ids. ``INSERT ... ON CONFLICT DO NOTHING`` draws a sequence value even when it inserts
nothing, and so does sqlite's ``INSERT OR IGNORE`` with AUTOINCREMENT (it advances
``sqlite_sequence``): each statement here attempts exactly the rows sqlite's attempts,
so status, notification and bookmark ids come out the same, gaps included. (Only a
write that fails differs: sqlite takes its ids back, a PostgreSQL sequence does not.)

A post's media flag and group are read from its document here, in Python, rather than
by the database as sqlite does: the document is at hand, and parsing it in PostgreSQL
would mean sending it a second time.

The reads live in ``storage/postgres/api_reads.py``.
"""

from __future__ import annotations

import json

import asyncpg

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
from storage.postgres.api_reads import ApiReads
from storage.postgres.engine import rowcount
from storage.records import AddToInbox, DeleteReaction, PutObject, PutReaction
from storage.store import AlreadyExists

__all__ = ["ApiReads", "after_inbox", "after_put_object", "after_reaction", "apply_api"]

# The class of the two-key advisory locks taken per (poll, voter): "poll" in ASCII.
_POLL_VOTER_LOCKS = 0x706F6C6C
STATUS_TYPES = frozenset({"Note", "Article", "Page", "Question", "Image", "Video", "Event",
                          "Audio"})


def media_and_group(doc: str) -> tuple[int, str | None]:
    """(1 if the post has attachments, the group it is addressed to) as sqlite's JSON
    functions decide them: a non-empty ``attachment`` array or an object; an
    ``audience`` that is one string. The substring tests spare the parse for most posts.

    >>> media_and_group('{"attachment": [{"type": "Image"}], "audience": "https://g"}')
    (1, 'https://g')
    >>> media_and_group('{"attachment": [], "audience": ["https://g"]}')
    (0, None)
    """
    has_media, has_group = '"attachment"' in doc, '"audience"' in doc
    if not (has_media or has_group):
        return 0, None
    parsed = json.loads(doc)
    if not isinstance(parsed, dict):
        return 0, None
    attachment = parsed.get("attachment") if has_media else None
    media = int(bool(attachment)) if isinstance(attachment, list) else int(
        isinstance(attachment, dict))
    audience = parsed.get("audience") if has_group else None
    return media, audience if isinstance(audience, str) else None


async def after_put_object(conn: asyncpg.Connection, op: PutObject) -> None:
    """The status row (and hashtags) of a newly stored post; nothing for an update."""
    if not op.status or op.type not in STATUS_TYPES or op.attributed_to is None:
        return
    media, group = media_and_group(op.document)
    status_id = await conn.fetchval(
        "INSERT INTO statuses (object_id, account, local, visibility, created_at,"
        " in_reply_to, media, grp) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)"
        " ON CONFLICT DO NOTHING RETURNING id",
        op.id, op.attributed_to, int(op.local), op.visibility, op.created_at,
        op.in_reply_to, media, group)
    if op.tags and status_id is not None:
        await conn.execute(
            "INSERT INTO tags (name, status_id) SELECT unnest($1::text[]), $2::bigint"
            " ON CONFLICT DO NOTHING", list(dict.fromkeys(op.tags)), status_id)


async def after_reaction(conn: asyncpg.Connection, op: PutReaction | DeleteReaction) -> None:
    """A boost is a status of its own (one per booster and post); its undo removes it."""
    if op.kind != "announce":
        return
    if isinstance(op, DeleteReaction):
        await conn.execute("DELETE FROM statuses WHERE object_id=$1 AND account=$2"
                           " AND reblog_activity IS NOT NULL", op.object_id, op.actor)
        return
    await conn.execute(
        "INSERT INTO statuses (object_id, account, reblog_activity, local, visibility,"
        " created_at)"
        " SELECT $1::text, $2::text, $3::text, COALESCE(a.local, 0),"
        " COALESCE(a.visibility, 'public'), $4::double precision"
        " FROM (SELECT 1) AS one LEFT JOIN activities a ON a.id = $3::text"
        " WHERE NOT EXISTS (SELECT 1 FROM statuses WHERE object_id = $1::text"
        " AND account = $2::text AND reblog_activity IS NOT NULL)"
        " ON CONFLICT DO NOTHING",
        op.object_id, op.actor, op.activity_id, op.created_at)


async def after_inbox(conn: asyncpg.Connection, op: AddToInbox | AddToHome) -> None:
    """A Create's post, or an Announce's boost, joins the owner's home.

    A group's Announce of a member's Create (FEP-1b12) is a relay, not a boost: the
    relayed post itself joins the home."""
    row = await conn.fetchrow("SELECT type, object_id FROM activities WHERE id=$1",
                              op.activity_id)
    if row is None or row["type"] not in ("Create", "Announce"):
        return
    if row["type"] == "Create":
        await conn.execute(
            "INSERT INTO home (owner, status_id) SELECT $1::text, id FROM statuses"
            " WHERE object_id=$2 AND reblog_activity IS NULL ON CONFLICT DO NOTHING",
            op.owner, row["object_id"])
        return
    status = await conn.execute(
        "INSERT INTO home (owner, status_id) SELECT $1::text, id FROM statuses"
        " WHERE reblog_activity=$2 ON CONFLICT DO NOTHING", op.owner, op.activity_id)
    if rowcount(status):
        return
    await conn.execute(
        "INSERT INTO home (owner, status_id) SELECT $1::text, s.id FROM statuses s"
        " WHERE s.reblog_activity IS NULL AND s.object_id = ("
        " SELECT COALESCE(d -> 'object' -> 'object' ->> 'id', d -> 'object' ->> 'object')"
        " FROM (SELECT jsonb_doc(document) AS d FROM activities WHERE id=$2) AS a"
        " WHERE jsonb_typeof(d -> 'object') = 'object') ON CONFLICT DO NOTHING",
        op.owner, op.activity_id)


async def apply_api(conn: asyncpg.Connection, op: object) -> bool:
    """Apply ``op`` if it is a client-API operation; False when it is not one."""
    if isinstance(op, AddToHome):
        await after_inbox(conn, op)
    elif isinstance(op, Notify):
        await conn.execute(
            "INSERT INTO notifications (owner, type, account, status_id, activity_id,"
            " created_at) VALUES ($1,$2,$3,"
            " (SELECT id FROM statuses WHERE object_id=$4 AND reblog_activity IS NULL),$5,$6)"
            " ON CONFLICT DO NOTHING",
            op.owner, op.type, op.account, op.object_id, op.activity_id, op.created_at)
    elif isinstance(op, DismissNotifications):
        if op.id is None:
            await conn.execute("DELETE FROM notifications WHERE owner=$1", op.owner)
        else:
            await conn.execute("DELETE FROM notifications WHERE owner=$1 AND id=$2",
                               op.owner, int(op.id))
    elif isinstance(op, PutBookmark):
        if op.present:
            await conn.execute("INSERT INTO bookmarks (owner, status_id, created_at)"
                               " VALUES ($1,$2,$3) ON CONFLICT DO NOTHING",
                               op.owner, int(op.status_id), op.created_at)
        else:
            await conn.execute("DELETE FROM bookmarks WHERE owner=$1 AND status_id=$2",
                               op.owner, int(op.status_id))
    elif isinstance(op, PutMute):
        if op.present:
            await conn.execute("INSERT INTO mutes (actor, target, created_at)"
                               " VALUES ($1,$2,$3) ON CONFLICT DO NOTHING",
                               op.actor, op.target, op.created_at)
        else:
            await conn.execute("DELETE FROM mutes WHERE actor=$1 AND target=$2",
                               op.actor, op.target)
    elif isinstance(op, PutIdempotency):
        # A racing twin waits here on the key's row until this transaction ends.
        written = rowcount(await conn.execute(
            "INSERT INTO idempotency (account, key, status_object, created_at)"
            " VALUES ($1,$2,$3,$4) ON CONFLICT (account, key) DO UPDATE SET"
            " status_object=EXCLUDED.status_object, created_at=EXCLUDED.created_at"
            " WHERE $5::double precision IS NULL OR idempotency.created_at < $5",
            op.account, op.key, op.status_object, op.created_at, op.unless_since))
        if not written:
            raise AlreadyExists(f"idempotency key {op.key!r} is taken")
    elif isinstance(op, PutPollVote):
        if op.replace:
            # Two replacing votes of one voter racing would each delete only what was
            # committed before them and both insert: a single-choice poll would count
            # two choices. sqlite's one writer puts them one after the other; here a
            # lock on (poll, voter) does, held until the transaction ends.
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2 || ' ' || $3))",
                               _POLL_VOTER_LOCKS, op.poll, op.voter)
            await conn.execute("DELETE FROM poll_votes WHERE poll=$1 AND voter=$2",
                               op.poll, op.voter)
        await conn.execute(
            "INSERT INTO poll_votes (poll, voter, choice, activity_id, created_at)"
            " SELECT $1::text, $2::text, choice, $4::text, $5::double precision"
            " FROM unnest($3::text[]) AS choice ON CONFLICT DO NOTHING",
            op.poll, op.voter, list(op.choices), op.activity_id, op.created_at)
    elif isinstance(op, UpdateProfile):
        await conn.execute("UPDATE accounts SET display_name=$1, summary=$2,"
                           " manually_approves=$3 WHERE username=$4",
                           op.display_name, op.summary, int(op.manually_approves),
                           op.username)
    else:
        return False
    return True
