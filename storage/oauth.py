"""Values for OAuth2: registered applications, authorization codes and tokens.

Secrets never reach the database in the clear: a client secret, an authorization
code, an access token and a refresh token are each stored as their SHA-256 hash
(DESIGN §5), so a copy of the database grants nothing. Spending a code and rotating
a refresh token are *conditional* writes (``UseAuthCode``, ``RevokeToken`` with
``require_active``): when the condition fails the engine raises ``GrantAlreadyUsed``
and the whole operation list rolls back, so two racing requests can never turn one
grant into two tokens (RFC 6749 §4.1.2, §10.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from storage.records import AccountRecord, TokenRecord

__all__ = [
    "AppRecord",
    "AuthCodeRecord",
    "GrantAlreadyUsed",
    "OAuthOp",
    "OAuthStore",
    "PutApp",
    "PutAuthCode",
    "PutToken",
    "RevokeToken",
    "UseAuthCode",
]


class GrantAlreadyUsed(Exception):
    """Raised inside the transaction: the code or refresh token was spent already (or
    expired, or revoked) by the time this write ran."""

    reason = "grant-already-used"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppRecord:
    """A client registered with POST /api/v1/apps. ``redirect_uris`` and ``scopes``
    are space-separated, as Doorkeeper stores them."""

    id: int
    client_id: str
    client_secret_hash: str
    name: str
    redirect_uris: str
    scopes: str
    website: str | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthCodeRecord:
    code_hash: str
    app_id: int
    username: str
    scopes: str
    redirect_uri: str
    challenge: str | None
    challenge_method: str | None
    expires_at: float
    used: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PutApp:
    client_id: str
    client_secret_hash: str
    name: str
    redirect_uris: str
    scopes: str
    website: str | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PutAuthCode:
    code: AuthCodeRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class UseAuthCode:
    """Mark a code used; the whole operation list fails (``GrantAlreadyUsed``) if it was
    used already or has expired at ``at``, so a code buys exactly one token even when
    two requests race."""

    code_hash: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PutToken:
    """An access token; ``username`` is None for an app-only (client_credentials) one."""

    token_hash: str
    username: str | None
    scopes: str
    app_id: int | None
    refresh_hash: str | None
    expires_at: float | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeToken:
    """Revoke the token whose access or refresh hash is ``token_hash`` (RFC 7009 lets a
    client revoke by either). With ``require_active`` the list fails when nothing was
    active to revoke: that is how a refresh token is spent exactly once."""

    token_hash: str
    require_active: bool = False


OAuthOp = PutApp | PutAuthCode | UseAuthCode | PutToken | RevokeToken


class OAuthStore(Protocol):
    """Store reads for OAuth2 and the instance endpoints (implemented per engine)."""

    async def get_app(self, client_id: str) -> AppRecord | None: ...
    async def get_app_by_id(self, app_id: int) -> AppRecord | None: ...
    async def get_auth_code(self, code_hash: str) -> AuthCodeRecord | None: ...
    async def get_token_by_refresh(self, refresh_hash: str) -> TokenRecord | None: ...
    async def get_account_by_email(self, email: str) -> AccountRecord | None:
        """Case-insensitive: people type their address as they remember it."""
        ...

    async def known_peers(self) -> list[str]:
        """Hosts of the remote actors we know, minus blocked domains, sorted."""
        ...
