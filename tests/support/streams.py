"""Streaming API clients for tests: a WebSocket and a server-sent events reader, both
over aiohttp against a real node, both reading with a deadline so no test can hang.

Each yields ``Event`` values (the payload already parsed from its JSON text). Events of
one connection arrive in the order their writes committed, so "B arrived and A did
not" is checked by waiting for a later sentinel B, never by sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Event", "SseStream", "WsStream", "open_sse", "open_ws"]

WITHIN = 15.0


@dataclass(frozen=True)
class Event:
    event: str
    payload: Any
    stream: list[str] | None = None


def _parsed(event: str, raw: str, stream: list[str] | None) -> Event:
    return Event(event=event, payload=json.loads(raw), stream=stream)


class _Stream:
    """What both readers share: waiting for the event a test is looking for."""

    async def next(self, within: float = WITHIN) -> Event:
        raise NotImplementedError

    async def until(self, found: Callable[[Event], bool], within: float = WITHIN
                    ) -> tuple[Event, list[Event]]:
        """The first event ``found`` accepts, and those that came before it."""
        before: list[Event] = []
        async with asyncio.timeout(within):
            while not found(event := await self.next(within)):
                before.append(event)
        return event, before


@dataclass
class WsStream(_Stream):
    ws: aiohttp.ClientWebSocketResponse
    errors: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def next(self, within: float = WITHIN) -> Event:
        async with asyncio.timeout(within):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise ConnectionError(f"stream ended: {message.type} {message.data!r}")
                data = json.loads(message.data)
                if "error" in data:
                    self.errors.append(data)
                    continue
                return _parsed(data["event"], data["payload"], data["stream"])

    async def error(self, within: float = WITHIN) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while not self.errors:
                message = await self.ws.receive()
                assert message.type == aiohttp.WSMsgType.TEXT, message
                data = json.loads(message.data)
                if "error" in data:
                    self.errors.append(data)
        return self.errors.pop(0)

    async def closed(self, within: float = WITHIN) -> int | None:
        """Read until the server closes; its close code."""
        async with asyncio.timeout(within):
            while True:
                message = await self.ws.receive()
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                    aiohttp.WSMsgType.CLOSED):
                    return self.ws.close_code


@dataclass
class SseStream(_Stream):
    response: aiohttp.ClientResponse
    comments: list[str] = field(default_factory=list)

    async def next(self, within: float = WITHIN) -> Event:
        fields: dict[str, str] = {}
        async with asyncio.timeout(within):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    raise ConnectionError("stream ended")
                line = raw.decode().rstrip("\n")
                if line.startswith(":"):
                    self.comments.append(line)
                elif line:
                    key, _, value = line.partition(": ")
                    fields[key] = value
                elif fields:
                    return _parsed(fields["event"], fields["data"], None)

    async def comment(self, text: str, within: float = WITHIN) -> None:
        """Wait for a comment line (``:thump``) to arrive."""
        async with asyncio.timeout(within):
            while text not in self.comments:
                with contextlib.suppress(TimeoutError):
                    await self.next(within=0.2)


@contextlib.asynccontextmanager
async def open_ws(session: aiohttp.ClientSession, url: str, *, token: str | None = None,
                  query: dict[str, str] | None = None, protocols: tuple[str, ...] = ()
                  ) -> AsyncIterator[WsStream]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws_url = url.replace("http://", "ws://", 1) + "/api/v1/streaming"
    async with session.ws_connect(ws_url, params=query, headers=headers, protocols=protocols,
                                  timeout=aiohttp.ClientWSTimeout(ws_close=2.0)) as ws:
        yield WsStream(ws)


@contextlib.asynccontextmanager
async def open_sse(session: aiohttp.ClientSession, url: str, path: str, *,
                   token: str | None = None, query: dict[str, str] | None = None
                   ) -> AsyncIterator[SseStream]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with session.get(f"{url}{path}", params=query, headers=headers,
                           timeout=timeout) as response:
        assert response.status == 200, (response.status, await response.text())
        assert response.headers["Content-Type"].startswith("text/event-stream")
        yield SseStream(response)
