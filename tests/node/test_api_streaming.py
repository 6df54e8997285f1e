"""The streaming API on real nodes, through the WebSocket and the server-sent events
paths as apps use them: a member's user stream hears a followed account's post from a
SECOND node, their own posts, favourites and deletes; public streams carry public posts
only; hashtag streams their tag; a group's relay and a poll's closing (written by the
job worker, not a request) reach the user stream too. Every read has a deadline.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.support.api import Api, member_api
from tests.support.nodes import Cluster, MutualNode, eventually
from tests.support.oauth import App, register_app, request, signed_up
from tests.support.streams import Event, open_sse, open_ws

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.federation]

# Heartbeats each second, so that one is seen within a test; short queues, so that a
# reader who stops reading is dropped soon.
ENV = {"MUTUAL_STREAMING_HEARTBEAT_SECONDS": "1", "MUTUAL_STREAMING_QUEUE_SIZE": "8"}
SLOW_POSTS = 80


@dataclass
class Site:
    a: MutualNode
    b: MutualNode
    session: aiohttp.ClientSession
    ana: Api
    cy: Api
    bo: Api
    password: str


async def follow_remote(api: Api, acct: str) -> None:
    found = await api.ok("GET", "/api/v2/search",
                         params={"q": acct, "resolve": "true", "type": "accounts"})
    account_id = found["accounts"][0]["id"]
    await api.ok("POST", f"/api/v1/accounts/{account_id}/follow")

    async def following() -> bool:
        relation = await api.ok("GET", "/api/v1/accounts/relationships",
                                params={"id[]": account_id})
        return bool(relation[0]["following"])

    await eventually(following)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        cluster = Cluster(tmp_path_factory.mktemp("streaming"), session)
        try:
            a = await cluster.node("a", start=False, env=ENV)
            password = signed_up(a, "ana")
            ana = Api(node=a, name="ana", token=a.cli("token", "create", "ana"))
            await a.start()
            b = await cluster.node("b", env=ENV)
            site = Site(a=a, b=b, session=session, ana=ana, cy=member_api(a, "cy"),
                        bo=member_api(b, "bo"), password=password)
            await follow_remote(ana, site.bo.acct)
            yield site
        finally:
            cluster.stop_all()


def is_update(status: dict[str, Any]) -> Any:
    return lambda e: e.event == "update" and e.payload["uri"] == status["uri"]


def ids(events: list[Event], kind: str = "update") -> set[str]:
    return {str(e.payload["id"]) for e in events if e.event == kind}


async def test_user_stream_hears_a_followed_remote_post_own_posts_and_a_favourite(
        site: Site) -> None:
    ana, bo, cy = site.ana, site.bo, site.cy
    async with open_ws(site.session, site.a.url,
                       query={"stream": "user", "access_token": str(ana.token)}) as stream:
        posted = await bo.post_status("Fresh bread on the other node")
        update, _ = await stream.until(is_update(posted))
        assert update.stream == ["user"]
        assert update.payload["account"]["acct"] == bo.acct
        assert "Fresh bread" in update.payload["content"]
        assert update.payload["favourited"] is False

        mine = await ana.post_status("Ana's own news")
        own, _ = await stream.until(is_update(mine))
        assert own.payload["id"] == mine["id"]
        await cy.ok("POST", f"/api/v1/statuses/{mine['id']}/favourite")
        note, _ = await stream.until(lambda e: e.event == "notification")
        assert note.stream == ["user"]
        assert note.payload["type"] == "favourite"
        assert note.payload["account"]["acct"] == "cy"
        assert note.payload["status"]["id"] == mine["id"]

        await ana.ok("DELETE", f"/api/v1/statuses/{mine['id']}")
        deleted, _ = await stream.until(lambda e: e.event == "delete")
        assert str(deleted.payload) == mine["id"]


async def test_public_stream_carries_public_posts_but_not_followers_only_ones(
        site: Site) -> None:
    ana, bo = site.ana, site.bo
    async with open_ws(site.session, site.a.url, token=site.cy.token,
                       query={"stream": "public"}) as everything, \
            open_ws(site.session, site.a.url, token=site.cy.token,
                    query={"stream": "public:local"}) as local:
        private = await ana.post_status("for my followers only", visibility="private")
        unlisted = await ana.post_status("quietly public", visibility="unlisted")
        public = await ana.post_status("for everyone")
        found, before = await everything.until(is_update(public))
        assert found.stream == ["public"]
        assert found.payload["visibility"] == "public"
        assert not ids(before) & {private["id"], unlisted["id"]}
        found, before = await local.until(is_update(public))
        assert found.stream == ["public:local"]
        assert not ids(before) & {private["id"], unlisted["id"]}

        remote = await bo.post_status("hello from the other node")
        arrived, _ = await everything.until(is_update(remote))
        assert arrived.payload["account"]["acct"] == bo.acct
        sentinel = await ana.post_status("a local sentinel")
        _, before = await local.until(is_update(sentinel))
        assert arrived.payload["id"] not in ids(before)  # remote: not on public:local


async def test_hashtag_streams_carry_their_tag_and_follow_subscribe_messages(
        site: Site) -> None:
    ana = site.ana
    async with open_ws(site.session, site.a.url, token=site.cy.token,
                       query={"stream": "hashtag", "tag": "Market"}) as stream:
        untagged = await ana.post_status("no tag here")
        tagged = await ana.post_status("Eggs and bread at the #market today")
        found, before = await stream.until(is_update(tagged))
        assert found.stream == ["hashtag", "Market"]
        assert [t["name"] for t in found.payload["tags"]] == ["market"]
        assert untagged["id"] not in ids(before)

        await stream.send({"type": "subscribe", "stream": "hashtag", "tag": "eggs"})
        await stream.send({"type": "unsubscribe", "stream": "hashtag", "tag": "Market"})
        # Control messages are handled in order: the error for this one means the two
        # above were handled.
        await stream.send({"type": "subscribe", "stream": "no such stream"})
        assert await stream.error() == {"error": "Unknown stream type", "status": 400}
        await stream.send({"type": "subscribe", "stream": "hashtag"})
        assert await stream.error() == {"error": "Missing tag name parameter", "status": 400}
        market = await ana.post_status("more at the #market")
        eggs = await ana.post_status("blue #eggs")
        found, before = await stream.until(is_update(eggs))
        assert found.stream == ["hashtag", "eggs"]
        assert market["id"] not in ids(before)


async def test_server_sent_events_paths_deliver_the_same_events(site: Site) -> None:
    ana, cy, session, url = site.ana, site.cy, site.session, site.a.url
    async with open_sse(session, url, "/api/v1/streaming/user", token=ana.token) as user, \
            open_sse(session, url, "/api/v1/streaming/user/notification",
                     query={"access_token": str(ana.token)}) as notifications, \
            open_sse(session, url, "/api/v1/streaming/hashtag", token=cy.token,
                     query={"tag": "coop"}) as hashtag, \
            open_sse(session, url, "/api/v1/streaming/public/local", token=cy.token) as local:
        posted = await ana.post_status("The #coop meets on Tuesday")
        for stream in (user, hashtag, local):
            found, _ = await stream.until(is_update(posted))
            assert found.payload["id"] == posted["id"]
            assert found.stream is None  # SSE frames carry event and data only
        await cy.ok("POST", f"/api/v1/statuses/{posted['id']}/reblog")
        for stream in (user, notifications):
            note, before = await stream.until(lambda e: e.event == "notification")
            assert note.payload["type"] == "reblog"
            assert note.payload["status"]["id"] == posted["id"]
        assert not [e for e in before if e.event == "update"]  # notifications only
        assert user.comments[0] == ":)"
        await user.comment(":thump", within=5)


async def test_a_group_relay_reaches_a_member_who_follows_no_one(site: Site) -> None:
    ana, cy = site.ana, site.cy
    site.a.cli("group", "create", "garden", "--owner", "ana")
    garden = await cy.ok("GET", "/api/v1/accounts/lookup", params={"acct": "garden"})
    await cy.ok("POST", f"/api/v1/accounts/{garden['id']}/follow")
    async with open_ws(site.session, site.a.url, token=cy.token,
                       query={"stream": "user"}) as stream:
        posted = await ana.post_status("@garden the tomatoes are ripe")
        found, _ = await stream.until(is_update(posted))
        assert found.payload["account"]["acct"] == "ana"


async def test_a_poll_closing_notifies_voters_and_updates_the_authors_home(
        site: Site) -> None:
    """Closing is written by the job worker, not by a request, and streams all the same."""
    ana, cy = site.ana, site.cy
    async with open_ws(site.session, site.a.url, token=cy.token,
                       query={"stream": "user:notification"}) as voter, \
            open_ws(site.session, site.a.url, token=ana.token,
                    query={"stream": "user"}) as author:
        poll = await ana.post_status("Tea or coffee?", poll={
            "options": ["tea", "coffee"], "expires_in": 5})
        await cy.ok("POST", f"/api/v1/polls/{poll['poll']['id']}/votes",
                    json={"choices": [0]})
        note, _ = await voter.until(lambda e: e.event == "notification", within=30)
        assert note.stream == ["user:notification"]
        assert note.payload["type"] == "poll"
        assert note.payload["status"]["poll"]["expired"] is True
        closed, _ = await author.until(lambda e: e.event == "status.update", within=30)
        assert closed.payload["id"] == poll["id"]
        assert closed.payload["poll"]["expired"] is True
        assert closed.payload["poll"]["votes_count"] == 1


async def sse_refusal(site: Site, path: str, token: str | None = None,
                      query: dict[str, str] | None = None) -> tuple[int, Any]:
    """The status and body of an SSE request that is refused (None if it streams)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with site.session.get(f"{site.a.url}{path}", headers=headers,
                                params=query) as response:
        if response.status == 200:
            return 200, None
        return response.status, await response.json(content_type=None)


