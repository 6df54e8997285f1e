"""PostgreSQL side of OAuth2: operation interpreters and reads.

The twin of storage/sqlite/oauth.py. Spending a code or a refresh token stays a
conditional UPDATE: under READ COMMITTED a second transaction racing for the same row
waits for the first, re-reads the row it committed (now used or revoked), updates
nothing and raises ``GrantAlreadyUsed``, so one grant still buys one token.
"""

from __future__ import annotations

import asyncpg

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
from storage.postgres.engine import PgEngine, rowcount
from storage.records import AccountRecord, TokenRecord
from storage.rows import account as _account
from storage.rows import app as _app
from storage.rows import token as token_record

__all__ = ["OAuthReads", "apply_oauth", "token_record"]


async def apply_oauth(conn: asyncpg.Connection, op: object) -> bool:
    """Apply ``op`` if it is an OAuth operation; False when it is not one."""
    if isinstance(op, PutApp):
        await conn.execute(
            "INSERT INTO oauth_apps (client_id, client_secret_hash, name, redirect_uris,"
            " scopes, website, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
            op.client_id, op.client_secret_hash, op.name, op.redirect_uris, op.scopes,
            op.website, op.created_at)
    elif isinstance(op, PutAuthCode):
        c = op.code
        await conn.execute(
            "INSERT INTO oauth_codes (code_hash, app_id, username, scopes, redirect_uri,"
            " challenge, challenge_method, expires_at, used)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            c.code_hash, int(c.app_id), c.username, c.scopes, c.redirect_uri, c.challenge,
            c.challenge_method, c.expires_at, int(c.used))
    elif isinstance(op, UseAuthCode):
        spent = rowcount(await conn.execute(
            "UPDATE oauth_codes SET used=1 WHERE code_hash=$1 AND used=0 AND expires_at>$2",
            op.code_hash, op.at))
        if spent == 0:
            raise GrantAlreadyUsed("the authorization code was used already or expired")
    elif isinstance(op, PutToken):
        await conn.execute(
            "INSERT INTO tokens (token_hash, username, scopes, created_at, app_id,"
            " refresh_hash, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
            op.token_hash, op.username, op.scopes, op.created_at,
            None if op.app_id is None else int(op.app_id), op.refresh_hash, op.expires_at)
    elif isinstance(op, RevokeToken):
        revoked = rowcount(await conn.execute(
            "UPDATE tokens SET revoked=1 WHERE (token_hash=$1 OR refresh_hash=$1)"
            " AND revoked=0", op.token_hash))
        if op.require_active and revoked == 0:
            raise GrantAlreadyUsed("the refresh token was used already or revoked")
    else:
        return False
    return True


class OAuthReads:
    """Store reads for OAuth2 and the instance endpoints (mixed into PgStore). A value
    from a form holding a NUL finds nothing (storage/postgres/engine.py ``_storable``)."""

    engine: PgEngine

    async def get_app(self, client_id: str) -> AppRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM oauth_apps WHERE client_id=$1",
                                         client_id)
        return _app(row) if row else None

    async def get_app_by_id(self, app_id: int) -> AppRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM oauth_apps WHERE id=$1", int(app_id))
        return _app(row) if row else None

    async def get_auth_code(self, code_hash: str) -> AuthCodeRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM oauth_codes WHERE code_hash=$1",
                                         code_hash)
        if row is None:
            return None
        return AuthCodeRecord(
            code_hash=row["code_hash"], app_id=row["app_id"], username=row["username"],
            scopes=row["scopes"], redirect_uri=row["redirect_uri"], challenge=row["challenge"],
            challenge_method=row["challenge_method"], expires_at=row["expires_at"],
            used=bool(row["used"]),
        )

    async def get_token_by_refresh(self, refresh_hash: str) -> TokenRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM tokens WHERE refresh_hash=$1",
                                         refresh_hash)
        return token_record(row) if row else None

    async def get_account_by_email(self, email: str) -> AccountRecord | None:
        # Two addresses equal but for case: the oldest account, as sqlite's index walk
        # (address, then rowid) finds it first.
        row = await self.engine.fetchrow(
            "SELECT * FROM accounts WHERE lower(email COLLATE \"C\")"
            " = lower($1::text COLLATE \"C\") ORDER BY created_at, username LIMIT 1", email)
        return _account(row) if row else None

    async def known_peers(self) -> list[str]:
        rows = await self.engine.fetch(
            "SELECT DISTINCT host COLLATE \"C\" AS host FROM actors WHERE local=0 AND gone=0"
            " AND host NOT IN (SELECT domain FROM domain_blocks) ORDER BY 1")
        return [str(r[0]) for r in rows]
