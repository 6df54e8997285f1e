"""The fetcher's SSRF guard and limits, tried against real servers on loopback.

The guard must refuse BEFORE connecting: every test's client session carries a wire
tap (``tests.support.faults.Wire``) that records each request started and fails any
aimed off loopback, so "refused" is checked as "no request was even started". A
redirect from a public host into a private range is tried by resolving made-up public
names (``*.test``) to the loopback server through the fetcher's ``resolver`` seam and
trusting exactly those names; everything else resolves as in production.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from node.fetcher import Fetcher, FetchError, check_url, is_private_address, system_resolver
from tests.support.faults import Wire
from tests.support.peer import key_for

PUBLIC_NAMES = ("public.test", "other.test", "multi.test")
TIMEOUT = 1.0
MAX_BYTES = 1_000_000


@functools.cache
def _bomb() -> bytes:
    """50 MB of zeros, gzipped to ~50 KB: small on the wire, huge once decompressed."""
    return gzip.compress(b"\0" * 50_000_000)


@dataclass
class Server:
    """A hostile or honest origin on loopback; logs every path it was asked for."""

    port: int = 0
    seen: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    sent: int = 0

    def url(self, path: str, host: str = "public.test") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path)
        self.hosts.append(request.headers.get("Host", ""))
        name = request.match_info["name"]
        host = request.headers["Host"]
        if name == "actor":
            doc = {"id": f"http://{host}/actor", "type": "Person", "inbox": "x"}
            return web.json_response(doc, content_type="application/activity+json")
        if name == "hop":  # /hop?n=3 -> /hop?n=2 -> ... -> /actor
            left = int(request.query.get("n", "0"))
            raise web.HTTPFound("/actor" if left == 0 else f"/hop?n={left - 1}")
        if name == "to":  # redirect wherever ?url= says
            raise web.HTTPFound(request.query["url"])
        if name == "no-location":
            return web.Response(status=302)
        if name == "foreign-id":  # serves a document that names another host
            other = request.query.get("as", "http://elsewhere.example/users/x")
            return web.json_response({"id": other, "type": "Person"})
        if name == "slow-hop":
            await asyncio.sleep(0.4)
            raise web.HTTPFound("/slow-hop")
        if name == "hang":
            await asyncio.sleep(3600)
        if name == "declared-huge":
            return await self._stream(request, 50_000_000, declare=True)
        if name == "huge":
            return await self._stream(request, 50_000_000, declare=False)
        if name == "forever":
            return await self._stream(request, None, declare=False)
        if name == "trickle":
            return await self._stream(request, None, declare=False, chunk=1, pause=0.05)
        if name == "bomb":
            return web.Response(body=_bomb(), headers={"Content-Encoding": "gzip"},
                                content_type="application/activity+json")
        return web.Response(status=404)

    async def _stream(self, request: web.Request, total: int | None, *, declare: bool,
                      chunk: int = 65536, pause: float = 0.0) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/activity+json"
        if declare and total is not None:
            response.content_length = total
        await response.prepare(request)
        try:
            while total is None or self.sent < total:
                await response.write(b" " * chunk)
                self.sent += chunk
                if pause:
                    await asyncio.sleep(pause)
        except ConnectionError:
            pass
        return response


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    origin = Server()
    app = web.Application()
    app.router.add_get("/{name}", origin.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    origin.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield origin
    await runner.cleanup()


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    tap = Wire()
    yield tap
    assert not tap.off_loopback, "a request tried to leave loopback"


async def resolve(host: str, port: int) -> Sequence[str]:
    """Made-up public names resolve to the loopback server; a host that resolves to a
    public and a private address is a rebinding attempt; the rest as in production."""
    if host == "multi.test":  # nothing listens on 127.0.0.2: its connection is refused
        return ["127.0.0.2", "127.0.0.1"]
    if host in PUBLIC_NAMES:
        return ["127.0.0.1"]
    if host == "mixed.test":
        return ["93.184.216.34", "10.0.0.1"]
    if host == "slow.test":
        await asyncio.sleep(3600)
    return await system_resolver(host, port)


@pytest.fixture
async def session(wire: Wire) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(trace_configs=[wire.trace()]) as client:
        yield client


def make(session: aiohttp.ClientSession, *, allow_private: bool = False,
         max_redirects: int = 3) -> Fetcher:
    signer = ("http://127.0.0.1:9/actor#main-key", key_for("fetcher"))
    return Fetcher(session=session, signer=lambda: signer, allow_private=allow_private,
                   timeout=TIMEOUT, max_bytes=MAX_BYTES, max_redirects=max_redirects,
                   user_agent="Mutual-test", resolver=resolve, trusted_hosts=PUBLIC_NAMES)


async def refused(fetcher: Fetcher, url: str) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        await fetcher.get_json(url)
    return caught.value.reason, time.monotonic() - started


# -- private addresses ------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://localhost:{port}/actor",
    "http://127.0.0.1:{port}/actor",
    "http://[::1]:{port}/actor",
    "http://[::ffff:127.0.0.1]:{port}/actor",
    "http://10.0.0.1/users/alice",
    "http://10.255.255.1:8080/users/alice",
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://[fe80::1]/actor",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://mixed.test/actor",
])
async def test_private_loopback_and_link_local_hosts_are_refused_before_connecting(
        server: Server, session: aiohttp.ClientSession, wire: Wire, url: str) -> None:
    reason, took = await refused(make(session), url.format(port=server.port))
    assert reason == "private-address"
    assert took < TIMEOUT / 2  # refused, not timed out trying
    assert (wire.requests, server.seen) == ([], [])


async def test_allow_private_addresses_lets_a_loopback_node_fetch_its_peers(
        server: Server, session: aiohttp.ClientSession, wire: Wire) -> None:
    doc = await make(session, allow_private=True).get_json(
        server.url("/actor", host="127.0.0.1"))
    assert doc["type"] == "Person"
    assert len(wire.requests) == 1


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
    "::7f00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::1", "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "ff02::1", "fe80::1%eth0",
])
def test_addresses_that_are_not_public_unicast_count_as_private(address: str) -> None:
    assert is_private_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700::1111",
                                     "2a00:1450:4001:80b::200e", "::ffff:93.184.216.34"])
def test_public_addresses_are_not_private(address: str) -> None:
    assert not is_private_address(address)


# -- URLs no federating server publishes --------------------------------------------


@pytest.mark.parametrize("url", [
    "http://0x7f.1/actor",
    "http://0x7f000001/actor",
    "http://2130706433/actor",
    "http://017700000001/actor",
    "http://0177.0.0.1/actor",
    "http://127.1/actor",
    "http://127.0.0.1./actor",
    "http://1.2.3.04/actor",
    "http://alice:secret@public.test:{port}/actor",
    "http://alice@public.test:{port}/actor",
    "http://@public.test:{port}/actor",
    "ftp://public.test/actor",
    "file:///etc/passwd",
    "gopher://public.test:70/_GET",
    "javascript:alert(1)",
    "data:application/json,{{}}",
    "http:///actor",
    "http://public.test:99999/actor",
])
@pytest.mark.parametrize("allow_private", [False, True])
async def test_odd_urls_are_refused_whatever_the_private_setting(
        server: Server, session: aiohttp.ClientSession, wire: Wire, url: str,
        allow_private: bool) -> None:
    fetcher = make(session, allow_private=allow_private)
    reason, _ = await refused(fetcher, url.format(port=server.port))
    assert reason == "bad-url"
    assert (wire.requests, server.seen) == ([], [])


def test_canonical_ip_literals_and_names_are_ordinary_urls() -> None:
    for url in ("https://93.184.216.34/users/a", "https://[2606:4700::1111]/a",
                "https://coop.example/users/a", "https://1password.example/a"):
        assert check_url(url).hostname


# -- redirects --------------------------------------------------------------------


async def test_redirects_up_to_the_limit_are_followed_and_rechecked(
        server: Server, session: aiohttp.ClientSession) -> None:
    doc = await make(session, max_redirects=3).get_json(server.url("/hop?n=2"))
    assert doc["id"] == server.url("/actor")
    assert server.seen == ["/hop", "/hop", "/hop", "/actor"]


@pytest.mark.parametrize("path", ["/hop?n=3", "/slow-hop"])
async def test_a_redirect_chain_longer_than_max_redirects_is_refused(
        server: Server, session: aiohttp.ClientSession, path: str) -> None:
    fetcher = make(session, max_redirects=2)
    if path == "/slow-hop":  # also bounded in time: the deadline covers every hop
        fetcher = make(session, max_redirects=20)
    reason, took = await refused(fetcher, server.url(path))
    if path == "/slow-hop":
        assert reason == "timeout"
        assert took < TIMEOUT + 1.0
    else:
        assert reason == "too-many-redirects"
        assert len(server.seen) == 3


@pytest.mark.parametrize(("target", "reason"), [
    ("http://localhost:{port}/actor", "private-address"),
    ("http://127.0.0.1:{port}/actor", "private-address"),
    ("http://[::1]:{port}/actor", "private-address"),
    ("http://169.254.169.254/latest/meta-data/", "private-address"),
    ("http://10.0.0.1/admin", "private-address"),
    ("http://0x7f.1:{port}/actor", "bad-url"),
    ("file:///etc/passwd", "bad-url"),
    ("http://user:pw@public.test:{port}/actor", "bad-url"),
])
async def test_a_redirect_from_a_public_host_into_a_private_range_is_refused(
        server: Server, session: aiohttp.ClientSession, wire: Wire, target: str,
        reason: str) -> None:
    location = target.format(port=server.port)
    got, _ = await refused(make(session), server.url(f"/to?url={location}"))
    assert got == reason
    assert server.seen == ["/to"], "the private target was reached"
    assert len(wire.requests) == 1


async def test_redirect_without_location_is_refused(
        server: Server, session: aiohttp.ClientSession) -> None:
    assert (await refused(make(session), server.url("/no-location")))[0] == "bad-redirect"


async def test_connection_goes_to_the_checked_address_not_a_second_lookup(
        server: Server, session: aiohttp.ClientSession, wire: Wire) -> None:
    # public.test resolves only through the guard: a second lookup by the HTTP client
    # (the DNS-rebinding window) would fail, or could answer something else.
    doc = await make(session).get_json(server.url("/actor"))
    assert doc["type"] == "Person"
    assert wire.dns_lookups == []
    assert server.hosts == [f"public.test:{server.port}"]


async def test_the_next_checked_address_is_tried_when_one_refuses_the_connection(
        server: Server, session: aiohttp.ClientSession, wire: Wire) -> None:
    doc = await make(session).get_json(server.url("/actor", host="multi.test"))
    assert doc["type"] == "Person"
    assert [u.split("/")[2].split(":")[0] for u in wire.requests] == ["127.0.0.2", "127.0.0.1"]


# -- size and time ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/declared-huge", "/huge", "/forever", "/bomb"])
async def test_huge_or_endless_bodies_are_cut_at_max_fetch_bytes(
        server: Server, session: aiohttp.ClientSession, path: str) -> None:
    reason, _ = await refused(make(session), server.url(path))
    assert reason == "too-large"  # before the timeout
    assert server.sent < 8 * MAX_BYTES


@pytest.mark.parametrize("path", ["/hang", "/trickle"])
async def test_a_server_that_never_finishes_is_cut_at_fetch_timeout(
        server: Server, session: aiohttp.ClientSession, path: str) -> None:
    reason, took = await refused(make(session), server.url(path))
    assert reason == "timeout"
    assert TIMEOUT - 0.1 < took < TIMEOUT + 1.0


async def test_a_resolver_that_never_answers_is_cut_at_fetch_timeout(
        session: aiohttp.ClientSession, wire: Wire) -> None:
    reason, took = await refused(make(session), "https://slow.test/actor")
    assert (reason, wire.requests) == ("timeout", [])
    assert took < TIMEOUT + 1.0


# -- who served what --------------------------------------------------------------


async def test_a_document_naming_another_host_is_refused(
        server: Server, session: aiohttp.ClientSession) -> None:
    reason, _ = await refused(make(session), server.url("/foreign-id"))
    assert reason == "origin-mismatch"


async def test_a_redirect_cannot_make_another_host_speak_for_the_first(
        server: Server, session: aiohttp.ClientSession) -> None:
    # public.test redirects to other.test, which serves a document claiming an id on
    # public.test (CVE-2024-23832): only public.test can vouch for its own ids.
    claimed = server.url("/users/mallory")
    evil = server.url(f"/foreign-id?as={claimed}", host="other.test")
    reason, _ = await refused(make(session), server.url(f"/to?url={evil}"))
    assert reason == "origin-mismatch"
    assert json.dumps(server.seen) == json.dumps(["/to", "/foreign-id"])
