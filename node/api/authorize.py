"""The sign-in and consent pages of the authorization-code flow (RFC 6749 §4.1).

GET /oauth/authorize checks the client and its redirect URI, then shows a sign-in form
(username or email, and password). Posting it back checks the password and shows the
consent page: which app, which account, which scopes, Authorize or Deny. Posting that
back issues a one-time code (10 minutes, bound to the app, the redirect URI, the
scopes and any PKCE challenge) and redirects to the app with ``?code=...&state=...``,
or, for ``urn:ietf:wg:oauth:2.0:oob``, to /oauth/authorize/native, which shows the code
to copy, as Mastodon does.

No session cookie is kept. Between the two steps the signed-in member is carried by a
*consent ticket*: the member and every parameter of the request, valid for 10
minutes, with an HMAC under a key derived from the instance actor's private key (so
every process of the node agrees on it and it never leaves the database). A ticket
cannot be forged or moved to another app, redirect URI or scope set, and only someone
who typed the password gets one. Errors that make the redirect URI untrustworthy
(unknown client, unregistered redirect URI) are shown on the page, never redirected
(§4.1.2.1).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from node.accounts import hash_token
from node.api.apps import OOB, redirect_uris_of
from node.api.credentials import sign_in
from node.api.params import ApiError, Params, read_params
from node.api.scopes import ScopeError, covers, describe, parse_scopes
from node.context import Node
from node.routes.common import NODE
from node.urls import INSTANCE_ACTOR
from node.web import page
from storage.oauth import AppRecord, AuthCodeRecord, PutAuthCode

__all__ = ["routes"]

routes = web.RouteTableDef()

CODE_LIFETIME = 600.0  # Doorkeeper's default
TICKET_LIFETIME = 600.0
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the code is in the URL after the redirect
    "X-Frame-Options": "DENY",  # no clickjacking of the Authorize button
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthRequest:
    """An authorization request, checked: the app exists and the redirect URI is its."""

    app: AppRecord
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    challenge: str | None
    challenge_method: str | None

    def hidden(self) -> str:
        values = {"response_type": "code", "client_id": self.app.client_id,
                  "redirect_uri": self.redirect_uri, "scope": " ".join(self.scopes),
                  "state": self.state, "code_challenge": self.challenge or "",
                  "code_challenge_method": self.challenge_method or ""}
        return "".join(f"<input type=hidden name={k} value='{html.escape(v, quote=True)}'>"
                       for k, v in values.items())


class _PageError(Exception):
    """Shown on the page: the redirect URI cannot be trusted with it."""


class _RedirectError(Exception):
    """A bad request from a known app to one of its redirect URIs: one RFC 6749
    §4.1.2.1 lets us send back as ``?error=...``, shown on the page instead (see
    ``_refusal``)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _html(body: str, title: str, status: int = 200) -> web.Response:
    return web.Response(text=page(title, body), status=status, content_type="text/html",
                        headers=_HEADERS)


async def _check(node: Node, params: Params) -> AuthRequest:
    client_id = params.str("client_id", "", max_length=200) or ""
    app = await node.store.get_app(client_id) if client_id else None
    if app is None:
        raise _PageError("This app is not registered here (unknown client_id).")
    registered = redirect_uris_of(app)
    redirect_uri = params.str("redirect_uri", max_length=2000) or ""
    if not redirect_uri and len(registered) == 1:
        redirect_uri = registered[0]
    if redirect_uri not in registered:
        raise _PageError("The redirect URI is not one this app registered.")
    if (params.str("response_type", "", max_length=50) or "") != "code":
        raise _RedirectError("unsupported_response_type", "Only response_type=code is "
                             "supported.")
    try:
        scopes = parse_scopes(params.str("scope", max_length=2000))
    except ScopeError as exc:
        raise _RedirectError("invalid_scope", str(exc)) from exc
    if not covers(tuple(app.scopes.split()), scopes):
        raise _RedirectError("invalid_scope", "The app did not register these scopes.")
    challenge = params.str("code_challenge", max_length=200) or None
    method = params.str("code_challenge_method", max_length=20) or None
    if challenge is not None:
        method = method or "plain"  # RFC 7636 §4.3
        if method not in ("S256", "plain") or not 43 <= len(challenge) <= 128:
            raise _RedirectError("invalid_request", "Unsupported PKCE code challenge.")
    else:
        method = None
    return AuthRequest(app=app, redirect_uri=redirect_uri, scopes=scopes,
                       challenge=challenge, challenge_method=method,
                       state=params.str("state", "", max_length=2000) or "")


def _redirect(target: AuthRequest, **query: str) -> web.Response:
    if target.state:
        query["state"] = target.state
    if target.redirect_uri == OOB:
        if "code" in query:
            location = f"/oauth/authorize/native?{urlencode({'code': query['code']})}"
        else:
            return _html(f"<h1>Not authorized</h1><p>{html.escape(query['error'])}: "
                         f"{html.escape(query.get('error_description', ''))}</p>",
                         "Not authorized", 400)
    else:
        sep = "&" if "?" in target.redirect_uri else "?"
        location = f"{target.redirect_uri}{sep}{urlencode(query)}"
    return web.Response(status=302, headers={**_HEADERS, "Location": location})


def _sign_in_page(node: Node, target: AuthRequest, error: str = "", login: str = "",
                  status: int = 200) -> web.Response:
    name = html.escape(target.app.name)
    notice = f"<p role=alert><strong>{html.escape(error)}</strong></p>" if error else ""
    return _html(
        f"<h1>Sign in to {html.escape(node.config.name)}</h1>"
        f"<p><b>{name}</b> wants to use your account on {html.escape(node.urls.host)}.</p>"
        f"{notice}<form method=post action=/oauth/authorize>{target.hidden()}"
        "<input type=hidden name=step value=sign-in>"
        "<p><label>Username or email<br><input name=login autocomplete=username required "
        f"autofocus value='{html.escape(login, quote=True)}'></label></p>"
        "<p><label>Password<br><input type=password name=password required "
        "autocomplete=current-password></label></p>"
        "<p><button type=submit>Sign in</button></p></form>",
        f"Sign in · {node.config.name}", status)


