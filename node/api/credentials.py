"""Checking who is asking: a member signing in, an app presenting its client secret.

A member signs in with their username or their email address (the password grant and
the sign-in page both take either, as Mastodon takes the email). Password checks run
argon2 on a small pool of their own threads, so a burst of sign-ins cannot stall the
event loop or take every core, and a failed attempt answers only after a fixed delay:
with argon2's own cost that bounds how fast one connection can guess. A missing
account costs the same as a wrong password (``verify_password``), so the answer does
not say which names exist.

OAuth errors use RFC 6749's shape, ``{"error": "invalid_grant", "error_description":
...}`` with Doorkeeper's descriptions, which is what Mastodon sends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

from aiohttp import web

from node.accounts import hash_token, valid_username, verify_password
from node.api.params import ApiError, Params
from node.context import Node
from node.ratelimit import LIMITS
from storage.oauth import AppRecord
from storage.records import AccountRecord

__all__ = [
    "FAILED_SIGN_IN_DELAY",
    "authenticate_client",
    "find_member",
    "oauth_error",
    "sign_in",
]

FAILED_SIGN_IN_DELAY = 0.3  # seconds added to every failed sign-in
_PASSWORD_POOL = ThreadPoolExecutor(2, thread_name_prefix="argon2")

_DESCRIPTIONS = {
    "invalid_request": "The request is missing a required parameter, includes an "
                       "unsupported parameter value, or is otherwise malformed.",
    "invalid_client": "Client authentication failed due to unknown client, no client "
                      "authentication included, or unsupported authentication method.",
    "invalid_grant": "The provided authorization grant is invalid, expired, revoked, does "
                     "not match the redirection URI used in the authorization request, or "
                     "was issued to another client.",
    "unauthorized_client": "The client is not authorized to perform this request using "
                           "this method.",
    "unsupported_grant_type": "The authorization grant type is not supported by the "
                              "authorization server.",
    "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
}


def oauth_error(error: str, description: str | None = None, *, status: int = 400
                ) -> ApiError:
    """An error in RFC 6749 §5.2's shape; ``invalid_client`` is a 401 with a challenge."""
    if error == "invalid_client":
        status = 401
    headers = ({"WWW-Authenticate": 'Basic realm="Doorkeeper"'}
               if error == "invalid_client" else None)
    return ApiError(status, error, description=description or _DESCRIPTIONS.get(error),
                    headers=headers)


async def find_member(node: Node, login: str) -> AccountRecord | None:
    """The member who signs in as ``login``: a username, ``@name``, ``name@this-host``
    or an email address."""
    login = login.strip()
    if not login or len(login) > 320:
        return None
    name = login.removeprefix("@")
    account: AccountRecord | None = None
    if "@" in name:
        account = await node.store.get_account_by_email(name)
        user, _, host = name.rpartition("@")
        if account is None and host.lower() == node.urls.host and valid_username(user.lower()):
            account = await node.store.get_account(user)
    elif valid_username(name.lower()):
        account = await node.store.get_account(name)
    # Groups and the instance actor have no password; never let one sign in.
    return account if account is not None and account.kind == "person" else None


async def sign_in(node: Node, login: str, password: str,
                  request: web.Request | None = None) -> AccountRecord | None:
    """The member whose credentials these are, or None after the failure delay.

    With the ``request``, failures are counted per client address and per username, and
    an attempt after too many is refused (429) before the password is even checked.
    """
    limits = request.app[LIMITS] if request is not None else None
    if limits is not None and request is not None:
        limits.check_login(request, login)
    account = await find_member(node, login)
    stored = account.password_hash if account is not None else None
    ok = await asyncio.get_running_loop().run_in_executor(
        _PASSWORD_POOL, verify_password, stored, password[:1024])
    if account is None or not ok:
        if limits is not None and request is not None:
            limits.failed_login(request, login)
        await asyncio.sleep(FAILED_SIGN_IN_DELAY)
        return None
    return account


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    """``Authorization: Basic`` client credentials (RFC 6749 §2.3.1), form-encoded."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise oauth_error("invalid_client") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise oauth_error("invalid_client")
    return unquote(client_id), unquote(secret)


async def authenticate_client(node: Node, request: web.Request, params: Params, *,
                              allow_public: bool = False) -> AppRecord:
    """The app making this request, from its client_id and client_secret (in the
    body or in Basic auth). ``allow_public``: a client_id alone is enough, for the
    one case where PKCE proves the caller instead of a secret."""
    basic = _basic_credentials(request)
    if basic is not None:
        client_id, secret = basic
    else:
        client_id = params.str("client_id", "", max_length=200) or ""
        secret = params.str("client_secret", max_length=200)
    app = await node.store.get_app(client_id) if client_id else None
    if app is None:
        raise oauth_error("invalid_client")
    if not secret:
        if allow_public:
            return app
        raise oauth_error("invalid_client")
    if not hmac.compare_digest(hash_token(secret), app.client_secret_hash):
        raise oauth_error("invalid_client")
    return app
