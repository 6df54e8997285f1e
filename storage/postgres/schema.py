"""Versioned schema for the PostgreSQL engine.

The SAME versions, tables and columns as the sqlite schema (storage/sqlite/schema.py),
so ``mutual migrate-to`` copies a sqlite database table by table, values unchanged.
The types are the nearest PostgreSQL ones that keep every value as it is:

- sqlite ``INTEGER PRIMARY KEY AUTOINCREMENT`` -> ``BIGSERIAL``: ids and seqs keep their
  values when copied (the copy, storage/transfer.py, then moves each sequence past
  sqlite's high-water mark, so new rows continue the numbering);
- ``REAL`` (epoch seconds) -> ``DOUBLE PRECISION``: sqlite's REAL is an 8-byte float;
- the 0/1 flags stay ``INTEGER``, not ``BOOLEAN``, so a copied row is the same row and
  every query compares them with the same ``=1`` / ``=0``;
- JSON stays ``TEXT``, as sqlite stores it: the documents are handed back byte for
  byte, and no query here needs to look inside them.

Each entry is applied once, in order, inside one transaction, under an advisory lock
(storage/postgres/engine.py), and recorded in ``schema_version``. Never edit a released
migration: append a new one.
"""

from __future__ import annotations

from storage.postgres.schema_api import API_MIGRATIONS
from storage.postgres.schema_oauth import OAUTH_MIGRATIONS

__all__ = ["MIGRATIONS"]

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE accounts (
            username TEXT PRIMARY KEY,
            actor_id TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            email TEXT UNIQUE,
            password_hash TEXT,
            admin INTEGER NOT NULL DEFAULT 0,
            rsa_private_pem TEXT NOT NULL,
            ed25519_private_pem TEXT NOT NULL,
            manually_approves INTEGER NOT NULL DEFAULT 0,
            created_at DOUBLE PRECISION NOT NULL
        );

        CREATE TABLE actors (
            id TEXT PRIMARY KEY,
            local INTEGER NOT NULL,
            host TEXT NOT NULL,
            type TEXT NOT NULL,
            username TEXT,
            inbox TEXT NOT NULL,
            shared_inbox TEXT,
            followers TEXT,
            document TEXT NOT NULL,
            fetched_at DOUBLE PRECISION NOT NULL,
            gone INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX actors_host ON actors(host);

        CREATE TABLE keys (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            pem TEXT NOT NULL,
            fetched_at DOUBLE PRECISION NOT NULL
        );

        CREATE TABLE activities (
            seq BIGSERIAL PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            actor TEXT NOT NULL,
            object_id TEXT,
            local INTEGER NOT NULL,
            visibility TEXT NOT NULL,
            audience TEXT NOT NULL,
            document TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX activities_actor ON activities(actor, seq);
        CREATE INDEX activities_object ON activities(object_id, type);

        CREATE TABLE objects (
            seq BIGSERIAL PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            attributed_to TEXT,
            in_reply_to TEXT,
            context TEXT,
            visibility TEXT NOT NULL,
            audience TEXT NOT NULL,
            local INTEGER NOT NULL,
            document TEXT NOT NULL,
            published TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            deleted_at DOUBLE PRECISION
        );
        CREATE INDEX objects_in_reply_to ON objects(in_reply_to, seq);
        CREATE INDEX objects_author ON objects(attributed_to, seq);

        CREATE TABLE inbox (
            owner TEXT NOT NULL,
            activity_seq BIGINT NOT NULL,
            PRIMARY KEY (owner, activity_seq)
        );

        CREATE TABLE follows (
            seq BIGSERIAL PRIMARY KEY,
            follower TEXT NOT NULL,
            followee TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (follower, followee)
        );
        CREATE INDEX follows_followee ON follows(followee, state);

        CREATE TABLE reactions (
            seq BIGSERIAL PRIMARY KEY,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            object_id TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (kind, actor, object_id)
        );
        CREATE INDEX reactions_object ON reactions(object_id, kind);

        CREATE TABLE blocks (
            actor TEXT NOT NULL,
            target TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (actor, target)
        );

        CREATE TABLE domain_blocks (
            domain TEXT PRIMARY KEY,
            created_at DOUBLE PRECISION NOT NULL
        );

        CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES accounts(username),
            scopes TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE jobs (
            id BIGSERIAL PRIMARY KEY,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            host TEXT,
            state TEXT NOT NULL DEFAULT 'queued',
            run_at DOUBLE PRECISION NOT NULL,
            locked_until DOUBLE PRECISION,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX jobs_due ON jobs(state, kind, run_at);

        CREATE TABLE hosts (
            host TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            paused_until DOUBLE PRECISION,
            last_error TEXT
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE groups (
            actor_id TEXT PRIMARY KEY,
            closed INTEGER NOT NULL,
            rules TEXT NOT NULL DEFAULT '',
            next_proposal BIGINT NOT NULL DEFAULT 1
        );

        CREATE TABLE group_roles (
            group_id TEXT NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (group_id, actor, role)
        );

        CREATE TABLE proposals (
            id TEXT PRIMARY KEY,
            group_id TEXT NOT NULL,
            number BIGINT NOT NULL,
            proposer TEXT NOT NULL,
            rule TEXT NOT NULL,
            multiple INTEGER NOT NULL,
            options TEXT NOT NULL,
            end_time DOUBLE PRECISION NOT NULL,
            quorum DOUBLE PRECISION NOT NULL,
            threshold DOUBLE PRECISION NOT NULL,
            electorate_size BIGINT NOT NULL,
            electorate_hash TEXT NOT NULL,
            state TEXT NOT NULL,
            action TEXT,
            document TEXT NOT NULL,
            result TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            UNIQUE (group_id, number)
        );

        CREATE TABLE electorate (
            proposal TEXT NOT NULL,
            actor TEXT NOT NULL,
            PRIMARY KEY (proposal, actor)
        );

        CREATE TABLE ledger (
            proposal TEXT NOT NULL,
            seq BIGINT NOT NULL,
            voter TEXT NOT NULL,
            ballot TEXT NOT NULL,
            entry TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (proposal, seq)
        );
        CREATE INDEX ledger_voter ON ledger(proposal, voter, seq);

        CREATE TABLE refusals (
            id BIGSERIAL PRIMARY KEY,
            proposal TEXT NOT NULL,
            voter TEXT NOT NULL,
            reason TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            received DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX refusals_proposal ON refusals(proposal);

        ALTER TABLE jobs ADD COLUMN dedupe_key TEXT;
        CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe_key) WHERE dedupe_key IS NOT NULL;
        """,
    ),
]

# Each concern keeps its migrations in its own module; versions are global and unique.
MIGRATIONS.extend(API_MIGRATIONS)
MIGRATIONS.extend(OAUTH_MIGRATIONS)
MIGRATIONS.sort(key=lambda migration: migration[0])
assert len({version for version, _ in MIGRATIONS}) == len(MIGRATIONS), "duplicate version"
