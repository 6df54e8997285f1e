"""PostgreSQL schema for OAuth2: the twin of storage/sqlite/schema_oauth.py.

sqlite rebuilds ``tokens`` to drop the NOT NULL on ``username`` (it cannot ALTER
one); PostgreSQL can, so the table is altered in place and ends with the same columns
in the same order. ``accounts_email_nocase`` folds ASCII letters only (``lower`` under
the "C" collation), as sqlite's NOCASE does.
"""

from __future__ import annotations

__all__ = ["OAUTH_MIGRATIONS"]

OAUTH_MIGRATIONS: list[tuple[int, str]] = [
    (
        4,
        """
        CREATE TABLE oauth_apps (
            id BIGSERIAL PRIMARY KEY,
            client_id TEXT NOT NULL UNIQUE,
            client_secret_hash TEXT NOT NULL,
            name TEXT NOT NULL,
            redirect_uris TEXT NOT NULL,
            scopes TEXT NOT NULL,
            website TEXT,
            created_at DOUBLE PRECISION NOT NULL
        );

        CREATE TABLE oauth_codes (
            code_hash TEXT PRIMARY KEY,
            app_id BIGINT NOT NULL REFERENCES oauth_apps(id),
            username TEXT NOT NULL REFERENCES accounts(username),
            scopes TEXT NOT NULL,
            redirect_uri TEXT NOT NULL,
            challenge TEXT,
            challenge_method TEXT,
            expires_at DOUBLE PRECISION NOT NULL,
            used INTEGER NOT NULL DEFAULT 0
        );

        ALTER TABLE tokens ALTER COLUMN username DROP NOT NULL;
        ALTER TABLE tokens ADD COLUMN app_id BIGINT REFERENCES oauth_apps(id);
        ALTER TABLE tokens ADD COLUMN refresh_hash TEXT UNIQUE;
        ALTER TABLE tokens ADD COLUMN expires_at DOUBLE PRECISION;

        CREATE INDEX accounts_email_nocase ON accounts(lower(email COLLATE "C"));
        """,
    ),
]
