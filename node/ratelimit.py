"""Rate limits and authorized fetch: the two request gates in front of every route.

Rate limits are token buckets kept in a bounded LRU (``Limiter``), keyed by the client
address, the remote actor and host of an inbox POST, the bearer token of an API call
and, for sign-ins, the address and the username. A refused request is answered 429
with ``Retry-After`` and ``{"error": ..., "reason": "rate-limited"}`` (DESIGN §5).

The client address is the one a trusted proxy reports: ``X-Forwarded-For`` is
honoured only when the direct peer is a trusted proxy (loopback by default), and a
request from loopback with no forwarded header is never limited (as Mastodon does), so
local tools, benchmarks and tests run unthrottled.

Authorized fetch (``federation.authorized_fetch``) makes every ActivityPub read of
actors, objects, activities, collections and group decisions need a valid signed GET
from a non-blocked domain; the instance actor, WebFinger, NodeInfo and host-meta stay
public, since peers need them to sign and to verify.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from node.config import Config

__all__ = ["INBOX_PATH", "LIMITS", "Limiter", "Limits", "RateLimited", "client_address",
           "limits_middleware", "secure_fetch_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class RateLimited(Exception):
    """Answered 429 with ``Retry-After`` by the error middleware."""

    reason = "rate-limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = max(1, math.ceil(retry_after))


class Limiter:
    """Token buckets (``capacity`` tokens refilled over ``period`` seconds), one per key,
    at most ``max_keys`` of them: the least recently used bucket is forgotten first, so
    a flood of distinct keys costs bounded memory (a forgotten bucket starts full)."""

    def __init__(self, capacity: int, period: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(max(capacity, 1))
        self.rate = self.capacity / max(period, 1e-9)
        self.max_keys = max(max_keys, 1)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _level(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - last) * self.rate)

    def wait(self, key: str) -> float:
        """Seconds until ``key`` has a token (0 when it has one now); takes nothing."""
        level = self._level(key, self.clock())
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, key: str) -> float:
        """Take a token: 0 when there was one, else the seconds to wait (nothing taken)."""
        now = self.clock()
        level = self._level(key, now)
        wait = 0.0 if level >= 1 else (1 - level) / self.rate
        self._store(key, level - 1 if level >= 1 else level, now)
        return wait

    def charge(self, key: str) -> None:
        """Take a token even when that empties the bucket (a counted failure)."""
        now = self.clock()
        self._store(key, max(0.0, self._level(key, now) - 1), now)

    def _store(self, key: str, level: float, now: float) -> None:
        self._buckets[key] = (level, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


def _networks(spec: str) -> list[Network]:
    networks = []
    for item in spec.split(","):
        if item.strip():
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
    return networks


def _parse_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


# Every request asks about its peer (and its forwarded hops): the same few addresses,
# whose parsing cost ~10 µs a request. Bounded, and only for text short enough to be an
# address (the longest IPv6 form is 45 characters), so forged hops cannot fill memory.
_parse_ip_cached = functools.lru_cache(maxsize=4096)(_parse_ip)


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    return _parse_ip_cached(address) if len(address) <= 64 else _parse_ip(address)


@functools.lru_cache(maxsize=4096)
def _loopback(peer: str) -> bool:
    """Whether the socket peer ``peer`` is loopback (a socket address: few, short)."""
    ip = _ip(peer)
    return ip is not None and ip.is_loopback


def _in(address: str, networks: list[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in net for net in networks)


def client_address(request: web.Request, trusted: list[Network]) -> str | None:
    """The client's address, or None for a request never limited (loopback, direct)."""
    peer = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not peer:
        return None  # a unix socket: local
    if not forwarded.strip() or not _in(peer, trusted):
        # (Without a forwarded header the trusted proxies change nothing: asked first.)
        return None if _loopback(peer) else peer
    # Walk from the nearest hop outward; the first address not a trusted proxy is the
    # client (anything further left was written by the client and may be forged).
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