def _consent_page(node: Node, target: AuthRequest, username: str, ticket: str) -> web.Response:
    scopes = "".join(f"<li><code>{html.escape(s)}</code>: {html.escape(describe(s))}</li>"
                     for s in target.scopes)
    website = target.app.website
    site = (f" (<a href='{html.escape(website, quote=True)}' rel=noopener>"
            f"{html.escape(website)}</a>)" if website else "")
    return _html(
        f"<h1>Authorize {html.escape(target.app.name)}?</h1>"
        f"<p>Signed in as <b>@{html.escape(username)}@{html.escape(node.urls.host)}</b>."
        f"</p><p><b>{html.escape(target.app.name)}</b>{site} will be able to:</p>"
        f"<ul>{scopes}</ul><form method=post action=/oauth/authorize>{target.hidden()}"
        f"<input type=hidden name=ticket value='{html.escape(ticket, quote=True)}'>"
        "<button type=submit name=decision value=approve>Authorize</button> "
        "<button type=submit name=decision value=deny>Deny</button></form>",
        f"Authorize · {node.config.name}")


async def _ticket_key(node: Node) -> bytes:
    instance = await node.store.get_account(INSTANCE_ACTOR)
    assert instance is not None, "a started node has its instance actor"
    return hashlib.sha256(b"mutual oauth consent ticket\0"
                          + instance.ed25519_private_pem.encode()).digest()


def _ticket_claims(target: AuthRequest, username: str, expires: int) -> dict[str, Any]:
    claims = {k: v for k, v in asdict(target).items() if k != "app"}
    return {**claims, "client_id": target.app.client_id, "user": username, "exp": expires}


async def _make_ticket(node: Node, target: AuthRequest, username: str) -> str:
    claims = _ticket_claims(target, username, int(node.now() + TICKET_LIFETIME))
    body = base64.urlsafe_b64encode(json.dumps(claims, sort_keys=True).encode()).decode()
    mac = hmac.new(await _ticket_key(node), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


async def _read_ticket(node: Node, target: AuthRequest, ticket: str) -> str | None:
    """The username the ticket vouches for, if it is genuine, fresh and for this
    very request."""
    body, _, mac = ticket.partition(".")
    expected = hmac.new(await _ticket_key(node), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    user, expires = claims.get("user"), claims.get("exp")
    if not isinstance(user, str) or not isinstance(expires, int) or expires < node.now():
        return None
    if claims != json.loads(json.dumps(_ticket_claims(target, user, expires))):
        return None
    return user


def _refusal(exc: Exception) -> web.Response:
    """A request we cannot act on, explained on the page. Even errors RFC 6749 lets us
    redirect are shown here: before sign-in, the member has not seen the app yet."""
    if isinstance(exc, _RedirectError):
        message = f"{exc.error}: {exc.description}"
    else:
        message = exc.message if isinstance(exc, ApiError) else str(exc)
    return _html(f"<h1>Cannot sign in</h1><p>{html.escape(message)}</p>",
                 "Cannot sign in", 400)


@routes.get("/oauth/authorize")
@routes.get("/oauth/authorize/")
async def authorize_form(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        target = await _check(node, await read_params(request))
    except (_PageError, _RedirectError, ApiError) as exc:
        return _refusal(exc)
    return _sign_in_page(node, target)


@routes.post("/oauth/authorize")
@routes.post("/oauth/authorize/")
async def authorize_submit(request: web.Request) -> web.Response:
    node = request.app[NODE]
    try:
        params = await read_params(request)
        target = await _check(node, params)
    except (_PageError, _RedirectError, ApiError) as exc:
        return _refusal(exc)
    ticket = params.str("ticket", max_length=8000)
    if ticket is None:  # step 1: the sign-in form
        login = params.str("login", "", max_length=320) or ""
        account = await sign_in(node, login, params.str("password", "", max_length=1024)
                                or "", request)
        if account is None:
            return _sign_in_page(node, target, "Invalid username, email or password.",
                                 login, status=401)
        return _consent_page(node, target, account.username,
                             await _make_ticket(node, target, account.username))
    username = await _read_ticket(node, target, ticket)  # step 2: consent
    if username is None:
        return _sign_in_page(node, target, "That took too long or was changed: please "
                             "sign in again.", status=400)
    if params.str("decision", max_length=20) != "approve":
        return _redirect(target, error="access_denied",
                         error_description="The member declined to authorize the app.")
    code = secrets.token_urlsafe(32)
    await node.store.apply([PutAuthCode(code=AuthCodeRecord(
        code_hash=hash_token(code), app_id=target.app.id, username=username,
        scopes=" ".join(target.scopes), redirect_uri=target.redirect_uri,
        challenge=target.challenge, challenge_method=target.challenge_method,
        expires_at=node.now() + CODE_LIFETIME, used=False))])
    return _redirect(target, code=code)


@routes.get("/oauth/authorize/native")
async def show_code(request: web.Request) -> web.Response:
    """Where an out-of-band app's member copies the code from (Mastodon's path)."""
    code = request.query.get("code", "")[:200]
    return _html("<h1>Authorization code</h1><p>Copy this code into your app:</p>"
                 f"<p><code id=code>{html.escape(code)}</code></p>", "Authorization code")