async def oauth_token(site: Site, scope: str, grant: str = "password") -> tuple[App, str]:
    app = await register_app(site.session, site.a)
    data = {"grant_type": grant, "client_id": app.client_id,
            "client_secret": app.client_secret, "scope": scope}
    if grant == "password":
        data.update(username="ana", password=site.password)
    reply = await request(site.session, "POST", f"{site.a.url}/oauth/token", data=data)
    assert reply.status == 200, reply
    return app, str(reply.body["access_token"])


async def test_streams_need_a_member_token_with_the_scope_mastodon_asks(site: Site) -> None:
    missing = (401, {"error": "Missing access token"})
    invalid = (401, {"error": "The access token is invalid"})
    assert await sse_refusal(site, "/api/v1/streaming/public") == missing
    assert await sse_refusal(site, "/api/v1/streaming/user", token="nope") == invalid
    assert await sse_refusal(site, "/api/v1/streaming/public",
                             query={"access_token": "nope"}) == invalid
    for token in (None, "nope"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with open_ws(site.session, site.a.url, token=token):
                pass
        assert refused.value.status == 401
    _, app_only = await oauth_token(site, "read", grant="client_credentials")
    assert await sse_refusal(site, "/api/v1/streaming/public", token=app_only) == invalid

    _, narrow = await oauth_token(site, "read:notifications")
    assert await sse_refusal(site, "/api/v1/streaming/user", token=narrow) == (
        401, {"error": "Access token does not have the required scopes"})
    assert await sse_refusal(site, "/api/v1/streaming/user/notification", token=narrow) == (
        200, None)
    # Public channels need a token but no scope (Mastodon 4.3's checkScopes).
    assert await sse_refusal(site, "/api/v1/streaming/public", token=narrow) == (200, None)
    async with open_ws(site.session, site.a.url, token=narrow) as stream:
        await stream.send({"type": "subscribe", "stream": "user"})
        assert await stream.error() == {
            "error": "Access token does not have the required scopes", "status": 401}

    assert await sse_refusal(site, "/api/v1/streaming/list", token=site.cy.token) == (
        400, {"error": "Unknown stream type"})
    assert await sse_refusal(site, "/api/v1/streaming/hashtag", token=site.cy.token) == (
        400, {"error": "Missing tag name parameter"})
    async with site.session.get(f"{site.a.url}/api/v1/streaming/health") as health:
        assert (health.status, await health.text()) == (200, "OK")


async def test_a_browser_passes_the_token_as_the_websocket_protocol(site: Site) -> None:
    token = str(site.cy.token)
    async with open_ws(site.session, site.a.url, protocols=(token,),
                       query={"stream": "public"}) as stream:
        assert stream.ws.protocol == token  # echoed, or browsers drop the connection
        posted = await site.ana.post_status("seen by a browser")
        await stream.until(is_update(posted))


async def test_revoking_a_token_ends_its_streams(site: Site) -> None:
    app, token = await oauth_token(site, "read")
    async with open_ws(site.session, site.a.url, token=token,
                       query={"stream": "user"}) as ws, \
            open_sse(site.session, site.a.url, "/api/v1/streaming/public", token=token) as sse:
        revoked = await request(site.session, "POST", f"{site.a.url}/oauth/revoke", data={
            "client_id": app.client_id, "client_secret": app.client_secret, "token": token})
        assert revoked.status == 200, revoked
        assert await ws.closed() == 1008  # policy violation: the token may not read
        with pytest.raises(ConnectionError):
            await sse.next()


async def test_a_reader_that_stops_reading_is_dropped_and_never_slows_posting(
        site: Site) -> None:
    """A client with a tiny receive window that reads nothing: its writes stall, its
    queue (``streaming.queue_size``) fills, and the node drops it, while posting stays
    fast and a reading subscriber gets everything."""
    loop = asyncio.get_running_loop()
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.setblocking(False)
    try:
        await loop.sock_connect(stalled, ("127.0.0.1", site.a.port))
        await loop.sock_sendall(stalled, (
            f"GET /api/v1/streaming/public HTTP/1.1\r\nHost: {site.a.host}\r\n"
            f"Authorization: Bearer {site.cy.token}\r\n\r\n").encode())
        async with open_ws(site.session, site.a.url, token=site.cy.token,
                           query={"stream": "public"}) as reading:
            text = "A long post to fill the socket buffers. " * 100
            slowest, posted = 0.0, []
            for n in range(SLOW_POSTS):
                started = time.monotonic()
                posted.append(await site.ana.post_status(f"{n} {text}"))
                slowest = max(slowest, time.monotonic() - started)
            assert slowest < 5.0, slowest
            _, before = await reading.until(is_update(posted[-1]))
            assert {p["id"] for p in posted[:-1]} <= ids(before)
        received = b""
        async with asyncio.timeout(20):
            while chunk := await loop.sock_recv(stalled, 65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200")
        assert received.count(b"event: update") < SLOW_POSTS  # dropped, not buffered
    finally:
        stalled.close()


async def test_stopping_the_node_ends_its_streams_at_once(site: Site, tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, site.session)
    try:
        node = await cluster.node("c")
        token = node.member("ana").token
        async with open_ws(site.session, node.url, token=token,
                           query={"stream": "user"}) as ws, \
                open_sse(site.session, node.url, "/api/v1/streaming/public",
                         token=token) as sse:
            started = time.monotonic()
            assert node.process is not None
            node.process.send_signal(signal.SIGTERM)
            assert await ws.closed() == 1001  # going away
            with pytest.raises(ConnectionError, match="stream ended"):
                await sse.next()  # a clean end of the response, not a cut connection
            assert await asyncio.to_thread(node.process.wait, 10) == 0
            # The server waits up to 5 s for handlers it has to cut short.
            assert time.monotonic() - started < 3.0
    finally:
        cluster.stop_all()
