"""OAuth2 as Mastodon serves it: the token and revocation endpoints and the server's
metadata (RFC 6749, RFC 7009, RFC 7636 PKCE, RFC 8414).

Grants: ``authorization_code`` (from the sign-in page, ``node.api.authorize``, with
PKCE S256 or plain), ``password`` (username or email; Mastodon 4.4 dropped it, but
Mastodon.py bots and ``toot login_cli`` still use it, so it stays, and the metadata
says so), ``client_credentials`` (a token for the app alone, no user) and
``refresh_token`` (rotating: the old pair is revoked in the same write that stores
the new one).

What clients rely on: the answer echoes ``scope`` covering every scope asked for
(Mastodon.py refuses the login otherwise), ``token_type`` is ``Bearer`` and
``created_at`` a Unix time. A grant turns into a token in ONE write: the code is
marked used (or the refresh token revoked) conditionally in the same transaction as
the new token is stored, so two racing requests get one token between them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from aiohttp import web

from node.accounts import hash_token
from node.api.credentials import authenticate_client, oauth_error, sign_in
from node.api.params import Params, read_params
from node.api.scopes import SUPPORTED_SCOPES, ScopeError, covers, parse_scopes
from node.context import Node
from node.routes.common import NODE, json_response
from storage.oauth import (
    AppRecord,
    GrantAlreadyUsed,
    OAuthOp,
    PutToken,
    RevokeToken,
    UseAuthCode,
)
from storage.records import TokenRecord
from storage.store import StorageError

__all__ = ["routes", "verify_pkce"]

routes = web.RouteTableDef()

GRANT_TYPES = ("authorization_code", "password", "client_credentials", "refresh_token")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 §5.1


def _json(doc: Any, status: int = 200) -> web.Response:
    return json_response(doc, status=status, content_type="application/json",
                         headers=_NO_STORE)


def verify_pkce(challenge: str, method: str, verifier: str) -> bool:
    """RFC 7636 §4.6: S256 compares BASE64URL(SHA256(verifier)) without padding."""
    if not 43 <= len(verifier) <= 128:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        derived = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        return hmac.compare_digest(derived, challenge)
    return method == "plain" and hmac.compare_digest(verifier, challenge)


def _requested_scopes(params: Params, app: AppRecord, default: str) -> tuple[str, ...]:
    """The scopes asked for: known ones, and no more than the app registered."""
    try:
        scopes = parse_scopes(params.str("scope", max_length=2000), default=default)
    except ScopeError as exc:
        raise oauth_error("invalid_scope") from exc
    if not covers(tuple(app.scopes.split()), scopes):
        raise oauth_error("invalid_scope")
    return scopes


async def _issue(node: Node, *, username: str | None, scopes: tuple[str, ...] | str,
                 app: AppRecord, spend: OAuthOp | None = None,
                 refresh: bool = True) -> web.Response:
    """Store a new token (after ``spend``, in the same write) and answer with it."""
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    token = secrets.token_urlsafe(32)
    refresh_token = secrets.token_urlsafe(32) if refresh else None
    now = node.now()
    lifetime = node.config.token_lifetime
    ops: list[OAuthOp] = [] if spend is None else [spend]
    ops.append(PutToken(
        token_hash=hash_token(token), username=username, scopes=scope, app_id=app.id,
        refresh_hash=hash_token(refresh_token) if refresh_token else None,
        expires_at=now + lifetime if lifetime > 0 else None, created_at=now))
    try:
        await node.store.apply(ops)
    except (GrantAlreadyUsed, StorageError) as exc:
        raise oauth_error("invalid_grant") from exc
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer", "scope": scope,
                            "created_at": int(now)}
    if refresh_token:
        body["refresh_token"] = refresh_token
    if lifetime > 0:
        body["expires_in"] = int(lifetime)
    return _json(body)


async def _authorization_code(node: Node, request: web.Request, params: Params
                              ) -> web.Response:
    code = params.str("code", "", max_length=200) or ""
    record = await node.store.get_auth_code(hash_token(code)) if code else None
    # A client without a secret may redeem only a code bound to a PKCE challenge.
    app = await authenticate_client(node, request, params,
                                    allow_public=bool(record and record.challenge))
    if record is None or record.app_id != app.id or record.used:
        raise oauth_error("invalid_grant")
    if record.expires_at <= node.now():
        raise oauth_error("invalid_grant")
    redirect_uri = params.str("redirect_uri", max_length=2000)
    if redirect_uri is not None and redirect_uri != record.redirect_uri:
        raise oauth_error("invalid_grant")
    if record.challenge is not None:
        verifier = params.str("code_verifier", "", max_length=200) or ""
        if not verify_pkce(record.challenge, record.challenge_method or "plain", verifier):
            raise oauth_error("invalid_grant", "The code_verifier does not match the "
                              "code_challenge of the authorization request.")
    return await _issue(node, username=record.username, scopes=record.scopes, app=app,
                        spend=UseAuthCode(code_hash=record.code_hash, at=node.now()))


async def _password(node: Node, request: web.Request, params: Params) -> web.Response:
    app = await authenticate_client(node, request, params)
    scopes = _requested_scopes(params, app, default="read")
    login = params.str("username", "", max_length=320) or ""
    password = params.str("password", "", max_length=1024) or ""
    if not login or not password:
        raise oauth_error("invalid_request")
    account = await sign_in(node, login, password, request)
    if account is None:
        raise oauth_error("invalid_grant")
    return await _issue(node, username=account.username, scopes=scopes, app=app)


async def _client_credentials(node: Node, request: web.Request, params: Params
                              ) -> web.Response:
    app = await authenticate_client(node, request, params)
    scopes = _requested_scopes(params, app, default="read")
    # No refresh token: the app can always ask again (RFC 6749 §4.4.3).
    return await _issue(node, username=None, scopes=scopes, app=app, refresh=False)


async def _refresh_token(node: Node, request: web.Request, params: Params
                         ) -> web.Response:
    app = await authenticate_client(node, request, params)
    presented = params.str("refresh_token", "", max_length=200) or ""
    old: TokenRecord | None = (
        await node.store.get_token_by_refresh(hash_token(presented)) if presented else None)
    if old is None or old.revoked or old.app_id != app.id or old.refresh_hash is None:
        raise oauth_error("invalid_grant")
    scopes: tuple[str, ...] | str = old.scopes
    if params.str("scope"):
        scopes = _requested_scopes(params, app, default=old.scopes)
        if not covers(tuple(old.scopes.split()), scopes):  # never more than before
            raise oauth_error("invalid_scope")
    if old.username is not None and await node.store.get_account(old.username) is None:
        raise oauth_error("invalid_grant")
    return await _issue(node, username=old.username, scopes=scopes, app=app,
                        spend=RevokeToken(token_hash=old.token_hash, require_active=True))


_GRANTS = {
    "authorization_code": _authorization_code,
    "password": _password,
    "client_credentials": _client_credentials,
    "refresh_token": _refresh_token,
}


@routes.post("/oauth/token")
@routes.post("/oauth/token/")
async def token(request: web.Request) -> web.Response:
    node = request.app[NODE]
    params = await read_params(request)
    grant_type = params.str("grant_type", "", max_length=100) or ""
    if not grant_type:
        raise oauth_error("invalid_request", "The grant_type parameter is missing.")
    grant = _GRANTS.get(grant_type)
    if grant is None:
        raise oauth_error("unsupported_grant_type")
    return await grant(node, request, params)


@routes.post("/oauth/revoke")
@routes.post("/oauth/revoke/")
async def revoke(request: web.Request) -> web.Response:
    """RFC 7009: revoke an access or refresh token of the calling app. An unknown
    token answers 200 too (§2.2): the client's goal, a token that no longer works,
    is met, and the answer tells nothing about which tokens exist."""
    node = request.app[NODE]
    params = await read_params(request)
    app = await authenticate_client(node, request, params)
    presented = params.str("token", "", max_length=200) or ""
    if not presented:
        raise oauth_error("invalid_request", "The token parameter is missing.")
    token_hash = hash_token(presented)
    found = (await node.store.get_token(token_hash)
             or await node.store.get_token_by_refresh(token_hash))
    if found is not None:
        if found.app_id != app.id:
            raise oauth_error("unauthorized_client", "You are not authorized to revoke "
                              "this token", status=403)
        await node.store.apply([RevokeToken(token_hash=found.token_hash)])
    return _json({})


@routes.get("/.well-known/oauth-authorization-server")
async def metadata(request: web.Request) -> web.Response:
    """RFC 8414 metadata, with the node's own scheme and host (``server.url``), so
    clients behind a TLS-terminating proxy are sent to https URLs. ``password`` is
    listed: Mastodon.py tries a password login only when it is."""
    base = request.app[NODE].urls.base
    return json_response({
        "issuer": f"{base}/",
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                  "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic",
                                                       "client_secret_post"],
        "code_challenge_methods_supported": ["S256", "plain"],
    }, content_type="application/json")
