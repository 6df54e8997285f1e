"""A fake remote server for inbox tests: actors whose keys the test holds.

``Peer`` is a small aiohttp app on a free 127.0.0.1 port, run in the test's own event
loop. It serves actor documents (``Person`` with inbox, sharedInbox, followers and a
``publicKey``) and any object the test registers, records every POST it receives (so
an ``Accept`` our node sends back can be asserted) and sends signed POSTs (and
signed GETs) the way Mastodon does, with hooks that break one thing at a time::

    async with Peer() as peer:
        bob = peer.actor("bob")
        reply = await peer.signed_post(inbox, activity, actor=bob, mutate=tamper_body)
        assert (reply.status, reply.reason) == (401, "digest-mismatch")

A node whose own URL is on loopback allows private addresses, so it fetches actors and
keys from here over plain HTTP. Keys are generated per test session, never committed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from protocol.httpsig import body_digest, sign_cavage, sign_rfc9421
from protocol.keys import generate_rsa, public_key_to_pem

__all__ = [
    "AP",
    "Outgoing",
    "Peer",
    "Received",
    "RemoteActor",
    "Reply",
    "alter_digest",
    "bad_signature_bytes",
    "drop_header",
    "key_for",
    "tamper_body",
]

AP = "application/activity+json"
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
SECURITY_CONTEXT = "https://w3id.org/security/v1"

# RSA-2048 generation takes tens of milliseconds; one key per name for the session.
_KEYS: dict[str, RSAPrivateKey] = {}


def key_for(name: str) -> RSAPrivateKey:
    """The session's key for ``name`` (generated on first use)."""
    if name not in _KEYS:
        _KEYS[name] = generate_rsa()
    return _KEYS[name]


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteActor:
    id: str
    key_id: str
    key: RSAPrivateKey
    inbox: str
    followers: str
    document: Mapping[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class Received:
    """One POST the peer received."""

    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True, kw_only=True)
class Outgoing:
    """A signed request about to leave; ``mutate`` hooks may change any part of it."""

    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        return self.body.get("reason") if isinstance(self.body, dict) else None

    @property
    def error(self) -> str:
        return str(self.body.get("error", "")) if isinstance(self.body, dict) else ""


Mutation = Callable[[Outgoing], None]


# -- ways to break a request after it was signed ------------------------------------


def tamper_body(request: Outgoing) -> None:
    """Change the JSON after signing, as a man in the middle would."""
    doc = json.loads(request.body)
    doc["tampered"] = "after signing"
    request.body = json.dumps(doc).encode()


def drop_header(name: str) -> Mutation:
    def drop(request: Outgoing) -> None:
        for key in [k for k in request.headers if k.lower() == name.lower()]:
            del request.headers[key]

    return drop


def alter_digest(request: Outgoing) -> None:
    """A well-formed Digest of some other body."""
    request.headers["Digest"] = body_digest(request.body + b" ")


def bad_signature_bytes(request: Outgoing) -> None:
    """Replace the signature with random bytes of the same length."""
    header = request.headers["Signature"]
    start = header.index('signature="') + len('signature="')
    end = header.index('"', start)
    size = len(base64.b64decode(header[start:end]))
    forged = base64.b64encode(os.urandom(size)).decode()
    request.headers["Signature"] = header[:start] + forged + header[end:]


def _sign_covering(request: Outgoing, covered: Sequence[str], *, key_id: str,
                   key: RSAPrivateKey, now: datetime) -> None:
    """A draft-cavage signature over exactly ``covered`` (for weaker-than-required ones).

    Built here rather than with ``protocol.httpsig`` so that it also cross-checks the
    node's signing-string construction (draft-cavage-12 §2.3).
    """
    parts = urlsplit(request.url)
    request.headers.setdefault("Host", parts.netloc)
    request.headers.setdefault("Date", format_datetime(now.astimezone(UTC), usegmt=True))
    if "digest" in covered:
        request.headers.setdefault("Digest", body_digest(request.body))
    lower = {k.lower(): v for k, v in request.headers.items()}
    lines = []
    for name in covered:
        if name == "(request-target)":
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            lines.append(f"(request-target): post {target}")
        else:
            lines.append(f"{name}: {lower[name]}")
    signature = key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    request.headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(covered)}",'
        f'signature="{base64.b64encode(signature).decode()}"')


# -- the server ---------------------------------------------------------------------


