"""Signed GETs of remote documents, with an SSRF guard and hard limits.

Every outgoing GET is signed (GoToSocial and bovine refuse unsigned fetches, DESIGN §2)
by the acting member or, when none is acting, the instance actor. Redirects are
followed by hand so that each hop is checked against the private-address guard, and
bodies are read with a size cap so a hostile peer cannot stream forever.

The guard (``AddressGuard``, DESIGN §5) resolves a host once, checks every address it
resolves to, and then connects to the checked address itself, so a second DNS answer
(DNS rebinding) can never steer the connection into the node's own network. The
delivery worker sends through the same guard.

Errors: ``FetchError`` with a ``reason`` — ``bad-url`` (scheme, user information, an
odd IP spelling), ``dns``, ``private-address``, ``bad-redirect``, ``too-many-redirects``,
``timeout``, ``network``, ``gone``, ``http-status``, ``too-large``, ``not-json``,
``origin-mismatch``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import aiohttp
from yarl import URL

from node.jsoncodec import loads
from protocol.httpsig import sign_cavage
from protocol.keys import PrivateKey
from protocol.vocab import host_of

__all__ = [
    "AddressGuard",
    "FetchError",
    "Fetcher",
    "Resolver",
    "Target",
    "check_url",
    "is_private_address",
    "system_resolver",
]

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
_REDIRECTS = (301, 302, 303, 307, 308)
# WHATWG URL §3.5 "ends in a number": such a host is an IPv4 address to a browser and
# to libc (``0x7f.1``, ``2130706433``, ``127.1``), whatever else it looks like.
_NUMERIC_LABEL = re.compile(r"^(?:0[xX][0-9a-fA-F]*|[0-9]+)$")
_CANONICAL_V4 = re.compile(r"^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
                           r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$")
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits, as do the deprecated
# IPv4-compatible addresses (RFC 4291 §2.5.5.1); Python 3.11 counts both as global,
# and local-use NAT64 (RFC 8215) too, which is private by definition.
_EMBEDDING_V4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
# A name may resolve to many addresses; those past this many are not tried.
_MAX_ADDRESSES = 4

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class FetchError(Exception):
    """A remote document could not be had; ``reason`` says why, for logs and 4xx bodies."""

    def __init__(self, message: str, *, reason: str = "fetch-failed", status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.status = status


def is_private_address(address: str) -> bool:
    """True for anything that is not a public unicast address, also when it hides an
    IPv4 address inside IPv6 (mapped, NAT64, IPv4-compatible, 6to4, Teredo)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return True
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is None and any(ip in net for net in _EMBEDDING_V4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None and is_private_address(str(embedded)):
            return True
    return not ip.is_global or ip.is_multicast


def check_url(url: str) -> SplitResult:
    """The parts of an http(s) URL we may fetch; refuses what no federating server
    publishes and what only serves to slip past a filter."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url[:200]}", reason="bad-url")
    if "@" in parts.netloc:
        raise FetchError("URLs with user information are refused", reason="bad-url")
    try:
        parts.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError as exc:
        raise FetchError(f"bad port in {url[:200]}", reason="bad-url") from exc
    host = parts.hostname
    last_label = host.removesuffix(".").rsplit(".", 1)[-1]
    numeric = ":" not in host and _NUMERIC_LABEL.match(last_label)
    if numeric and not _CANONICAL_V4.match(host):
        raise FetchError(f"odd IPv4 spelling {host!r} refused", reason="bad-url")
    return parts


async def system_resolver(host: str, port: int) -> Sequence[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """Where to send a request: ``urls`` name the checked addresses, in the resolver's
    order, when the guard pinned them; the Host header and TLS name stay the host's."""

    urls: tuple[URL, ...]
    server_hostname: str | None

    async def open(self, session: aiohttp.ClientSession, method: str,
                   **kwargs: Any) -> aiohttp.ClientResponse:
        """Send to the first address that takes the connection, as aiohttp itself
        tries each resolved address; use the answer with ``async with``."""
        for url in self.urls[:-1]:
            try:
                return await session.request(method, url, server_hostname=self.server_hostname,
                                             **kwargs)
            except aiohttp.ClientConnectorError:
                continue  # nothing was sent: the next address may answer
        return await session.request(method, self.urls[-1],
                                     server_hostname=self.server_hostname, **kwargs)


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressGuard:
    """Refuses hosts that resolve to loopback, private or link-local ranges (DESIGN §5).

    ``allow_private`` (nodes on loopback: development and tests) turns the check off and
    leaves resolving to aiohttp. ``resolver`` and ``trusted_hosts`` are seams: a test
    resolves a made-up public name to its loopback server and trusts that one name, so
    that a redirect from it into a private range can be tried without leaving loopback.
    """

    allow_private: bool
    resolver: Resolver = system_resolver
    trusted_hosts: Collection[str] = frozenset()

    async def target(self, url: str) -> Target:
        parts = check_url(url)
        host = parts.hostname or ""
        if self.allow_private:
            return Target(urls=(URL(url),), server_hostname=None)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            ipaddress.ip_address(host.split("%")[0])
            addresses: Sequence[str] = [host]
        except ValueError:
            try:
                addresses = await self.resolver(host, port)
            except OSError as exc:
                raise FetchError(f"cannot resolve {host}: {exc}", reason="dns") from exc
        if not addresses:
            raise FetchError(f"{host} has no address", reason="dns")
        if host not in self.trusted_hosts:
            for address in addresses:
                if is_private_address(address):
                    raise FetchError(f"{host} resolves to a private address {address}",
                                     reason="private-address")
        base = URL(url)
        return Target(urls=tuple(base.with_host(a.split("%")[0])
                                 for a in addresses[:_MAX_ADDRESSES]),
                      server_hostname=host if parts.scheme == "https" else None)


class Fetcher:
    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        signer: Callable[[], tuple[str, PrivateKey]],
        allow_private: bool,
        timeout: float,
        max_bytes: int,
        max_redirects: int,
        user_agent: str,
        resolver: Resolver = system_resolver,
        trusted_hosts: Collection[str] = frozenset(),
    ) -> None:
        self._session = session
        self._signer = signer
        self.guard = AddressGuard(allow_private=allow_private, resolver=resolver,
                                  trusted_hosts=frozenset(trusted_hosts))
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent

    async def get_json(
        self, url: str, *, signer: tuple[str, PrivateKey] | None = None, accept: str = ACCEPT
    ) -> Any:
        """GET ``url`` as ActivityPub JSON; raises FetchError on anything but a JSON 200.

        A document whose ``id`` is on another host than the one that finally served it
        is refused: after a redirect, the host that answered is the only one that can
        vouch for what it served (Mastodon's fix for CVE-2024-23832).
        """
        body, final = await self.get(url, signer=signer, accept=accept)
        try:
            document = loads(body)  # what json.loads reads, faster (node/jsoncodec.py)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise FetchError(f"{url} did not return JSON", reason="not-json") from exc
        served_id = document.get("id") if isinstance(document, dict) else None
        if isinstance(served_id, str) and _host(served_id) != host_of(final):
            raise FetchError(f"{final} served a document with the id {served_id[:200]}",
                             reason="origin-mismatch")
        return document

    async def get(
        self, url: str, *, signer: tuple[str, PrivateKey] | None = None, accept: str = ACCEPT
    ) -> tuple[bytes, str]:
        """Returns (body, final URL) after bounded, re-checked redirects.

        ``fetch_timeout`` bounds the whole fetch — resolving, every hop and the body —
        so neither a slow resolver nor a peer that trickles bytes can hold it longer.
        """
        try:
            async with asyncio.timeout(self._timeout):
                return await self._follow(url, signer or self._signer(), accept)
        except TimeoutError as exc:
            raise FetchError(f"fetching {url[:200]} took longer than {self._timeout}s",
                             reason="timeout") from exc

    async def _follow(self, url: str, signer: tuple[str, PrivateKey],
                      accept: str) -> tuple[bytes, str]:
        key_id, key = signer
        current = url
        for _ in range(self._max_redirects + 1):
            target = await self.guard.target(current)
            headers = {"Accept": accept, "User-Agent": self._user_agent}
            headers.update(sign_cavage(
                method="GET", url=current, body=None, key_id=key_id, private_key=key,
                now=datetime.now(UTC)))
            try:
                async with await target.open(
                    self._session, "GET", headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as response:
                    if response.status in _REDIRECTS:
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchError("redirect without Location", reason="bad-redirect")
                        current = urljoin(current, location)
                        continue
                    if response.status == 410:
                        raise FetchError(f"{current} is gone", reason="gone", status=410)
                    if response.status != 200:
                        raise FetchError(f"{current} answered {response.status}",
                                         reason="http-status", status=response.status)
                    return await self._read_capped(response), current
            except TimeoutError as exc:
                raise FetchError(f"fetching {current} timed out", reason="timeout") from exc
            except aiohttp.ClientError as exc:
                raise FetchError(f"fetching {current} failed: {exc!r}", reason="network") from exc
        raise FetchError(f"too many redirects from {url}", reason="too-many-redirects")

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        declared = response.content_length
        if declared is not None and declared > self._max_bytes:
            raise FetchError("response too large", reason="too-large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max_bytes:
                raise FetchError("response too large", reason="too-large")
            chunks.append(chunk)
        return b"".join(chunks)


def _host(url: str) -> str | None:
    try:
        return host_of(url)
    except ValueError:  # a port out of range: no host at all
        return None
