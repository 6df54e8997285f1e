"""Client API: streaming — the WebSocket at ``/api/v1/streaming`` and the server-sent
events paths, as Mastodon 4.3's streaming server serves them.

Every stream needs a member's token, taken (as Mastodon takes it) from
``Authorization: Bearer``, the ``access_token`` query parameter, or the
``Sec-WebSocket-Protocol`` header that browsers can set on a WebSocket; a missing,
unknown, revoked or app-only token is a 401 before anything is streamed. The events
come from the node's bus (node/events.py), rendered per connection (node/api/streams.py).

- WebSocket: ``?stream=`` subscribes at once; then ``{"type": "subscribe" |
  "unsubscribe", "stream": ..., "tag": ...}`` messages; each event is ``{"stream":
  [...], "event": ..., "payload": "<JSON text>"}``, a refused subscription ``{"error":
  ..., "status": ...}``. aiohttp pings every 30 s, as Mastodon does.
- Server-sent events: ``event: update`` / ``data: {...}`` frames, ``:)`` on connecting
  and ``:thump`` heartbeats (every ``streaming.heartbeat_seconds``, 15 by default).

A connection ends when its token is revoked or expires (checked at each heartbeat, and
at once when this process revokes it), when it falls ``streaming.queue_size`` events
behind (it is dropped; the writer never waits for it), and when the node stops
(``close_streams`` runs on shutdown, so stopping never waits for a client).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from node.api.auth import INVALID, Caller, TokenRefused, bearer_token, check_token, token_caller
from node.api.http import ApiRoutes
from node.api.streams import Feed, Message, StreamError, parse_channel
from node.events import Closed, CloseReason
from node.routes.common import NODE

__all__ = ["close_streams", "routes"]

log = logging.getLogger("mutual.streaming")
routes = ApiRoutes()

WRITE_TIMEOUT = 10.0  # a frame the client does not take in this long ends the stream
# The kernel's send buffer of a stream's socket. Left to autotuning it grows to
# megabytes for a client that stopped reading, which then holds that memory and is
# noticed only much later; a small one makes such a client block our writes soon, and
# be dropped (a few events a second need no more).
SEND_BUFFER = 64 * 1024
_MAX_CONTROL_MESSAGE = 64 * 1024
_CLOSE_CODES: dict[CloseReason, WSCloseCode] = {
    "shutdown": WSCloseCode.GOING_AWAY, "revoked": WSCloseCode.POLICY_VIOLATION,
    "overflow": WSCloseCode.TRY_AGAIN_LATER, "closed": WSCloseCode.OK}
_SSE_CHANNELS = {
    "/api/v1/streaming/user": "user",
    "/api/v1/streaming/user/notification": "user:notification",
    "/api/v1/streaming/public": "public",
    "/api/v1/streaming/public/local": "public:local",
    "/api/v1/streaming/public/remote": "public:remote",
    "/api/v1/streaming/hashtag": "hashtag",
    "/api/v1/streaming/hashtag/local": "hashtag:local",
    "/api/v1/streaming/list": "list",
    "/api/v1/streaming/direct": "direct",
}
_FALSE = frozenset({"0", "f", "false", "off"})  # Mastodon's isTruthy: all else is true


async def close_streams(app: web.Application) -> None:
    """End every stream; run on shutdown, before the server waits for its handlers."""
    node = app.get(NODE)
    if node is not None:
        node.events.close()


async def _member(request: web.Request) -> tuple[Caller, str | None]:
    """The member streaming, and the WebSocket subprotocol to answer with: the first
    one offered (a browser drops a WebSocket whose offered protocol is not echoed;
    Mastodon's server echoes the first one too), which carries the token when no
    header or parameter does."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "").split(",")[0].strip() or None
    raw = bearer_token(request) or request.query.get("access_token") or offered
    if raw is None:
        raise StreamError(401, "Missing access token")
    caller = await token_caller(request.app[NODE], raw)
    if caller.account is None:
        raise TokenRefused(INVALID)  # an app's own token reads no member's streams
    return caller, offered


class _Pump:
    """Moves one connection's events from the bus to its socket.

    Runs until the subscription closes or the token stops being valid and returns why;
    a frame that cannot be written within ``WRITE_TIMEOUT`` raises ``TimeoutError``.
    A subscription dropped for overflow while a write is stuck aborts the connection
    at once: the reader is not taking anything, so no polite close would reach it."""

    def __init__(self, request: web.Request, caller: Caller, feed: Feed, *,
                 send: Callable[[Message], Awaitable[None]],
                 beat: Callable[[], Awaitable[None]] | None) -> None:
        self.node = request.app[NODE]
        self.request = request
        self.caller = caller
        self.feed = feed
        self._send = send
        self._beat = beat
        self._writing = False
        self.subscription = self.node.events.subscribe(wants=feed.wants,
                                                       token_hash=caller.token_hash)
        self.subscription.on_close = self._on_close
        transport = request.transport
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)

    def _on_close(self, reason: CloseReason) -> None:
        if reason == "overflow" and self._writing:
            self.abort()

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def stop(self) -> None:
        self.node.events.unsubscribe(self.subscription)

    async def write(self, frame: Awaitable[None]) -> None:
        self._writing = True
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                await frame
        finally:
            self._writing = False

    async def _token_valid(self) -> bool:
        try:
            check_token(await self.node.store.get_token(self.caller.token_hash), self.node.now())
        except TokenRefused:
            return False
        return True

    async def run(self) -> CloseReason:
        queue = self.subscription.queue
        while True:
            try:
                async with asyncio.timeout(self.node.config.heartbeat_seconds):
                    event = await queue.get()
            except TimeoutError:
                if not await self._token_valid():
                    return "revoked"
                if self._beat is not None:
                    await self.write(self._beat())
                continue
            if isinstance(event, Closed):
                return self.subscription.reason or "closed"
            try:
                messages = await self.feed.messages(event)
            except Exception:  # this connection's outermost loop: one event, not the stream
                log.exception("cannot stream %r to %s", event, self.feed.viewer)
                continue
            for message in messages:
                await self.write(self._send(message))