@dataclass(repr=False)
class Peer:
    """A remote ActivityPub server that the test fully controls."""

    documents: dict[str, tuple[int, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    port: int = 0
    # GETs of these paths wait until their event is set (see ``hold``).
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def __repr__(self) -> str:
        return f"<Peer {self.url}: {len(self.documents)} documents, {len(self.received)} received>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> Peer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{path:.*}", self._get)
        app.router.add_route("POST", "/{path:.*}", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = int(sock.getsockname()[1])
        await web.SockSite(self._runner, sock).start()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # what it serves ----------------------------------------------------------------

    def actor(self, name: str | None = None, *, path: str | None = None,
              type: str = "Person", key: RSAPrivateKey | None = None,
              **extra: Any) -> RemoteActor:
        """Publish an actor at ``/users/<name>`` (or ``path``) with a key the test holds.

        Without ``key`` the actor gets the session's key for its path.
        """
        path = path or f"/users/{name}"
        actor_id = self.url + path
        key = key or key_for(path)
        doc: dict[str, Any] = {
            "@context": [AS_CONTEXT, SECURITY_CONTEXT],
            "id": actor_id,
            "type": type,
            "preferredUsername": name or path.rstrip("/").rsplit("/", 1)[-1],
            "inbox": f"{actor_id}/inbox",
            "outbox": f"{actor_id}/outbox",
            "followers": f"{actor_id}/followers",
            "following": f"{actor_id}/following",
            "endpoints": {"sharedInbox": f"{self.url}/inbox"},
            "publicKey": {"id": f"{actor_id}#main-key", "owner": actor_id,
                          "publicKeyPem": public_key_to_pem(key)},
            **extra,
        }
        self.serve(doc)
        return RemoteActor(id=actor_id, key_id=f"{actor_id}#main-key", key=key,
                           inbox=doc["inbox"], followers=doc["followers"], document=doc)

    def serve(self, doc: Mapping[str, Any], *, url: str | None = None,
              status: int = 200) -> None:
        """Serve ``doc`` at its own id (or ``url``); the fragment is ignored."""
        self.documents[self._path(url or str(doc["id"]))] = (status, doc)

    def forget(self, url: str, *, status: int = 404) -> None:
        self.documents[self._path(url)] = (status, {"error": "gone"})

    def _path(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.netloc and parts.netloc != self.host:
            raise ValueError(f"{url} is not on this peer ({self.host})")
        return parts.path or "/"

    def hold(self, url: str) -> asyncio.Event:
        """Make GETs of ``url`` hang until the returned event is set: the server is up,
        but slow to answer, so the fetcher is caught in the middle of its work."""
        gate = self.held.setdefault(self._path(url), asyncio.Event())
        gate.clear()
        return gate

    async def _get(self, request: web.Request) -> web.Response:
        self.fetched.append(request.path)
        gate = self.held.get(request.path)
        if gate is not None:
            await gate.wait()
        status, doc = self.documents.get(request.path, (404, {"error": "not found"}))
        return web.Response(status=status, body=json.dumps(doc).encode(), content_type=AP)

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(path=request.path, headers=dict(request.headers),
                                      body=body))
        self._arrived.set()
        return web.Response(status=202)

    async def wait_for(self, check: Callable[[Received], bool], *,
                       within: float = 15.0) -> Received:
        """The first received POST that satisfies ``check``, waiting for it if need be."""
        deadline = time.monotonic() + within
        while True:
            for item in self.received:
                with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                    if check(item):
                        return item
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching POST within {within}s: {self.received!r}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(left, 0.5))

    # what it sends -----------------------------------------------------------------

    async def signed_post(
        self,
        inbox_url: str,
        activity: Mapping[str, Any] | bytes,
        *,
        actor: RemoteActor,
        key_id: str | None = None,
        private_key: RSAPrivateKey | None = None,
        now: datetime | None = None,
        scheme: str = "cavage",
        covered: Sequence[str] | None = None,
        mutate: Mutation | Sequence[Mutation] | None = None,
    ) -> Reply:
        """POST ``activity`` signed as Mastodon signs (draft-cavage-12, rsa-sha256).

        ``key_id``/``private_key`` sign with another key, ``now`` sets the signing time
        (a stale or future Date), ``scheme="rfc9421"`` signs per RFC 9421 as Mastodon
        4.5 does, ``covered`` signs exactly those cavage headers, ``scheme="none"``
        sends no signature, and ``mutate`` changes the request after signing.
        """
        body = activity if isinstance(activity, bytes) else json.dumps(activity).encode()
        moment = now or datetime.now(UTC)
        kid, key = key_id or actor.key_id, private_key or actor.key
        request = Outgoing(url=inbox_url, headers={"Content-Type": AP}, body=body)
        if covered is not None:
            _sign_covering(request, covered, key_id=kid, key=key, now=moment)
        elif scheme == "cavage":
            request.headers.update(sign_cavage(method="POST", url=inbox_url, body=body,
                                               key_id=kid, private_key=key, now=moment))
        elif scheme == "rfc9421":
            request.headers.update(sign_rfc9421(method="POST", url=inbox_url, body=body,
                                                key_id=kid, private_key=key, now=moment))
        elif scheme != "none":
            raise ValueError(f"unknown signature scheme {scheme!r}")
        hooks = [mutate] if callable(mutate) else list(mutate or [])
        for hook in hooks:
            hook(request)
        return await self.send(request)

    async def signed_get(
        self,
        url: str,
        *,
        actor: RemoteActor,
        accept: str = AP,
        mutate: Mutation | Sequence[Mutation] | None = None,
    ) -> Reply:
        """GET ``url`` signed as ``actor``, as Mastodon signs a fetch (draft-cavage-12:
        ``(request-target) host date``, no digest); ``mutate`` as for :meth:`signed_post`.
        """
        assert self._session is not None, "peer not started"
        request = Outgoing(url=url, headers={"Accept": accept}, body=b"")
        request.headers.update(sign_cavage(method="GET", url=url, body=None,
                                           key_id=actor.key_id, private_key=actor.key,
                                           now=datetime.now(UTC)))
        hooks = [mutate] if callable(mutate) else list(mutate or [])
        for hook in hooks:
            hook(request)
        async with self._session.get(request.url, headers=request.headers) as response:
            text = await response.text()
            try:
                parsed: Any = json.loads(text)
            except json.JSONDecodeError:
                parsed = text
            return Reply(status=response.status, body=parsed)

    async def send(self, request: Outgoing) -> Reply:
        """POST exactly this request (e.g. to replay one captured by a ``mutate`` hook)."""
        assert self._session is not None, "peer not started"
        # aiohttp warns (an error under our pytest settings) on large raw bytes.
        data = io.BytesIO(request.body) if len(request.body) > 1_000_000 else request.body
        async with self._session.post(request.url, data=data,
                                      headers=request.headers) as response:
            text = await response.text()
            try:
                parsed: Any = json.loads(text)
            except json.JSONDecodeError:
                parsed = text
            return Reply(status=response.status, body=parsed, headers=dict(response.headers))
