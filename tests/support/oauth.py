"""OAuth2 over plain HTTP, as an app does it: register, sign in, exchange, call.

For the tests of the protocol's edges (tests/node/test_oauth.py, test_api_auth.py);
the real third-party clients in tests/clients/ do the same through their own code.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from tests.support.forms import find_form
from tests.support.nodes import Cluster, MutualNode

__all__ = [
    "OOB",
    "App",
    "OAuthSite",
    "Reply",
    "assert_oauth_error",
    "authorize_via_page",
    "code_from",
    "oauth_site",
    "pkce_pair",
    "register_app",
    "request",
    "signed_up",
]

OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class App:
    client_id: str
    client_secret: str
    entity: dict[str, Any]


async def request(session: aiohttp.ClientSession, method: str, url: str, *,
                  token: str | None = None, **kwargs: Any) -> Reply:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with session.request(method, url, headers=headers, allow_redirects=False,
                               **kwargs) as response:
        text = await response.text()
        try:
            body: Any = await response.json(content_type=None) if text else None
        except ValueError:
            body = text
        return Reply(response.status, body, dict(response.headers))


def signed_up(node: MutualNode, name: str, *, email: str | None = None,
              password: str = PASSWORD) -> str:
    """Create a member who can sign in; returns their password."""
    args = ["account", "create", name, "--password-stdin"]
    if email:
        args += ["--email", email]
    node.cli(*args, stdin=password + "\n")
    return password


async def register_app(session: aiohttp.ClientSession, node: MutualNode, *,
                       scopes: str = "read write follow push",
                       redirect_uris: str | list[str] = OOB, as_json: bool = False) -> App:
    data: dict[str, Any] = {"client_name": "test app", "scopes": scopes}
    if as_json:
        data["redirect_uris"] = redirect_uris
        reply = await request(session, "POST", f"{node.url}/api/v1/apps", json=data)
    else:
        pairs = list(data.items())
        uris = redirect_uris if isinstance(redirect_uris, list) else [redirect_uris]
        key = "redirect_uris[]" if isinstance(redirect_uris, list) else "redirect_uris"
        pairs += [(key, uri) for uri in uris]
        reply = await request(session, "POST", f"{node.url}/api/v1/apps", data=pairs)
    assert reply.status == 200, reply
    return App(reply.body["client_id"], reply.body["client_secret"], reply.body)


def pkce_pair(method: str = "S256") -> tuple[str, str]:
    """(verifier, challenge) per RFC 7636 §4.1-4.2."""
    verifier = secrets.token_urlsafe(48)
    if method == "plain":
        return verifier, verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(node: MutualNode, app: App, *, redirect_uri: str = OOB,
                  scope: str = "read write follow push", **extra: str) -> str:
    query = {"response_type": "code", "client_id": app.client_id,
             "redirect_uri": redirect_uri, "scope": scope, **extra}
    return f"{node.url}/oauth/authorize?{urlencode(query)}"


async def authorize_via_page(session: aiohttp.ClientSession, url: str, login: str,
                             password: str, *, decision: str = "approve") -> Reply:
    """Sign in on the page and answer the consent question; the final reply (a
    redirect on success)."""
    page = await request(session, "GET", url)
    assert page.status == 200, page
    form = find_form(page.body, url)
    signed_in = await request(session, form.method, form.action,
                              data=form.submit(login=login, password=password))
    if signed_in.status != 200:
        return signed_in
    consent = find_form(signed_in.body, form.action)
    return await request(session, consent.method, consent.action,
                         data=consent.submit(button=decision))


def code_from(reply: Reply) -> str:
    """The code in the redirect that ends a successful sign-in."""
    assert reply.status == 302, reply
    query = parse_qs(urlsplit(reply.headers["Location"]).query)
    return query["code"][0]


def assert_oauth_error(reply: Reply, status: int, error: str) -> None:
    """An error in RFC 6749 §5.2's shape, with a description for people."""
    assert reply.status == status, reply
    assert reply.body["error"] == error, reply
    assert reply.body["error_description"], reply


@dataclass
class OAuthSite:
    """A node with members ana (email Ana@Coop.Example) and bo, both able to sign in
    with ``password``, and the calls the OAuth tests make against it."""

    node: MutualNode
    session: aiohttp.ClientSession
    password: str

    async def app(self, *, scopes: str = "read write follow push",
                  redirect_uris: str | list[str] = OOB, as_json: bool = False) -> App:
        return await register_app(self.session, self.node, scopes=scopes,
                                  redirect_uris=redirect_uris, as_json=as_json)

    async def token(self, app: App, **fields: str) -> Reply:
        data = {"client_id": app.client_id, "client_secret": app.client_secret, **fields}
        return await request(self.session, "POST", f"{self.node.url}/oauth/token", data=data)

    async def password_token(self, app: App, login: str = "ana",
                             scope: str = "read write follow push") -> Reply:
        return await self.token(app, grant_type="password", username=login,
                                password=self.password, scope=scope)

    async def whoami(self, token: str) -> Reply:
        """A call that needs the token's member: ana's C2S inbox."""
        return await request(self.session, "GET", f"{self.node.url}/users/ana/inbox",
                             token=token, headers={"Accept": "application/activity+json"})

    async def app_of(self, token: str) -> Reply:
        return await request(self.session, "GET",
                             f"{self.node.url}/api/v1/apps/verify_credentials", token=token)


@contextlib.asynccontextmanager
async def oauth_site(root: Path, *, env: dict[str, str] | None = None
                     ) -> AsyncIterator[OAuthSite]:
    """Start an ``OAuthSite`` under ``root``; stop it afterwards, always."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        cluster = Cluster(root, session)
        try:
            node = await cluster.node("home", start=False, env=env)
            password = signed_up(node, "ana", email="Ana@Coop.Example")
            signed_up(node, "bo")
            await node.start()
            yield OAuthSite(node=node, session=session, password=password)
        finally:
            cluster.stop_all()
