"""Values for OAuth2: registered applications, authorization codes and tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "AppRecord",
    "AuthCodeRecord",
    "OAuthOp",
    "OAuthStore",
    "PutApp",
    "PutAuthCode",
    "PutToken",
    "RevokeToken",
    "UseAuthCode",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AppRecord:
    id: int
    client_id: str
    client_secret: str
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
    client_secret: str
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
    """Mark a code used; the whole operation list fails if it was used already, so a
    code buys exactly one token even when two requests race."""

    code_hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutToken:
    token_hash: str
    username: str | None
    scopes: str
    app_id: int | None
    refresh_hash: str | None
    expires_at: float | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeToken:
    token_hash: str


OAuthOp = PutApp | PutAuthCode | UseAuthCode | PutToken | RevokeToken


class OAuthStore(Protocol):
    """Store reads for OAuth2 (implemented per engine)."""
