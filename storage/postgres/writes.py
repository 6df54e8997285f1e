"""Interpreters for write operations, run inside one PostgreSQL transaction.

A port of storage/sqlite/writes.py, statement for statement, with the same results:
``INSERT OR IGNORE`` becomes ``ON CONFLICT DO NOTHING``, sqlite's ``IntegrityError``
is PostgreSQL's class 23 (``IntegrityConstraintViolationError``: unique, foreign key,
not null, check) and maps to the same ``AlreadyExists``.

Dedupe. sqlite rolls a duplicate back to a SAVEPOINT because its units share a
transaction (group commit); here ``apply`` is a transaction of its own, so ``Duplicate``
simply leaves it and the whole transaction rolls back — no savepoint round trips.

Ids. A PostgreSQL sequence is not rolled back and ``ON CONFLICT`` draws a value even
when it inserts nothing, so the two inserts that routinely find their row already there
(a redelivered activity, a job whose dedupe key is queued) first check ``NOT EXISTS``:
in the common case no id is drawn, and job ids and activity seqs go up one by one as
sqlite's do. Only a race (two processes inserting the same id at once) or a rolled back
transaction leaves a gap; ids are cursors, never counted, so a gap changes no result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from storage.postgres.api import after_inbox, after_put_object, after_reaction, apply_api
from storage.postgres.engine import rowcount
from storage.postgres.governance import apply_governance
from storage.postgres.oauth import apply_oauth
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
from storage.store import AlreadyExists

__all__ = ["Duplicate", "apply_ops"]


class Duplicate(Exception):
    """Raised inside the unit to roll it back when a deduplicating activity exists."""


async def apply_ops(conn: asyncpg.Connection, ops: Sequence[Op]) -> ApplyResult:
    """Apply ``ops`` in the caller's transaction; ``Duplicate`` or ``AlreadyExists``
    leave it (and so roll it back whole)."""
    job_ids: list[int] = []
    try:
        for op in ops:
            job_id = await _apply(conn, op)
            if job_id is not None:
                job_ids.append(job_id)
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise AlreadyExists(str(exc)) from exc
    return ApplyResult(applied=True, job_ids=job_ids)


_NEW_ACTIVITY = (
    "INSERT INTO activities (id, type, actor, object_id, local, visibility, audience,"
    " document, created_at)")
# INSERT ... SELECT types its values from the select list, not from the columns: cast.
_NEW_ACTIVITY_ONCE = (
    f"{_NEW_ACTIVITY} SELECT $1::text, $2::text, $3::text, $4::text, $5::integer, $6::text,"
    " $7::text, $8::text, $9::double precision"
    " WHERE NOT EXISTS (SELECT 1 FROM activities WHERE id = $1::text)"
    " ON CONFLICT (id) DO NOTHING")


async def _apply(conn: asyncpg.Connection, op: Op) -> int | None:
    if isinstance(op, PutActivity):
        sql = _NEW_ACTIVITY_ONCE if op.dedupe else (
            f"{_NEW_ACTIVITY} VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
        status = await conn.execute(
            sql, op.id, op.type, op.actor, op.object_id, int(op.local), op.visibility,
            json.dumps(list(op.audience)), op.document, op.created_at)
        if rowcount(status) == 0:
            raise Duplicate(op.id)
    elif isinstance(op, PutObject):
        await conn.execute(
            "INSERT INTO objects (id, type, attributed_to, in_reply_to, context, visibility,"
            " audience, local, document, published, created_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            " ON CONFLICT (id) DO UPDATE SET type=EXCLUDED.type, document=EXCLUDED.document,"
            " visibility=EXCLUDED.visibility, audience=EXCLUDED.audience"
            " WHERE objects.deleted_at IS NULL",
            op.id, op.type, op.attributed_to, op.in_reply_to, op.context, op.visibility,
            json.dumps(list(op.audience)), int(op.local), op.document, op.published,
            op.created_at)
        await after_put_object(conn, op)
    elif isinstance(op, TombstoneObject):
        await conn.execute(
            "UPDATE objects SET type='Tombstone', document=$1, deleted_at=$2 WHERE id=$3",
            op.document, op.deleted_at, op.id)
        await conn.execute("DELETE FROM reactions WHERE object_id=$1", op.id)
    elif isinstance(op, AddToInbox):
        await conn.execute(
            "INSERT INTO inbox (owner, activity_seq)"
            " SELECT $1::text, seq FROM activities WHERE id=$2 ON CONFLICT DO NOTHING",
            op.owner, op.activity_id)
        await after_inbox(conn, op)
    elif isinstance(op, PutFollow):
        await conn.execute(
            "INSERT INTO follows (follower, followee, activity_id, state, created_at)"
            " VALUES ($1,$2,$3,$4,$5) ON CONFLICT (follower, followee) DO UPDATE SET"
            " activity_id=EXCLUDED.activity_id,"
            " state=CASE WHEN follows.state='accepted' THEN 'accepted' ELSE EXCLUDED.state END",
            op.follower, op.followee, op.activity_id, op.state, op.created_at)
    elif isinstance(op, SetFollowState):
        await conn.execute(
            "UPDATE follows SET state=$1 WHERE follower=$2 AND followee=$3",
            op.state, op.follower, op.followee)
    elif isinstance(op, DeleteFollow):
        await conn.execute(
            "DELETE FROM follows WHERE follower=$1 AND followee=$2", op.follower, op.followee)
    elif isinstance(op, PutReaction):
        await conn.execute(
            "INSERT INTO reactions (kind, actor, object_id, activity_id, created_at)"
            " VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
            op.kind, op.actor, op.object_id, op.activity_id, op.created_at)
        await after_reaction(conn, op)
    elif isinstance(op, DeleteReaction):
        await conn.execute(
            "DELETE FROM reactions WHERE kind=$1 AND actor=$2 AND object_id=$3",
            op.kind, op.actor, op.object_id)
        await after_reaction(conn, op)
    elif isinstance(op, PutBlock):
        await conn.execute(
            "INSERT INTO blocks (actor, target, activity_id, created_at)"
            " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
            op.actor, op.target, op.activity_id, op.created_at)
        await conn.execute(
            "DELETE FROM follows WHERE (follower=$1 AND followee=$2)"
            " OR (follower=$2 AND followee=$1)", op.actor, op.target)
    elif isinstance(op, DeleteBlock):
        await conn.execute(
            "DELETE FROM blocks WHERE actor=$1 AND target=$2", op.actor, op.target)
    elif isinstance(op, PutActor):
        a = op.actor
        await conn.execute(
            "INSERT INTO actors (id, local, host, type, username, inbox, shared_inbox,"
            " followers, document, fetched_at, gone) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)"
            " ON CONFLICT (id) DO UPDATE SET type=EXCLUDED.type, username=EXCLUDED.username,"
            " inbox=EXCLUDED.inbox, shared_inbox=EXCLUDED.shared_inbox,"
            " followers=EXCLUDED.followers, document=EXCLUDED.document,"
            " fetched_at=EXCLUDED.fetched_at, gone=EXCLUDED.gone",
            a.id, int(a.local), a.host, a.type, a.username, a.inbox, a.shared_inbox,
            a.followers, a.document, a.fetched_at, int(a.gone))
    elif isinstance(op, DeleteActor):
        await conn.execute("UPDATE actors SET gone=1 WHERE id=$1 AND local=0", op.id)
        await conn.execute("DELETE FROM follows WHERE follower=$1 OR followee=$1", op.id)
        await conn.execute("DELETE FROM keys WHERE owner=$1", op.id)
    elif isinstance(op, PutKey):
        await conn.execute(
            "INSERT INTO keys (id, owner, pem, fetched_at) VALUES ($1,$2,$3,$4)"
            " ON CONFLICT (id) DO UPDATE SET owner=EXCLUDED.owner, pem=EXCLUDED.pem,"
            " fetched_at=EXCLUDED.fetched_at",
            op.key_id, op.owner, op.pem, op.fetched_at)
    elif isinstance(op, CreateAccount):
        acc = op.account
        await conn.execute(
            "INSERT INTO accounts (username, actor_id, kind, display_name, summary, email,"
            " password_hash, admin, rsa_private_pem, ed25519_private_pem, manually_approves,"
            " created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
            acc.username, acc.actor_id, acc.kind, acc.display_name, acc.summary, acc.email,
            acc.password_hash, int(acc.admin), acc.rsa_private_pem, acc.ed25519_private_pem,
            int(acc.manually_approves), acc.created_at)
        await _apply(conn, PutActor(actor=op.actor))
    elif isinstance(op, CreateToken):
        await conn.execute(
            "INSERT INTO tokens (token_hash, username, scopes, created_at)"
            " VALUES ($1,$2,$3,$4)", op.token_hash, op.username, op.scopes, op.created_at)
    elif isinstance(op, SetDomainBlock):
        if op.blocked:
            await conn.execute(
                "INSERT INTO domain_blocks (domain, created_at) VALUES ($1,$2)"
                " ON CONFLICT DO NOTHING", op.domain, op.created_at)
            # Defederating ends every follow with that domain, both ways (Mastodon's
            # suspension does the same): its members stop counting as members.
            await conn.execute(
                "DELETE FROM follows WHERE follower IN (SELECT id FROM actors WHERE host=$1)"
                " OR followee IN (SELECT id FROM actors WHERE host=$1)", op.domain)
        else:
            await conn.execute("DELETE FROM domain_blocks WHERE domain=$1", op.domain)
    elif isinstance(op, EnqueueJob):
        job_id: int | None = await conn.fetchval(
            "INSERT INTO jobs (kind, payload, host, run_at, created_at, dedupe_key)"
            " SELECT $1::text, $2::text, $3::text, $4::double precision,"
            " $4::double precision, $5::text"
            " WHERE $5::text IS NULL"
            " OR NOT EXISTS (SELECT 1 FROM jobs WHERE dedupe_key = $5::text)"
            " ON CONFLICT DO NOTHING RETURNING id",
            op.kind, op.payload, op.host, op.run_at, op.dedupe_key)
        return job_id
    elif not (await apply_api(conn, op) or await apply_oauth(conn, op)):
        await apply_governance(conn, op)
    return None
