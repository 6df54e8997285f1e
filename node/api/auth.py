"""Who is calling the client API, and with which scopes.

Tokens are the same store the C2S outbox uses (``mutual token create`` and OAuth both
write it), kept only as SHA-256 hashes. Scopes follow Mastodon: ``read``, ``write``,
``follow``, ``push`` and their sub-scopes (``read:statuses``...); a token holding a
top-level scope holds all of its sub-scopes, and ``follow`` implies the relationship
sub-scopes it predates.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from node.accounts import hash_token
from node.api.params import ApiError
from node.routes.common import NODE
from storage.records import AccountRecord

__all__ = ["Caller", "authenticate", "has_scope"]

# Mastodon: "follow" grants these, from before sub-scopes existed.
_FOLLOW_GRANTS = {"read:follows", "write:follows", "read:blocks", "write:blocks",
                  "read:mutes", "write:mutes"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    account: AccountRecord | None  # None for an app-only (client_credentials) token
    scopes: frozenset[str]
    token_hash: str


def has_scope(granted: frozenset[str], needed: str) -> bool:
    if needed in granted:
        return True
    top = needed.split(":", 1)[0]
    if top in granted:
        return True
    return "follow" in granted and needed in _FOLLOW_GRANTS


async def authenticate(request: web.Request, *, scope: str | None = None,
                       required: bool = True, user: bool = True) -> Caller | None:
    """The caller behind ``Authorization: Bearer``; 401 when missing or not valid,
    403 when the token lacks ``scope`` (Mastodon's statuses and messages)."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer ") or not header[7:].strip():
        if required:
            raise ApiError(401, "The access token is invalid")
        return None
    node = request.app[NODE]
    token_hash = hash_token(header[7:].strip())
    token = await node.store.get_token(token_hash)
    if token is None or token.revoked or _expired(token, node.now()):
        raise ApiError(401, "The access token is invalid")
    account = await node.store.get_account(token.username) if token.username else None
    if user and account is None:
        raise ApiError(422, "This method requires an authenticated user")
    scopes = frozenset(token.scopes.split())
    if scope is not None and not has_scope(scopes, scope):
        raise ApiError(403, "This action is outside the authorized scopes")
    return Caller(account=account, scopes=scopes, token_hash=token_hash)


def _expired(token: object, now: float) -> bool:
    expires = getattr(token, "expires_at", None)
    return isinstance(expires, int | float) and expires <= now
