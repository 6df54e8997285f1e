"""Signed GETs of remote documents, with an SSRF guard and hard limits.

Every outgoing GET is signed (GoToSocial and bovine refuse unsigned fetches, DESIGN §2)
by the acting member or, when none is acting, the instance actor. Redirects are
followed by hand so that each hop is checked against the private-address guard, and
bodies are read with a size cap so a hostile peer cannot stream forever.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from protocol.httpsig import sign_cavage
from protocol.keys import PrivateKey

__all__ = ["FetchError", "Fetcher", "check_address", "is_private_address"]

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


class FetchError(Exception):
    """A remote document could not be had; ``reason`` says why, for logs and 4xx bodies."""

    def __init__(self, message: str, *, reason: str = "fetch-failed", status: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.status = status


def is_private_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_address(host: str, port: int, *, allow_private: bool) -> None:
    """Refuse hosts that resolve to loopback, private or link-local ranges (DESIGN §5)."""
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc}", reason="dns") from exc
    for info in infos:
        address = str(info[4][0])
        if is_private_address(address):
            raise FetchError(
                f"{host} resolves to a private address {address}", reason="private-address")


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
    ) -> None:
        self._session = session
        self._signer = signer
        self._allow_private = allow_private
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent

    async def get_json(
        self, url: str, *, signer: tuple[str, PrivateKey] | None = None, accept: str = ACCEPT
    ) -> Any:
        """GET ``url`` as ActivityPub JSON; raises FetchError on anything but a JSON 200."""
        body, _ = await self.get(url, signer=signer, accept=accept)
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FetchError(f"{url} did not return JSON", reason="not-json") from exc

    async def get(
        self, url: str, *, signer: tuple[str, PrivateKey] | None = None, accept: str = ACCEPT
    ) -> tuple[bytes, str]:
        """Returns (body, final URL) after bounded, re-checked redirects."""
        key_id, key = signer or self._signer()
        current = url
        for _ in range(self._max_redirects + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError(f"not an http(s) URL: {current[:200]}", reason="bad-url")
            if parts.username or parts.password:
                raise FetchError("URLs with user information are refused", reason="bad-url")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            await check_address(parts.hostname, port, allow_private=self._allow_private)
            headers = {"Accept": accept, "User-Agent": self._user_agent}
            headers.update(sign_cavage(
                method="GET", url=current, body=None, key_id=key_id, private_key=key,
                now=datetime.now(UTC)))
            try:
                async with self._session.get(
                    current, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as response:
                    if response.status in (301, 302, 303, 307, 308):
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
                    body = await self._read_capped(response)
                    return body, current
            except (aiohttp.ClientError, TimeoutError) as exc:
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