class Limits:
    def __init__(self, config: Config) -> None:
        size = config.max_tracked
        self.enabled = config.rate_limits
        self.trusted = _networks(config.trusted_proxies)
        self.inbox_address = Limiter(config.inbox_per_minute, 60, max_keys=size)
        self.inbox_host = Limiter(config.inbox_host_per_minute, 60, max_keys=size)
        self.inbox_actor = Limiter(config.inbox_actor_per_minute, 60, max_keys=size)
        self.api_address = Limiter(config.api_per_5min, 300, max_keys=size)
        self.api_token = Limiter(config.api_token_per_5min, 300, max_keys=size)
        self.login_address = Limiter(config.login_address_failures, config.login_window,
                                     max_keys=size)
        self.login_user = Limiter(config.login_user_failures, config.login_window,
                                  max_keys=size)

    def client(self, request: web.Request) -> str | None:
        return client_address(request, self.trusted) if self.enabled else None

    def check_login(self, request: web.Request, login: str) -> None:
        """Refuse a sign-in attempt once its address or username failed too often."""
        address = self.client(request)
        if address is None:
            return
        wait = max(self.login_address.wait(address),
                   self.login_user.wait(login.strip().lower()))
        if wait:
            raise RateLimited("too many failed sign-ins: try again later", wait)

    def failed_login(self, request: web.Request, login: str) -> None:
        address = self.client(request)
        if address is None:
            return
        self.login_address.charge(address)
        self.login_user.charge(login.strip().lower())


LIMITS = web.AppKey("limits", Limits)
INBOX_PATH = re.compile(r"^/(inbox|actor/inbox|users/[^/]+/inbox|groups/[^/]+/inbox)/?$")
_KEY_ID = re.compile(r'keyid\s*=\s*"([^"]*)"', re.IGNORECASE)


def _signer_key(request: web.Request) -> str | None:
    """The key id a Signature header claims (unverified: used only to find buckets)."""
    header = request.headers.get("Signature", "") or request.headers.get("Signature-Input", "")
    match = _KEY_ID.search(header)
    return match.group(1)[:2048] if match else None


def _refuse(what: str, wait: float) -> None:
    if wait:
        raise RateLimited(f"too many requests {what}: slow down", wait)


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    limits = request.app[LIMITS]
    address = limits.client(request)
    if address is None:
        return await handler(request)
    path = request.path
    if request.method == "POST" and INBOX_PATH.match(path):
        _refuse("from this address", limits.inbox_address.take(address))
        key_id = _signer_key(request)
        if key_id is None:
            return await handler(request)
        actor = key_id.split("#", 1)[0]
        try:
            host = (urlsplit(actor).netloc or actor).lower()
        except ValueError:  # not a URL (a broken IPv6 literal): the inbox refuses it
            host = actor.lower()
        # The claimed key is not verified yet: only look at its buckets here, and charge
        # them after the inbox has checked the signature, so a forger cannot spend
        # another server's budget.
        _refuse("from this server", limits.inbox_host.wait(host))
        _refuse("from this actor", limits.inbox_actor.wait(actor))
        response = await handler(request)
        if response.status not in (401, 403):
            limits.inbox_host.take(host)
            limits.inbox_actor.take(actor)
        return response
    if path.startswith(("/api/", "/oauth/")):
        _refuse("from this address", limits.api_address.take(address))
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            token = hashlib.sha256(header[7:].strip().encode()).hexdigest()
            _refuse("with this token", limits.api_token.take(token))
    return await handler(request)


_SECURE = re.compile(r"^/(users|groups|objects|activities)/")


@web.middleware
async def secure_fetch_middleware(request: web.Request,
                                  handler: Handler) -> web.StreamResponse:
    """Authorized fetch: ActivityPub reads need a signed GET from a non-blocked domain."""
    from node.inbox.pipeline import InboxError
    from node.routes.common import READER, authorised_account, signed_reader, wants_html

    if (request.method not in ("GET", "HEAD") or not _SECURE.match(request.path)
            or wants_html(request)):
        return await handler(request)
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        await authorised_account(request)  # a local member's app: 401 unless valid
        return await handler(request)
    reader = await signed_reader(request)  # 401 bad signature, 403 blocked domain
    if reader is None:
        raise InboxError(401, "signature-required",
                         "this server requires signed requests (authorized fetch)")
    request[READER] = reader
    return await handler(request)