# ---- server-sent events --------------------------------------------------------------


@routes.get("/api/v1/streaming/health")
async def health(request: web.Request) -> web.Response:
    return web.Response(text="OK", content_type="text/plain")


async def sse(request: web.Request) -> web.StreamResponse:
    caller, _ = await _member(request)
    name = _SSE_CHANNELS[request.path.rstrip("/")]
    only_media = request.query.get("only_media", "")
    if name.startswith("public") and only_media and only_media.lower() not in _FALSE:
        name += ":media"
    feed = Feed(request.app[NODE], caller)
    await feed.add(parse_channel(name, request.query))
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store",
        "X-Accel-Buffering": "no"})  # nginx: pass each event on as it comes
    pump = _Pump(request, caller, feed, send=lambda m: response.write(m.sse()),
                 beat=lambda: response.write(b":thump\n"))
    try:
        await response.prepare(request)
        await pump.write(response.write(b":)\n"))
        await pump.run()
    except (ConnectionError, TimeoutError):
        pump.abort()  # the client left, or stopped reading
    finally:
        pump.stop()
    return response


for _path in _SSE_CHANNELS:
    routes.get(_path)(sse)


# ---- WebSocket -----------------------------------------------------------------------


@routes.get("/api/v1/streaming")
async def websocket(request: web.Request) -> web.StreamResponse:
    caller, protocol = await _member(request)
    ws = web.WebSocketResponse(heartbeat=30.0, timeout=2.0, max_msg_size=_MAX_CONTROL_MESSAGE,
                               protocols=(protocol,) if protocol else ())
    if not ws.can_prepare(request).ok:
        raise StreamError(400, "Unknown channel requested")
    feed = Feed(request.app[NODE], caller)
    refused: StreamError | None = None
    if "stream" in request.query:
        # Subscribed before the handshake is answered: a client that connected with
        # ``?stream=`` misses nothing written after it is connected.
        try:
            await feed.add(parse_channel(request.query.getone("stream"), request.query))
        except StreamError as exc:
            refused = exc
    pump = _Pump(request, caller, feed, send=lambda m: ws.send_str(m.websocket()), beat=None)
    forwarding: asyncio.Task[None] | None = None
    try:
        await ws.prepare(request)
        if refused is not None:
            await ws.send_str(json.dumps({"error": refused.message, "status": refused.status}))
        forwarding = asyncio.create_task(_forward(ws, pump))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                with contextlib.suppress(ValueError):
                    await _control(ws, feed, json.loads(message.data))
            elif message.type == WSMsgType.BINARY:
                await ws.close(code=WSCloseCode.UNSUPPORTED_DATA,
                               message=b"binary messages are not supported")
    except ConnectionError:
        pump.abort()
    finally:
        pump.stop()
        if forwarding is not None:
            forwarding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await forwarding
    return ws


async def _forward(ws: web.WebSocketResponse, pump: _Pump) -> None:
    try:
        reason = await pump.run()
    except (ConnectionError, TimeoutError):
        pump.abort()
        return
    with contextlib.suppress(ConnectionError):
        await ws.close(code=_CLOSE_CODES[reason])


async def _control(ws: web.WebSocketResponse, feed: Feed, message: object) -> None:
    """A client's subscribe or unsubscribe; anything else is ignored, as Mastodon does."""
    if not isinstance(message, dict) or message.get("type") not in ("subscribe",
                                                                     "unsubscribe"):
        return
    try:
        channel = parse_channel(message.get("stream"), message)
        if message["type"] == "subscribe":
            await feed.add(channel)
        else:
            feed.remove(channel)
    except StreamError as exc:
        error = exc.message if message["type"] == "subscribe" else (
            "Error unsubscribing from channel")
        await ws.send_str(json.dumps({"error": error, "status": exc.status}))
