"""sqlite schema for OAuth2 (applications, authorization codes, token columns).

Migration 4 rebuilds ``tokens`` instead of ALTERing it: an app-only token
(client_credentials) has no user, and sqlite cannot drop the NOT NULL that migration 1
put on ``tokens.username``. The rebuild is the procedure sqlite documents for such
changes (create the new table, copy, drop, rename), so data folders made before this
migration keep their tokens; nothing references ``tokens``, so dropping it with
foreign keys on is safe.
"""

from __future__ import annotations

OAUTH_MIGRATIONS: list[tuple[int, str]] = [
    (
        4,
        """
        CREATE TABLE oauth_apps (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            client_id TEXT NOT NULL UNIQUE,
            client_secret_hash TEXT NOT NULL,
            name TEXT NOT NULL,
            redirect_uris TEXT NOT NULL,
            scopes TEXT NOT NULL,
            website TEXT,
            created_at REAL NOT NULL
        );

        CREATE TABLE oauth_codes (
            code_hash TEXT PRIMARY KEY,
            app_id INTEGER NOT NULL REFERENCES oauth_apps(id),
            username TEXT NOT NULL REFERENCES accounts(username),
            scopes TEXT NOT NULL,
            redirect_uri TEXT NOT NULL,
            challenge TEXT,
            challenge_method TEXT,
            expires_at REAL NOT NULL,
            used INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE tokens_v4 (
            token_hash TEXT PRIMARY KEY,
            username TEXT REFERENCES accounts(username),
            scopes TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0,
            app_id INTEGER REFERENCES oauth_apps(id),
            refresh_hash TEXT UNIQUE,
            expires_at REAL
        );
        INSERT INTO tokens_v4 (token_hash, username, scopes, created_at, revoked)
            SELECT token_hash, username, scopes, created_at, revoked FROM tokens;
        DROP TABLE tokens;
        ALTER TABLE tokens_v4 RENAME TO tokens;

        CREATE INDEX accounts_email_nocase ON accounts(email COLLATE NOCASE)
        """,
    ),
]
