"""Interpreters for write operations, run inside the engine's transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from storage.records import (
    AddToInbox,
    ApplyResult,
    CreateAccount,
    CreateToken,
    DeleteActor,
    DeleteBlock,
    DeleteFollow,
    DeleteReaction,
    EnqueueJob,
    Op,
    PutActivity,
    PutActor,
    PutBlock,
    PutFollow,
    PutKey,
    PutObject,
    PutReaction,
    SetDomainBlock,
    SetFollowState,
    TombstoneObject,
)
from storage.sqlite.api import after_inbox, after_put_object, after_reaction, apply_api
from storage.sqlite.engine import Rollback
from storage.sqlite.governance import apply_governance
from storage.sqlite.oauth import apply_oauth
from storage.store import AlreadyExists

__all__ = ["apply_or_skip"]


class _Duplicate(Exception):
    """Raised inside the unit to roll it back when a deduplicating activity exists."""


def apply_ops(conn: sqlite3.Connection, ops: Sequence[Op]) -> ApplyResult:
    job_ids: list[int] = []
    # The activities this unit inserted: an inbox entry for one of them need not read
    # its type and object back from the row (``after_inbox``).
    inserted: dict[str, PutActivity] = {}
    written = False
    try:
        for op in ops:
            job_id = _apply(conn, op, inserted)
            written = True
            if job_id is not None:
                job_ids.append(job_id)
    except sqlite3.IntegrityError as exc:
        raise AlreadyExists(str(exc)) from exc
    except _Duplicate:
        if not written:  # the first op: nothing to undo, so no savepoint to roll back to
            return ApplyResult(applied=False)
        raise
    return ApplyResult(applied=True, job_ids=job_ids)


def apply_or_skip(conn: sqlite3.Connection, ops: Sequence[Op]) -> ApplyResult:
    """Apply ``ops`` as one unit of ``SqliteEngine.write``; a duplicate activity id rolls
    back what this unit wrote. The engine does the rolling back, for an error as for a
    duplicate (``Rollback``), so that ops need no savepoint of their own; a duplicate
    that is the first op (as the inbox sends its activity) has nothing to undo."""
    try:
        return apply_ops(conn, ops)
    except _Duplicate:
        raise Rollback(ApplyResult(applied=False)) from None


def _apply(conn: sqlite3.Connection, op: Op, inserted: dict[str, PutActivity]) -> int | None:
    if isinstance(op, PutActivity):
        sql = "INSERT OR IGNORE" if op.dedupe else "INSERT"
        cur = conn.execute(
            f"{sql} INTO activities (id, type, actor, object_id, local, visibility, audience,"
            " document, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (op.id, op.type, op.actor, op.object_id, int(op.local), op.visibility,
             json.dumps(list(op.audience)), op.document, op.created_at),
        )
        if cur.rowcount == 0:
            raise _Duplicate(op.id)
        inserted[op.id] = op
    elif isinstance(op, PutObject):
        conn.execute(
            "INSERT INTO objects (id, type, attributed_to, in_reply_to, context, visibility,"
            " audience, local, document, published, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET type=excluded.type, document=excluded.document,"
            " visibility=excluded.visibility, audience=excluded.audience"
            " WHERE objects.deleted_at IS NULL",
            (op.id, op.type, op.attributed_to, op.in_reply_to, op.context, op.visibility,
             json.dumps(list(op.audience)), int(op.local), op.document, op.published,
             op.created_at),
        )
        after_put_object(conn, op)
    elif isinstance(op, TombstoneObject):
        conn.execute(
            "UPDATE objects SET type='Tombstone', document=?, deleted_at=? WHERE id=?",
            (op.document, op.deleted_at, op.id),
        )
        conn.execute("DELETE FROM reactions WHERE object_id=?", (op.id,))
    elif isinstance(op, AddToInbox):
        conn.execute(
            "INSERT OR IGNORE INTO inbox (owner, activity_seq)"
            " SELECT ?, seq FROM activities WHERE id=?",
            (op.owner, op.activity_id),
        )
        after_inbox(conn, op, inserted.get(op.activity_id))
    elif isinstance(op, PutFollow):
        conn.execute(
            "INSERT INTO follows (follower, followee, activity_id, state, created_at)"
            " VALUES (?,?,?,?,?) ON CONFLICT (follower, followee) DO UPDATE SET"
            " activity_id=excluded.activity_id,"
            " state=CASE WHEN follows.state='accepted' THEN 'accepted' ELSE excluded.state END",
            (op.follower, op.followee, op.activity_id, op.state, op.created_at),
        )
    elif isinstance(op, SetFollowState):
        conn.execute(
            "UPDATE follows SET state=? WHERE follower=? AND followee=?",
            (op.state, op.follower, op.followee),
        )
    elif isinstance(op, DeleteFollow):
        conn.execute(
            "DELETE FROM follows WHERE follower=? AND followee=?", (op.follower, op.followee)
        )
    elif isinstance(op, PutReaction):
        conn.execute(
            "INSERT OR IGNORE INTO reactions (kind, actor, object_id, activity_id, created_at)"
            " VALUES (?,?,?,?,?)",
            (op.kind, op.actor, op.object_id, op.activity_id, op.created_at),
        )
        after_reaction(conn, op)
    elif isinstance(op, DeleteReaction):
        conn.execute(
            "DELETE FROM reactions WHERE kind=? AND actor=? AND object_id=?",
            (op.kind, op.actor, op.object_id),
        )
        after_reaction(conn, op)
    elif isinstance(op, PutBlock):
        conn.execute(
            "INSERT OR IGNORE INTO blocks (actor, target, activity_id, created_at)"
            " VALUES (?,?,?,?)",
            (op.actor, op.target, op.activity_id, op.created_at),
        )
        conn.execute(
            "DELETE FROM follows WHERE (follower=? AND followee=?) OR (follower=? AND followee=?)",
            (op.actor, op.target, op.target, op.actor),
        )
    elif isinstance(op, DeleteBlock):
        conn.execute("DELETE FROM blocks WHERE actor=? AND target=?", (op.actor, op.target))
    elif isinstance(op, PutActor):
        a = op.actor
        conn.execute(
            "INSERT INTO actors (id, local, host, type, username, inbox, shared_inbox,"
            " followers, document, fetched_at, gone) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET type=excluded.type, username=excluded.username,"
            " inbox=excluded.inbox, shared_inbox=excluded.shared_inbox,"
            " followers=excluded.followers, document=excluded.document,"
            " fetched_at=excluded.fetched_at, gone=excluded.gone",
            (a.id, int(a.local), a.host, a.type, a.username, a.inbox, a.shared_inbox,
             a.followers, a.document, a.fetched_at, int(a.gone)),
        )
    elif isinstance(op, DeleteActor):
        conn.execute("UPDATE actors SET gone=1 WHERE id=? AND local=0", (op.id,))
        conn.execute("DELETE FROM follows WHERE follower=? OR followee=?", (op.id, op.id))
        conn.execute("DELETE FROM keys WHERE owner=?", (op.id,))
    elif isinstance(op, PutKey):
        conn.execute(
            "INSERT INTO keys (id, owner, pem, fetched_at) VALUES (?,?,?,?)"
            " ON CONFLICT (id) DO UPDATE SET owner=excluded.owner, pem=excluded.pem,"
            " fetched_at=excluded.fetched_at",
            (op.key_id, op.owner, op.pem, op.fetched_at),
        )
    elif isinstance(op, CreateAccount):
        acc = op.account
        conn.execute(
            "INSERT INTO accounts (username, actor_id, kind, display_name, summary, email,"
            " password_hash, admin, rsa_private_pem, ed25519_private_pem, manually_approves,"
            " created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (acc.username, acc.actor_id, acc.kind, acc.display_name, acc.summary, acc.email,
             acc.password_hash, int(acc.admin), acc.rsa_private_pem, acc.ed25519_private_pem,
             int(acc.manually_approves), acc.created_at),
        )
        _apply(conn, PutActor(actor=op.actor), inserted)
    elif isinstance(op, CreateToken):
        conn.execute(
            "INSERT INTO tokens (token_hash, username, scopes, created_at) VALUES (?,?,?,?)",
            (op.token_hash, op.username, op.scopes, op.created_at),
        )
    elif isinstance(op, SetDomainBlock):
        if op.blocked:
            conn.execute(
                "INSERT OR IGNORE INTO domain_blocks (domain, created_at) VALUES (?,?)",
                (op.domain, op.created_at),
            )
            # Defederating ends every follow with that domain, both ways (Mastodon's
            # suspension does the same): its members stop counting as members.
            conn.execute(
                "DELETE FROM follows WHERE follower IN (SELECT id FROM actors WHERE host=?)"
                " OR followee IN (SELECT id FROM actors WHERE host=?)",
                (op.domain, op.domain),
            )
        else:
            conn.execute("DELETE FROM domain_blocks WHERE domain=?", (op.domain,))
    elif isinstance(op, EnqueueJob):
        cur = conn.execute(
            "INSERT OR IGNORE INTO jobs (kind, payload, host, run_at, created_at, dedupe_key)"
            " VALUES (?,?,?,?,?,?)",
            (op.kind, op.payload, op.host, op.run_at, op.run_at, op.dedupe_key),
        )
        return cur.lastrowid if cur.rowcount else None
    elif not (apply_api(conn, op) or apply_oauth(conn, op)):
        apply_governance(conn, op)
    return None
