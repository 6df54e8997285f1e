"""``/healthz`` and ``/metrics``: what load balancers, container engines and Prometheus
ask a node process, whatever its role.

``/healthz`` is public, as Mastodon's ``/health`` is: it tells no more than whether the
process can reach its database (one small read, a couple of seconds at most), its
role and version; 200 when it can, 503 when it cannot, so a proxy or an orchestrator
takes the process out of rotation or restarts it.

``/metrics`` (Prometheus text format) is not public. GoToSocial serves it on its main
port behind credentials, Mastodon's exporter on a port bound to localhost; here both:
a scraper may read it when its request comes straight from loopback or from one of
``limits.trusted_proxies`` with no forwarded-for header (a scraper beside the node),
or from anywhere with ``Authorization: Bearer <server.metrics_token>``. A request that
came through the reverse proxy carries ``X-Forwarded-For`` and so needs the token:
without this rule everyone on the internet could read it through the proxy, which
connects from loopback. Anything else gets 401.

``inbox_metrics_middleware`` counts every answer of an inbox POST: accepted (stored or
duplicate) or refused with the ``reason`` the error middleware answered.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from node.config import Config
from node.context import Node
from node.jobs import RUNNERS
from node.outbox import DELIVER
from node.ratelimit import INBOX_PATH
from node.routes.common import NODE, json_response
from node.routes.wellknown import VERSION

__all__ = ["ROLE", "inbox_metrics_middleware", "may_scrape", "routes"]

log = logging.getLogger("mutual.health")
routes = web.RouteTableDef()
ROLE = web.AppKey("role", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_DATABASE_TIMEOUT = 2.0
_QUEUE_KINDS = (DELIVER, *RUNNERS)


async def _database_ok(node: Node) -> bool:
    try:
        await asyncio.wait_for(node.store.get_meta("healthz"), _DATABASE_TIMEOUT)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any engine's any failure means the same: not healthy
        log.warning("health check: the database did not answer: %r", exc)
        return False
    return True


@routes.get("/healthz")
async def get_healthz(request: web.Request) -> web.Response:
    node = request.app[NODE]
    ok = await _database_ok(node)
    body = {"status": "ok" if ok else "error", "database": "ok" if ok else "unreachable",
            "role": request.app[ROLE], "version": VERSION}
    return json_response(body, status=200 if ok else 503, content_type="application/json",
                         headers={"Cache-Control": "no-store"})


def may_scrape(request: web.Request, config: Config) -> bool:
    """Whether this request may read /metrics (see the module docstring)."""
    token = config.metrics_token
    header = request.headers.get("Authorization", "")
    if token and header[:7].lower() == "bearer ":
        return hmac.compare_digest(header[7:].strip().encode(), token.encode())
    if "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    peer = request.remote or ""
    if not peer:
        return True  # a unix socket: only who may open it asks
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    if address.is_loopback:
        return True
    trusted = [ipaddress.ip_network(n.strip(), strict=False)
               for n in config.trusted_proxies.split(",") if n.strip()]
    return any(address in network for network in trusted)


async def _read_queue(node: Node) -> None:
    """Set the queue gauges from the database: the queue is shared by every process,
    so it is read when asked, never counted in one process's memory."""
    metrics, store, now = node.metrics, node.store, node.now()
    for kind in _QUEUE_KINDS:
        for state in ("queued", "dead"):
            metrics.queue_jobs.labels(kind=kind, state=state).set(
                await store.count_jobs(kind, state))
        due = await store.next_job_at([kind])
        metrics.queue_oldest_due.labels(kind=kind).set(
            0.0 if due is None else max(0.0, now - due))


@routes.get("/metrics")
async def get_metrics(request: web.Request) -> web.Response:
    node = request.app[NODE]
    if not may_scrape(request, node.config):
        return json_response(
            {"error": "metrics need a bearer token from here", "reason": "metrics-forbidden"},
            status=401, content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    await _read_queue(node)
    return web.Response(body=node.metrics.exposition(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST,
                                 "Cache-Control": "no-store"})


@web.middleware
async def inbox_metrics_middleware(request: web.Request,
                                   handler: Handler) -> web.StreamResponse:
    """Count inbox answers; outermost, so it sees what the error middleware answered."""
    if request.method != "POST" or INBOX_PATH.match(request.path) is None:
        return await handler(request)
    metrics = request.app[NODE].metrics
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        metrics.inbox_answered(request, exc.status)
        raise
    except Exception:
        metrics.inbox_refused.labels(reason="internal-error").inc()
        raise
    metrics.inbox_answered(request, response.status)
    return response
