"""OAuth2 grants at their edges, over HTTP against one real node: app registration,
every grant and each way it is refused (with RFC 6749's error names), scopes, token
rotation and revocation, the server metadata apps read first, and token lifetime.

The sign-in page and the authorization-code flow are in test_oauth_pages.py; the
happy paths through real third-party clients in tests/clients/.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.support.oauth import (
    OOB,
    OAuthSite,
    assert_oauth_error,
    oauth_site,
    request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLBACK = "https://app.example/callback?from=mutual"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OAuthSite]:
    async with oauth_site(tmp_path_factory.mktemp("oauth")) as started:
        yield started


async def test_app_registration_answers_the_application_with_its_credentials(
        site: OAuthSite) -> None:
    form = await site.app(redirect_uris=[CALLBACK, OOB], scopes="read write:statuses")
    assert form.entity["redirect_uris"] == [CALLBACK, OOB]
    assert form.entity["redirect_uri"] == f"{CALLBACK}\n{OOB}"
    assert form.entity["scopes"] == ["read", "write:statuses"]
    assert form.entity["name"] == "test app"
    assert form.entity["id"].isdigit()
    as_json = await site.app(redirect_uris=f"{CALLBACK}\n{OOB}", as_json=True)
    assert as_json.entity["redirect_uris"] == [CALLBACK, OOB]
    assert as_json.client_id != form.client_id
    # The secret is shown once: the app's own token does not reveal it again.
    token = (await site.token(as_json, grant_type="client_credentials")).body["access_token"]
    seen = await site.app_of(token)
    assert seen.status == 200, seen
    assert "client_secret" not in seen.body
    assert seen.body["name"] == "test app"


@pytest.mark.parametrize(("fields", "message"), [
    ({"client_name": "x", "redirect_uris": OOB, "scopes": "read rule:the-world"}, "Scopes"),
    ({"client_name": "x", "redirect_uris": "javascript:alert(1)"}, "Redirect URI"),
    ({"client_name": "x", "redirect_uris": "https://app.example/cb#frag"}, "Redirect URI"),
    ({"client_name": "x"}, "Redirect URI"),
    ({"redirect_uris": OOB}, "name"),
])
async def test_app_registration_refuses_bad_fields_with_422(
        site: OAuthSite, fields: dict[str, str], message: str) -> None:
    reply = await request(site.session, "POST", f"{site.node.url}/api/v1/apps", data=fields)
    assert reply.status == 422, reply
    assert message in reply.body["error"]


async def test_password_grant_takes_username_or_email_and_echoes_the_scopes(
        site: OAuthSite) -> None:
    app = await site.app()
    for login in ("ana", "ANA", "@ana", "Ana@Coop.Example", "ana@coop.example",
                  f"ana@{site.node.host}"):
        reply = await site.password_token(app, login)
        assert reply.status == 200, (login, reply)
        body = reply.body
        assert body["token_type"] == "Bearer"
        assert body["scope"] == "read write follow push"
        assert abs(body["created_at"] - time.time()) < 60
        assert body["refresh_token"]
        assert "expires_in" not in body
        assert reply.headers["Cache-Control"] == "no-store"
        assert (await site.whoami(body["access_token"])).status == 200


@pytest.mark.parametrize(("login", "password"), [
    ("ana", "wrong"), ("nobody", "wrong"), ("nobody@coop.example", "wrong"),
    ("instance.actor", "wrong"), ("bo", "")])
async def test_password_grant_refuses_wrong_credentials_slowly(
        site: OAuthSite, login: str, password: str) -> None:
    app = await site.app()
    started = time.monotonic()
    reply = await site.token(app, grant_type="password", username=login, password=password,
                            scope="read")
    if password:
        assert_oauth_error(reply, 400, "invalid_grant")
        assert time.monotonic() - started >= 0.3  # the fixed delay on every failure
    else:
        assert_oauth_error(reply, 400, "invalid_request")


async def test_client_must_authenticate_by_secret_in_the_body_or_basic_auth(
        site: OAuthSite) -> None:
    app = await site.app()
    base = {"grant_type": "password", "username": "ana", "password": site.password,
            "scope": "read"}
    for client in ({"client_id": app.client_id},
                   {"client_id": app.client_id, "client_secret": "not-it"},
                   {"client_id": "unknown", "client_secret": app.client_secret}, {}):
        reply = await request(site.session, "POST", f"{site.node.url}/oauth/token",
                              data={**base, **client})
        assert_oauth_error(reply, 401, "invalid_client")
    basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    reply = await request(site.session, "POST", f"{site.node.url}/oauth/token", data=base,
                          headers={"Authorization": f"Basic {basic}"})
    assert reply.status == 200, reply


async def test_scopes_must_be_known_and_registered_by_the_app(site: OAuthSite) -> None:
    app = await site.app(scopes="read follow")
    for scope in ("read write", "read telepathy", "admin:read"):
        assert_oauth_error(await site.password_token(app, scope=scope), 400, "invalid_scope")
    narrow = await site.password_token(app, scope="read:statuses read:follows")
    assert narrow.status == 200
    assert narrow.body["scope"] == "read:statuses read:follows"
    default = await site.token(app, grant_type="password", username="ana",
                              password=site.password)
    assert default.body["scope"] == "read"  # Mastodon's default scope


async def test_unknown_or_missing_grant_type_is_refused(site: OAuthSite) -> None:
    app = await site.app()
    assert_oauth_error(await site.token(app, grant_type="implicit"), 400, "unsupported_grant_type")
    assert_oauth_error(await site.token(app), 400, "invalid_request")


async def test_client_credentials_token_speaks_for_the_app_alone(site: OAuthSite) -> None:
    app = await site.app()
    reply = await site.token(app, grant_type="client_credentials", scope="read")
    assert reply.status == 200
    assert "refresh_token" not in reply.body
    token = reply.body["access_token"]
    assert (await site.app_of(token)).body["id"] == app.entity["id"]
    assert (await site.whoami(token)).status == 401  # no member behind it


async def test_refresh_rotates_the_pair_and_a_refresh_token_works_once(site: OAuthSite) -> None:
    app = await site.app()
    first = (await site.password_token(app)).body
    refreshed = await site.token(app, grant_type="refresh_token",
                                refresh_token=first["refresh_token"])
    assert refreshed.status == 200, refreshed
    second = refreshed.body
    assert second["scope"] == first["scope"]
    assert second["access_token"] != first["access_token"]
    assert (await site.whoami(second["access_token"])).status == 200
    assert (await site.whoami(first["access_token"])).status == 401
    assert_oauth_error(await site.token(app, grant_type="refresh_token",
                                refresh_token=first["refresh_token"]), 400, "invalid_grant")
    narrower = await site.token(app, grant_type="refresh_token", scope="read",
                               refresh_token=second["refresh_token"])
    assert narrower.status == 200
    assert narrower.body["scope"] == "read"
    other = await site.app()
    assert_oauth_error(await site.token(other, grant_type="refresh_token",
                                refresh_token=narrower.body["refresh_token"]),
                400, "invalid_grant")


async def test_revocation_ends_a_token_and_only_its_app_may_revoke_it(site: OAuthSite) -> None:
    app, other = await site.app(), await site.app()
    token = (await site.password_token(app)).body["access_token"]
    revoke = f"{site.node.url}/oauth/revoke"
    by_other = await request(site.session, "POST", revoke, data={
        "client_id": other.client_id, "client_secret": other.client_secret, "token": token})
    assert_oauth_error(by_other, 403, "unauthorized_client")
    unknown = await request(site.session, "POST", revoke, data={
        "client_id": app.client_id, "client_secret": app.client_secret, "token": "nope"})
    assert (unknown.status, unknown.body) == (200, {})
    assert (await site.whoami(token)).status == 200
    done = await request(site.session, "POST", revoke, data={
        "client_id": app.client_id, "client_secret": app.client_secret, "token": token})
    assert (done.status, done.body) == (200, {})
    assert (await site.whoami(token)).status == 401


async def test_metadata_lists_password_grant_and_pkce_on_the_nodes_own_url(site: OAuthSite) -> None:
    reply = await request(site.session, "GET",
                          f"{site.node.url}/.well-known/oauth-authorization-server")
    meta = reply.body
    assert meta["issuer"] == f"{site.node.url}/"
    for key, path in (("authorization_endpoint", "/oauth/authorize"),
                      ("token_endpoint", "/oauth/token"),
                      ("revocation_endpoint", "/oauth/revoke"),
                      ("app_registration_endpoint", "/api/v1/apps")):
        assert meta[key] == site.node.url + path
    assert set(meta["grant_types_supported"]) == {
        "authorization_code", "password", "client_credentials", "refresh_token"}
    assert meta["code_challenge_methods_supported"] == ["S256", "plain"]
    assert {"read", "write", "follow", "push", "read:statuses", "admin:read:accounts"
            } <= set(meta["scopes_supported"])


async def test_cli_token_still_works_for_the_api_and_c2s(site: OAuthSite) -> None:
    token = site.node.cli("token", "create", "ana")
    assert (await site.whoami(token)).status == 200
    seen = await site.app_of(token)
    assert seen.status == 200
    assert seen.body["name"] == "mutual token create"


async def test_expired_token_is_refused_and_its_refresh_token_still_works(tmp_path: Path) -> None:
    async with oauth_site(tmp_path, env={"MUTUAL_OAUTH_TOKEN_LIFETIME": "1"}) as brief:
        app = await brief.app()
        body = (await brief.password_token(app)).body
        assert body["expires_in"] == 1
        assert (await brief.whoami(body["access_token"])).status == 200
        await asyncio.sleep(1.2)
        expired = await brief.app_of(body["access_token"])
        assert (expired.status, expired.body) == (401, {"error": "The access token expired"})
        assert (await brief.whoami(body["access_token"])).status == 401
        fresh = await brief.token(app, grant_type="refresh_token",
                                  refresh_token=body["refresh_token"])
        assert fresh.status == 200, fresh
        assert (await brief.whoami(fresh.body["access_token"])).status == 200
