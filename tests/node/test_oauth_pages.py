"""The authorization-code flow through the node's sign-in and consent pages, over
HTTP against one real node: redirects with code and state, out-of-band codes, codes
that work once and only for their app and redirect URI (also when exchanges race),
PKCE S256 and plain, refusals shown on the page, and consent tickets that cannot be
forged or moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio

from tests.support.forms import find_form
from tests.support.oauth import (
    OOB,
    OAuthSite,
    assert_oauth_error,
    authorize_url,
    authorize_via_page,
    code_from,
    oauth_site,
    pkce_pair,
    request,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

CALLBACK = "https://app.example/callback?from=mutual"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OAuthSite]:
    async with oauth_site(tmp_path_factory.mktemp("oauth-pages")) as started:
        yield started


async def test_code_flow_redirects_with_code_and_state_and_a_code_works_once(
        site: OAuthSite) -> None:
    app = await site.app(redirect_uris=[CALLBACK, OOB])
    url = authorize_url(site.node, app, redirect_uri=CALLBACK, state="xyz 1")
    done = await authorize_via_page(site.session, url, "Ana@coop.example", site.password)
    location = urlsplit(done.headers["Location"])
    assert location._replace(query="").geturl() == CALLBACK.split("?")[0]
    query = parse_qs(location.query)
    assert query["from"] == ["mutual"]
    assert query["state"] == ["xyz 1"]
    code = code_from(done)
    reply = await site.token(app, grant_type="authorization_code", code=code,
                            redirect_uri=CALLBACK)
    assert reply.status == 200, reply
    assert reply.body["scope"] == "read write follow push"
    assert (await site.whoami(reply.body["access_token"])).status == 200
    again = await site.token(app, grant_type="authorization_code", code=code,
                            redirect_uri=CALLBACK)
    assert_oauth_error(again, 400, "invalid_grant")


async def test_a_code_is_bound_to_its_app_and_redirect_uri(site: OAuthSite) -> None:
    app, other = await site.app(redirect_uris=[CALLBACK, OOB]), await site.app()
    url = authorize_url(site.node, app, redirect_uri=CALLBACK)
    code = code_from(await authorize_via_page(site.session, url, "ana", site.password))
    assert_oauth_error(await site.token(app, grant_type="authorization_code", code=code,
                                redirect_uri=OOB), 400, "invalid_grant")
    assert_oauth_error(await site.token(other, grant_type="authorization_code", code=code,
                                redirect_uri=CALLBACK), 400, "invalid_grant")
    assert_oauth_error(await site.token(app, grant_type="authorization_code", code="made-up"),
                400, "invalid_grant")
    # Failed attempts did not spend it.
    reply = await site.token(app, grant_type="authorization_code", code=code,
                            redirect_uri=CALLBACK)
    assert reply.status == 200, reply


async def test_racing_exchanges_of_one_code_mint_one_token(site: OAuthSite) -> None:
    app = await site.app()
    code = code_from(await authorize_via_page(site.session, authorize_url(site.node, app),
                                              "ana", site.password))
    replies = await asyncio.gather(*(
        site.token(app, grant_type="authorization_code", code=code, redirect_uri=OOB)
        for _ in range(8)))
    assert sorted(r.status for r in replies) == [200] + [400] * 7, replies


@pytest.mark.parametrize("method", ["S256", "plain"])
async def test_pkce_binds_the_code_to_the_verifier(site: OAuthSite, method: str) -> None:
    app = await site.app()
    verifier, challenge = pkce_pair(method)
    url = authorize_url(site.node, app, code_challenge=challenge, code_challenge_method=method)
    code = code_from(await authorize_via_page(site.session, url, "ana", site.password))
    for wrong in ({}, {"code_verifier": pkce_pair(method)[0]}):
        assert_oauth_error(await site.token(app, grant_type="authorization_code", code=code,
                                    redirect_uri=OOB, **wrong), 400, "invalid_grant")
    # A public client proves itself with the verifier instead of the secret.
    reply = await request(site.session, "POST", f"{site.node.url}/oauth/token", data={
        "grant_type": "authorization_code", "client_id": app.client_id, "code": code,
        "redirect_uri": OOB, "code_verifier": verifier})
    assert reply.status == 200, reply


async def test_without_pkce_a_code_needs_the_client_secret(site: OAuthSite) -> None:
    app = await site.app()
    code = code_from(await authorize_via_page(site.session, authorize_url(site.node, app),
                                              "ana", site.password))
    reply = await request(site.session, "POST", f"{site.node.url}/oauth/token", data={
        "grant_type": "authorization_code", "client_id": app.client_id, "code": code})
    assert_oauth_error(reply, 401, "invalid_client")


async def test_out_of_band_code_is_shown_to_copy(site: OAuthSite) -> None:
    app = await site.app()
    done = await authorize_via_page(site.session, authorize_url(site.node, app, state="s"),
                                    "ana", site.password)
    assert done.headers["Location"].startswith("/oauth/authorize/native?code=")
    page = await request(site.session, "GET", site.node.url + done.headers["Location"])
    code = code_from(done)
    assert f"<code id=code>{code}</code>" in page.body


async def test_sign_in_page_refuses_unknown_clients_and_redirects_on_the_page(
        site: OAuthSite) -> None:
    app = await site.app(redirect_uris=[CALLBACK])
    for url in (f"{site.node.url}/oauth/authorize?response_type=code&client_id=nope",
                authorize_url(site.node, app, redirect_uri="https://evil.example/cb"),
                authorize_url(site.node, app, redirect_uri=CALLBACK, scope="read sudo"),
                authorize_url(site.node, app, redirect_uri=CALLBACK, response_type="token")):
        page = await request(site.session, "GET", url)
        assert page.status == 400, (url, page)
        assert "Location" not in page.headers
        assert "<form" not in page.body
    # One registered URI may be left out, as Doorkeeper allows.
    page = await request(site.session, "GET", f"{site.node.url}/oauth/authorize/?"
                         f"response_type=code&client_id={app.client_id}&scope=read")
    assert page.status == 200
    assert find_form(page.body, site.node.url).fields["redirect_uri"] \
        == CALLBACK


async def test_sign_in_page_wrong_password_asks_again_and_deny_tells_the_app(
        site: OAuthSite) -> None:
    app = await site.app(redirect_uris=[CALLBACK])
    url = authorize_url(site.node, app, redirect_uri=CALLBACK, state="st")
    refused = await authorize_via_page(site.session, url, "ana", "not the password")
    assert refused.status == 401
    assert "Invalid username, email or password" in refused.body
    assert find_form(refused.body, url).fields["login"] == "ana"
    denied = await authorize_via_page(site.session, url, "ana", site.password, decision="deny")
    assert denied.status == 302
    query = parse_qs(urlsplit(denied.headers["Location"]).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["st"]
    assert "code" not in query
    assert denied.headers["Referrer-Policy"] == "no-referrer"


async def test_consent_ticket_cannot_be_forged_or_moved_to_other_scopes(site: OAuthSite) -> None:
    app = await site.app()
    url = authorize_url(site.node, app, scope="read")
    page = await request(site.session, "GET", url)
    form = find_form(page.body, url)
    consent_page = await request(site.session, "POST", form.action,
                                 data=form.submit(login="bo", password=site.password))
    consent = find_form(consent_page.body, url)
    assert "@bo@" in consent_page.body
    assert consent.fields["scope"] == "read"
    for changed in ({"scope": "read write"}, {"ticket": consent.fields["ticket"] + "0"},
                    {"ticket": "e30." + "0" * 64}):
        reply = await request(site.session, "POST", consent.action,
                              data={**consent.submit(button="approve"), **changed})
        assert (reply.status, reply.headers.get("Location")) == (400, None), changed
