"""Versioned schema for the sqlite engine.

Each entry is applied once, in order, inside one transaction, and recorded in
``schema_version``. Never edit a released migration: append a new one.
"""

from __future__ import annotations

from storage.sqlite.schema_api import API_MIGRATIONS
from storage.sqlite.schema_oauth import OAUTH_MIGRATIONS

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
            created_at REAL NOT NULL
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
            fetched_at REAL NOT NULL,
            gone INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX actors_host ON actors(host);

        CREATE TABLE keys (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            pem TEXT NOT NULL,
            fetched_at REAL NOT NULL
        );

        CREATE TABLE activities (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            actor TEXT NOT NULL,
            object_id TEXT,
            local INTEGER NOT NULL,
            visibility TEXT NOT NULL,
            audience TEXT NOT NULL,
            document TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX activities_actor ON activities(actor, seq);
        CREATE INDEX activities_object ON activities(object_id, type);

        CREATE TABLE objects (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
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
            created_at REAL NOT NULL,
            deleted_at REAL
        );
        CREATE INDEX objects_in_reply_to ON objects(in_reply_to, seq);
        CREATE INDEX objects_author ON objects(attributed_to, seq);

        CREATE TABLE inbox (
            owner TEXT NOT NULL,
            activity_seq INTEGER NOT NULL,
            PRIMARY KEY (owner, activity_seq)
        ) WITHOUT ROWID;

        CREATE TABLE follows (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            follower TEXT NOT NULL,
            followee TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (follower, followee)
        );
        CREATE INDEX follows_followee ON follows(followee, state);

        CREATE TABLE reactions (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            actor TEXT NOT NULL,
            object_id TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            UNIQUE (kind, actor, object_id)
        );
        CREATE INDEX reactions_object ON reactions(object_id, kind);

        CREATE TABLE blocks (
            actor TEXT NOT NULL,
            target TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (actor, target)
        );

        CREATE TABLE domain_blocks (domain TEXT PRIMARY KEY, created_at REAL NOT NULL);

        CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES accounts(username),
            scopes TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            host TEXT,
            state TEXT NOT NULL DEFAULT 'queued',
            run_at REAL NOT NULL,
            locked_until REAL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at REAL NOT NULL
        );
        CREATE INDEX jobs_due ON jobs(state, kind, run_at);

        CREATE TABLE hosts (
            host TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            paused_until REAL,
            last_error TEXT
        );
        """,
    ),
]

MIGRATIONS.append(
    (
        2,
        """
        CREATE TABLE groups (
            actor_id TEXT PRIMARY KEY,
            closed INTEGER NOT NULL,
            rules TEXT NOT NULL DEFAULT '',
            next_proposal INTEGER NOT NULL DEFAULT 1
        );

        CREATE TABLE group_roles (
            group_id TEXT NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (group_id, actor, role)
        );

        CREATE TABLE proposals (
            id TEXT PRIMARY KEY,
            group_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            proposer TEXT NOT NULL,
            rule TEXT NOT NULL,
            multiple INTEGER NOT NULL,
            options TEXT NOT NULL,
            end_time REAL NOT NULL,
            quorum REAL NOT NULL,
            threshold REAL NOT NULL,
            electorate_size INTEGER NOT NULL,
            electorate_hash TEXT NOT NULL,
            state TEXT NOT NULL,
            action TEXT,
            document TEXT NOT NULL,
            result TEXT,
            created_at REAL NOT NULL,
            UNIQUE (group_id, number)
        );

        CREATE TABLE electorate (
            proposal TEXT NOT NULL,
            actor TEXT NOT NULL,
            PRIMARY KEY (proposal, actor)
        ) WITHOUT ROWID;

        CREATE TABLE ledger (
            proposal TEXT NOT NULL,
            seq INTEGER NOT NULL,
            voter TEXT NOT NULL,
            ballot TEXT NOT NULL,
            entry TEXT NOT NULL,
            hash TEXT NOT NULL,
            PRIMARY KEY (proposal, seq)
        );
        CREATE INDEX ledger_voter ON ledger(proposal, voter, seq);

        CREATE TABLE refusals (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            proposal TEXT NOT NULL,
            voter TEXT NOT NULL,
            reason TEXT NOT NULL,
            activity_id TEXT NOT NULL,
            received REAL NOT NULL
        );
        CREATE INDEX refusals_proposal ON refusals(proposal);

        ALTER TABLE jobs ADD COLUMN dedupe_key TEXT;
        CREATE UNIQUE INDEX jobs_dedupe ON jobs(dedupe_key) WHERE dedupe_key IS NOT NULL
        """,
    )
)

# Each concern keeps its migrations in its own module; versions are global and unique.
MIGRATIONS.extend(API_MIGRATIONS)
MIGRATIONS.extend(OAUTH_MIGRATIONS)
MIGRATIONS.sort(key=lambda migration: migration[0])
assert len({version for version, _ in MIGRATIONS}) == len(MIGRATIONS), "duplicate version"
