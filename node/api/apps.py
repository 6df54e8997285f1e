"""Registering client apps: POST /api/v1/apps and GET /api/v1/apps/verify_credentials.

Any app may register, without a token, as on Mastodon: that is how a member's new app
introduces itself before anyone signs in. The client secret is shown once, in the
answer, and stored only as a hash. Redirect URIs are absolute URIs without a fragment
(RFC 6749 §3.1.2), custom schemes included (mobile apps use ``app://callback``), or
``urn:ietf:wg:oauth:2.0:oob`` for apps that show the code to the member to copy.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from node.accounts import hash_token
from node.api.auth import authenticate
from node.api.params import ApiError, Params, read_params
from node.api.scopes import ScopeError, parse_scopes
from node.routes.common import NODE, json_response
from storage.oauth import AppRecord, PutApp

__all__ = ["OOB", "application_entity", "redirect_uris_of", "routes"]

routes = web.RouteTableDef()

OOB = "urn:ietf:wg:oauth:2.0:oob"
_MAX_URIS = 10
_CLI_APP = {"name": "mutual token create", "website": None}


def _json(doc: Any, status: int = 200) -> web.Response:
    return json_response(doc, status=status, content_type="application/json")


def redirect_uris_of(app: AppRecord) -> list[str]:
    return app.redirect_uris.split()


def _valid_redirect(uri: str) -> bool:
    if uri == OOB:
        return True
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or len(uri) > 2000:
        return False
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    # A custom scheme: ``app://cb`` or ``com.example.app:/oauth``. Never a script.
    return parts.scheme.lower() not in ("javascript", "data", "vbscript", "file")


def _redirect_uris(params: Params) -> list[str]:
    """One URI, several separated by newlines or spaces (Doorkeeper), or a list."""
    uris: list[str] = []
    for item in params.list("redirect_uris") or params.list("redirect_uri"):
        uris.extend(item.split())
    if not uris:
        raise ApiError(422, "Validation failed: Redirect URI can't be blank")
    if len(uris) > _MAX_URIS:
        raise ApiError(422, f"Validation failed: at most {_MAX_URIS} redirect URIs")
    for uri in uris:
        if not _valid_redirect(uri):
            raise ApiError(422, "Validation failed: Redirect URI must be an absolute URI.")
    return list(dict.fromkeys(uris))


def application_entity(app: AppRecord | None, *, client_secret: str | None = None
                       ) -> dict[str, Any]:
    """Mastodon's Application entity; with the credentials only when just created."""
    if app is None:  # a token from `mutual token create`: no registered app behind it
        return {**_CLI_APP, "scopes": [], "redirect_uri": OOB, "redirect_uris": [OOB],
                "vapid_key": ""}
    uris = redirect_uris_of(app)
    entity: dict[str, Any] = {
        "id": str(app.id),
        "name": app.name,
        "website": app.website,
        "scopes": app.scopes.split(),
        "redirect_uri": "\n".join(uris),  # the deprecated single-string form
        "redirect_uris": uris,
        "vapid_key": "",  # no Web Push yet
    }
    if client_secret is not None:
        entity.update(client_id=app.client_id, client_secret=client_secret,
                      client_secret_expires_at=0)
    return entity


@routes.post("/api/v1/apps")
@routes.post("/api/v1/apps/")
async def create_app(request: web.Request) -> web.Response:
    node = request.app[NODE]
    params = await read_params(request)
    name = (params.str("client_name", "", max_length=200) or "").strip()
    if not name:
        raise ApiError(422, "Validation failed: Application name can't be blank")
    uris = _redirect_uris(params)
    requested = " ".join(params.list("scopes"))  # a string, or a list in JSON
    if len(requested) > 2000:
        raise ApiError(422, "Validation failed: Scopes is too long")
    try:
        scopes = parse_scopes(requested)
    except ScopeError as exc:
        raise ApiError(422, f"Validation failed: Scopes {exc}") from exc
    website = (params.str("website", "", max_length=2000) or "").strip() or None
    if website is not None and urlsplit(website).scheme not in ("http", "https"):
        raise ApiError(422, "Validation failed: Website is not a valid URL")
    client_id, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await node.store.apply([PutApp(
        client_id=client_id, client_secret_hash=hash_token(secret), name=name,
        redirect_uris=" ".join(uris), scopes=" ".join(scopes), website=website,
        created_at=node.now())])
    app = await node.store.get_app(client_id)
    assert app is not None, "the app was just stored"
    return _json(application_entity(app, client_secret=secret))


@routes.get("/api/v1/apps/verify_credentials")
@routes.get("/api/v1/apps/verify_credentials/")
async def verify_app(request: web.Request) -> web.Response:
    """The app behind the token: a user's token or the app's own both answer."""
    node = request.app[NODE]
    caller = await authenticate(request, user=False)
    assert caller is not None
    app = await node.store.get_app_by_id(caller.app_id) if caller.app_id else None
    return _json(application_entity(app))
