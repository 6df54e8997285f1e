"""sqlite side of OAuth2: operation interpreters and reads."""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.oauth import (
    AppRecord,
    AuthCodeRecord,
    GrantAlreadyUsed,
    PutApp,
    PutAuthCode,
    PutToken,
    RevokeToken,
    UseAuthCode,
)
from storage.records import AccountRecord, TokenRecord
from storage.rows import account as _account
from storage.rows import app as _app
from storage.rows import token as token_record
from storage.sqlite.engine import SqliteEngine

__all__ = ["OAuthReads", "apply_oauth", "token_record"]


def apply_oauth(conn: sqlite3.Connection, op: object) -> bool:
    """Apply ``op`` if it is an OAuth operation; False when it is not one."""
    if isinstance(op, PutApp):
        conn.execute(
            "INSERT INTO oauth_apps (client_id, client_secret_hash, name, redirect_uris,"
            " scopes, website, created_at) VALUES (?,?,?,?,?,?,?)",
            (op.client_id, op.client_secret_hash, op.name, op.redirect_uris, op.scopes,
             op.website, op.created_at))
    elif isinstance(op, PutAuthCode):
        c = op.code
        conn.execute(
            "INSERT INTO oauth_codes (code_hash, app_id, username, scopes, redirect_uri,"
            " challenge, challenge_method, expires_at, used) VALUES (?,?,?,?,?,?,?,?,?)",
            (c.code_hash, c.app_id, c.username, c.scopes, c.redirect_uri, c.challenge,
             c.challenge_method, c.expires_at, int(c.used)))
    elif isinstance(op, UseAuthCode):
        spent = conn.execute(
            "UPDATE oauth_codes SET used=1 WHERE code_hash=? AND used=0 AND expires_at>?",
            (op.code_hash, op.at)).rowcount
        if spent == 0:
            raise GrantAlreadyUsed("the authorization code was used already or expired")
    elif isinstance(op, PutToken):
        conn.execute(
            "INSERT INTO tokens (token_hash, username, scopes, created_at, app_id,"
            " refresh_hash, expires_at) VALUES (?,?,?,?,?,?,?)",
            (op.token_hash, op.username, op.scopes, op.created_at, op.app_id,
             op.refresh_hash, op.expires_at))
    elif isinstance(op, RevokeToken):
        revoked = conn.execute(
            "UPDATE tokens SET revoked=1 WHERE (token_hash=? OR refresh_hash=?) AND revoked=0",
            (op.token_hash, op.token_hash)).rowcount
        if op.require_active and revoked == 0:
            raise GrantAlreadyUsed("the refresh token was used already or revoked")
    else:
        return False
    return True


class OAuthReads:
    """Store reads for OAuth2 and the instance endpoints (mixed into SqliteStore).

    Each is a point read on a primary key or unique index, run in place (see the
    engine), except ``known_peers``, a scan that goes to the reader thread.
    """

    engine: SqliteEngine

    def _oauth_row(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Row | None:
        rows = self.engine.point(sql, args)
        return rows[0] if rows else None

    async def get_app(self, client_id: str) -> AppRecord | None:
        row = self._oauth_row("SELECT * FROM oauth_apps WHERE client_id=?", (client_id,))
        return _app(row) if row else None

    async def get_app_by_id(self, app_id: int) -> AppRecord | None:
        row = self._oauth_row("SELECT * FROM oauth_apps WHERE id=?", (app_id,))
        return _app(row) if row else None

    async def get_auth_code(self, code_hash: str) -> AuthCodeRecord | None:
        row = self._oauth_row("SELECT * FROM oauth_codes WHERE code_hash=?", (code_hash,))
        if row is None:
            return None
        return AuthCodeRecord(
            code_hash=row["code_hash"], app_id=row["app_id"], username=row["username"],
            scopes=row["scopes"], redirect_uri=row["redirect_uri"], challenge=row["challenge"],
            challenge_method=row["challenge_method"], expires_at=row["expires_at"],
            used=bool(row["used"]),
        )

    async def get_token_by_refresh(self, refresh_hash: str) -> TokenRecord | None:
        row = self._oauth_row("SELECT * FROM tokens WHERE refresh_hash=?", (refresh_hash,))
        return token_record(row) if row else None

    async def get_account_by_email(self, email: str) -> AccountRecord | None:
        row = self._oauth_row(
            "SELECT * FROM accounts WHERE email=? COLLATE NOCASE LIMIT 1", (email,))
        return _account(row) if row else None

    async def known_peers(self) -> list[str]:
        rows = await self.engine.read(lambda conn: conn.execute(
            "SELECT DISTINCT host FROM actors WHERE local=0 AND gone=0"
            " AND host NOT IN (SELECT domain FROM domain_blocks) ORDER BY host").fetchall())
        return [str(r[0]) for r in rows]
