"""Who is calling the client API, and with which scopes.

Tokens are the same store the C2S outbox uses (``mutual token create`` and OAuth both
write it), kept only as SHA-256 hashes. Scopes follow Mastodon (``node.api.scopes``).
Refusals use Mastodon's statuses and words, which apps show or act on: 401 with
``{"error": "The access token is invalid"}`` (or "... expired" / "... was revoked",
Doorkeeper's messages) and a ``WWW-Authenticate: Bearer`` challenge (RFC 6750 §3);
403 when the token lacks the scope; 422 when an app-only token calls a method that
needs a user.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from node.accounts import hash_token
from node.api.params import ApiError
from node.api.scopes import has_scope
from node.context import Node
from node.routes.common import NODE
from storage.records import AccountRecord, TokenRecord

__all__ = ["Caller", "TokenRefused", "authenticate", "bearer_token", "has_scope",
           "token_caller"]

INVALID = "The access token is invalid"
EXPIRED = "The access token expired"
REVOKED = "The access token was revoked"


class TokenRefused(ApiError):
    """A 401 that also tells the client how to authenticate (RFC 6750 §3)."""

    def __init__(self, message: str = INVALID) -> None:
        super().__init__(401, message, headers={"WWW-Authenticate": (
            f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{message}"')})


@dataclass(frozen=True, slots=True, kw_only=True)
class Caller:
    account: AccountRecord | None  # None for an app-only (client_credentials) token
    scopes: frozenset[str]
    token_hash: str
    app_id: int | None = None  # None for a token made by `mutual token create`
    expires_at: float | None = None  # None: until revoked


def bearer_token(request: web.Request) -> str | None:
    """The token in ``Authorization: Bearer``; None when there is none.

    Only the header: Mastodon also reads ``access_token`` from the query string, but a
    token in a URL ends up in logs and Referer headers (RFC 6750 §5.3), and the apps we
    serve all send the header. The streaming API reads its own parameter.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def check_token(token: TokenRecord | None, now: float) -> TokenRecord:
    """The token if it may be used now; else the 401 that says why."""
    if token is None:
        raise TokenRefused(INVALID)
    if token.revoked:
        raise TokenRefused(REVOKED)
    if token.expires_at is not None and token.expires_at <= now:
        raise TokenRefused(EXPIRED)
    return token


async def authenticate(request: web.Request, *, scope: str | None = None,
                       required: bool = True, user: bool = True) -> Caller | None:
    """The caller behind ``Authorization: Bearer``.

    401 when the token is missing (and ``required``), unknown, revoked or expired;
    403 when it lacks ``scope``; 422 when ``user`` is asked for and the token is an
    app's own (client_credentials), as Mastodon answers "This method requires an
    authenticated user". A token that was sent is always checked, even where it is
    optional, so a bad one is never silently treated as anonymous.
    """
    raw = bearer_token(request)
    if raw is None:
        if required:
            raise TokenRefused(INVALID)
        return None
    caller = await token_caller(request.app[NODE], raw)
    if scope is not None and not has_scope(caller.scopes, scope):
        raise ApiError(403, "This action is outside the authorized scopes")
    if user and caller.account is None:
        raise ApiError(422, "This method requires an authenticated user")
    return caller


async def token_caller(node: Node, raw: str) -> Caller:
    """Who ``raw`` speaks for, whatever carried it (the streaming API also takes it from
    the query string and ``Sec-WebSocket-Protocol``); 401 when it cannot be used."""
    token_hash = hash_token(raw)
    token = check_token(await node.store.get_token(token_hash), node.now())
    account = await node.store.get_account(token.username) if token.username else None
    if token.username and account is None:
        raise TokenRefused(INVALID)  # the account is gone
    return Caller(account=account, scopes=frozenset(token.scopes.split()),
                  token_hash=token_hash, app_id=token.app_id, expires_at=token.expires_at)
