"""Rate limits end to end (issue 6, "Abuse"): per client address and per remote host on
the inbox, per address and per token on the client API, and sign-in brute force slowed
per address and per username — each answered 429 with Retry-After and a reason.

One real node with tiny limits. Every request here comes from loopback, so distinct
clients are simulated through ``X-Forwarded-For`` (loopback is a trusted proxy by
default); a request from loopback with no forwarded header is never limited, which is
checked too. The gate's pieces (the LRU of buckets, the forwarded-address rule) are
also checked directly.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import make_mocked_request

from node.ratelimit import Limiter, client_address
from tests.support.activities import create_note
from tests.support.forms import find_form
from tests.support.oauth import OAuthSite, authorize_url, oauth_site, request
from tests.support.peer import Outgoing, Peer, bad_signature_bytes, key_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"
LIMITS = {
    "MUTUAL_LIMITS_INBOX_PER_MINUTE": "4",
    "MUTUAL_LIMITS_INBOX_HOST_PER_MINUTE": "3",
    "MUTUAL_LIMITS_API_PER_5MIN": "6",
    "MUTUAL_LIMITS_API_TOKEN_PER_5MIN": "3",
    "MUTUAL_LIMITS_LOGIN_ADDRESS_FAILURES": "4",
    "MUTUAL_LIMITS_LOGIN_USER_FAILURES": "3",
}
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


def new_address() -> str:
    """A client address no other test has used (TEST-NET-2)."""
    return next(_addresses)


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


def assert_limited(reply: Any) -> None:
    assert reply.status == 429, reply
    assert reply.body["reason"] == "rate-limited", reply
    assert reply.body["error"], reply
    assert int(reply.headers["Retry-After"]) >= 1, reply


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OAuthSite]:
    async with oauth_site(tmp_path_factory.mktemp("limits"), env=LIMITS) as started:
        yield started


async def post_inbox(site: OAuthSite, headers: dict[str, str]) -> Any:
    return await request(site.session, "POST", f"{site.node.url}/inbox", data=b"{}",
                         headers={"Content-Type": "application/activity+json", **headers})


async def test_inbox_is_limited_per_client_address(site: OAuthSite) -> None:
    address = new_address()
    for _ in range(4):  # unsigned junk: refused, but it counts
        assert (await post_inbox(site, forwarded(address))).status == 400
    assert_limited(await post_inbox(site, forwarded(address)))
    # Another client is not affected; nor is loopback itself, never limited.
    assert (await post_inbox(site, forwarded(new_address()))).status == 400
    for _ in range(10):
        assert (await post_inbox(site, {})).status == 400


def from_address(address: str) -> Any:
    def hook(request: Outgoing) -> None:
        request.headers["X-Forwarded-For"] = address
    return hook


async def test_inbox_is_limited_per_remote_server_and_forgers_cannot_spend_its_budget(
        site: OAuthSite) -> None:
    async with Peer() as peer:
        sender = peer.actor("flood", key=key_for("limits-sender"))
        inbox = f"{site.node.url}/users/ana/inbox"
        # Forged signatures claiming the server are refused 401 and do not use its budget.
        for _ in range(5):
            reply = await peer.signed_post(inbox, create_note(sender, PUBLIC), actor=sender,
                                           mutate=[bad_signature_bytes,
                                                   from_address(new_address())])
            assert reply.status == 401, reply
        for _ in range(3):  # each from a new address: only the server's bucket empties
            reply = await peer.signed_post(inbox, create_note(sender, PUBLIC), actor=sender,
                                           mutate=from_address(new_address()))
            assert reply.status == 202, reply
        refused = create_note(sender, PUBLIC)
        reply = await peer.signed_post(inbox, refused, actor=sender,
                                       mutate=from_address(new_address()))
        assert (reply.status, reply.reason) == (429, "rate-limited"), reply
        # Nothing of the refused activity was stored.
        auth = {"Authorization": f"Bearer {site.node.cli('token', 'create', 'ana')}",
                "Accept": "application/activity+json"}
        items = await site.node.collection(inbox, headers=auth)
        assert refused["id"] not in {i.get("id") for i in items}
        # The same server unthrottled over loopback (a local relay, a test) is accepted.
        reply = await peer.signed_post(inbox, create_note(sender, PUBLIC), actor=sender)
        assert reply.status == 202, reply


async def test_api_is_limited_per_address_and_per_token(site: OAuthSite) -> None:
    address = new_address()
    url = f"{site.node.url}/api/v1/instance"
    for _ in range(6):
        assert (await request(site.session, "GET", url, headers=forwarded(address))).status == 200
    assert_limited(await request(site.session, "GET", url, headers=forwarded(address)))
    assert (await request(site.session, "GET", url, headers=forwarded(new_address()))
            ).status == 200
    # One token from many addresses still has one budget.
    token = site.node.cli("token", "create", "bo")
    verify = f"{site.node.url}/api/v1/accounts/verify_credentials"
    for _ in range(3):
        reply = await request(site.session, "GET", verify, token=token,
                              headers=forwarded(new_address()))
        assert reply.status == 200, reply
    assert_limited(await request(site.session, "GET", verify, token=token,
                                 headers=forwarded(new_address())))
    reply = await request(site.session, "GET", verify, token=token)  # loopback: never
    assert reply.status == 200, reply


async def password_grant(site: OAuthSite, app: Any, login: str, password: str,
                         address: str) -> Any:
    return await request(site.session, "POST", f"{site.node.url}/oauth/token",
                         headers=forwarded(address),
                         data={"client_id": app.client_id, "client_secret": app.client_secret,
                               "grant_type": "password", "username": login,
                               "password": password})


async def test_password_grant_brute_force_is_limited_per_username(site: OAuthSite) -> None:
    app = await site.app()
    first = new_address()
    for _ in range(3):
        reply = await password_grant(site, app, "bo", "wrong", first)
        assert (reply.status, reply.body["error"]) == (400, "invalid_grant"), reply
    # Even the right password is now refused for bo, from any address...
    assert_limited(await password_grant(site, app, "bo", site.password, first))
    other = new_address()
    assert_limited(await password_grant(site, app, "BO", site.password, other))
    # ...while another member signs in from there as usual.
    reply = await password_grant(site, app, "ana", site.password, other)
    assert reply.status == 200, reply


async def test_password_grant_brute_force_is_limited_per_address(site: OAuthSite) -> None:
    app = await site.app()
    address = new_address()
    for n in range(4):  # a spray over many usernames
        reply = await password_grant(site, app, f"nobody{n}", "guess", address)
        assert reply.status == 400, reply
    assert_limited(await password_grant(site, app, "ana", site.password, address))
    reply = await password_grant(site, app, "ana", site.password, new_address())
    assert reply.status == 200, reply


async def test_sign_in_page_brute_force_is_limited(site: OAuthSite) -> None:
    app = await site.app()
    url = authorize_url(site.node, app)
    address = new_address()
    page = await request(site.session, "GET", url, headers=forwarded(address))
    assert page.status == 200, page
    form = find_form(page.body, url)

    async def attempt(login: str, password: str) -> Any:
        return await request(site.session, form.method, form.action,
                             headers=forwarded(address),
                             data=form.submit(login=login, password=password))

    for n in range(4):
        assert (await attempt(f"ghost{n}", "guess")).status == 401
    assert_limited(await attempt("ana", site.password))


async def test_buckets_refill_and_memory_stays_bounded() -> None:
    now = [0.0]
    limiter = Limiter(2, 60, max_keys=100, clock=lambda: now[0])
    assert limiter.take("a") == 0
    assert limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(30)
    now[0] += 30
    assert limiter.take("a") == 0
    for n in range(10_000):
        limiter.take(f"flood-{n}")
    assert len(limiter) == 100  # least recently used buckets forgotten


@pytest.mark.parametrize(("peer", "header", "expected"), [
    ("127.0.0.1", None, None),                        # loopback, direct: never limited
    ("::1", None, None),
    ("127.0.0.1", "203.0.113.9", "203.0.113.9"),      # from the trusted proxy
    ("127.0.0.1", "1.2.3.4, 203.0.113.9", "203.0.113.9"),  # leftmost is client-written
    ("127.0.0.1", "203.0.113.9, 127.0.0.1", "203.0.113.9"),  # proxies in a chain
    ("203.0.113.7", None, "203.0.113.7"),
    ("203.0.113.7", "10.9.9.9", "203.0.113.7"),       # untrusted peer: header ignored
])
async def test_client_address_honours_only_trusted_proxies(
        peer: str, header: str | None, expected: str | None) -> None:
    import ipaddress

    headers = {"X-Forwarded-For": header} if header else {}
    request = make_mocked_request("GET", "/", headers=headers).clone(remote=peer)
    trusted = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1")]
    assert client_address(request, trusted) == expected
