"""A round-robin reverse proxy on loopback: one public URL in front of several web
processes of one node, as nginx's upstream is in deploy/nginx/mutual.conf.

Why a proxy and not "the URL of one web process": every id a node mints, and every
signature a peer checks, carries the node's one public URL, so a second web process
is only reachable the way production reaches it, through a proxy that passes ``Host``
unchanged (HTTP signatures sign it).

It adds no ``X-Forwarded-For``: a request from loopback without one is never
rate-limited (node/ratelimit.py), so the tests measure delivery, not the limits. It
buffers whole bodies, so it is not for streaming (``/api/v1/streaming``)::

    async with RoundRobinProxy() as proxy:       # bound to a free port at once
        a = MutualNode(name="a", ..., port=proxy.port)   # the node's public URL
        proxy.backends.append(web1.url)
        proxy.backends.append(web2.url)
"""

from __future__ import annotations

import itertools
import socket
from collections import Counter

import aiohttp
from aiohttp import web

__all__ = ["RoundRobinProxy"]

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are not forwarded;
# the lengths and encodings are set again by the side that sends the body on.
_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                  "te", "trailer", "transfer-encoding", "upgrade", "content-length"})


class RoundRobinProxy:
    """Sends each request to the next of ``backends`` (base URLs), ``Host`` as received."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.served: Counter[str] = Counter()  # (backend) -> requests forwarded
        self._turn = itertools.count()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> RoundRobinProxy:
        app = web.Application(client_max_size=2_000_000)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()
        # Bodies pass through as they are: no decompression, no cookies, a timeout.
        self._session = aiohttp.ClientSession(
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=30))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        if not self.backends or self._session is None:
            return web.Response(status=502, text="no backend")
        backend = self.backends[next(self._turn) % len(self.backends)]
        self.served[backend] += 1
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        body = await request.read()
        try:
            async with self._session.request(
                    request.method, backend + request.raw_path, headers=headers,
                    data=body or None, allow_redirects=False) as response:
                payload = await response.read()
                out = [(k, v) for k, v in response.headers.items()
                       if k.lower() not in _HOP]
                reply = web.Response(status=response.status, body=payload)
                reply.headers.clear()
                reply.headers.extend(out)
                return reply
        except (aiohttp.ClientError, TimeoutError) as exc:
            return web.Response(status=502, text=f"backend {backend}: {exc!r}")
