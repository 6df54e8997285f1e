"""The aiohttp application: routes, the error middleware, and the background workers.

``create_app`` owns everything with a lifetime (store, HTTP client session, delivery
worker) through ``cleanup_ctx``, so a test can start and stop a whole node in-process
and nothing leaks between nodes; streaming connections are ended ``on_shutdown``.

A process has a role (``mutual serve --role``, DESIGN §4): ``web`` serves HTTP and runs
no worker, ``worker`` runs the delivery and job workers and serves only ``/healthz``
and ``/metrics`` (node/routes/health.py), ``all`` (the default) is both in one process.
Any number of each may share one database: jobs are claimed under renewed leases
(node/leases.py), so nothing is freed at start that another process still holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from node.api import route_tables
from node.api.params import ApiError
from node.api.streaming import close_streams
from node.config import Config
from node.context import Node
from node.delivery import DeliveryWorker
from node.fetcher import FetchError
from node.governance.ballots import BallotRefused
from node.inbox.base import Refused
from node.inbox.pipeline import InboxError
from node.jobs import JobWorker
from node.metrics import REFUSAL_REASON
from node.ratelimit import LIMITS, Limits, RateLimited, limits_middleware, secure_fetch_middleware
from node.routes import actors, boxes, groups, health, objects, wellknown
from node.routes.common import NODE, json_response
from protocol.errors import MalformedActivity, OriginMismatch, ProtocolError, SignatureError
from storage.factory import open_store
from storage.store import StorageError, StorageUnavailable

__all__ = ["ROLES", "WORKER", "create_app"]

log = logging.getLogger("mutual.app")
WORKER = web.AppKey("worker", DeliveryWorker)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROLES = ("all", "web", "worker")


def _status_for(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, InboxError | Refused | BallotRefused):
        return exc.status, exc.reason, str(exc)
    if isinstance(exc, SignatureError):
        return 401, exc.reason, exc.message
    if isinstance(exc, OriginMismatch):
        return 403, exc.reason, exc.message
    if isinstance(exc, MalformedActivity | ProtocolError):
        return 400, exc.reason, exc.message
    if isinstance(exc, FetchError):
        return 400, exc.reason, str(exc)
    if isinstance(exc, StorageUnavailable):  # nothing was written: the client may retry
        return 503, exc.reason, "the database cannot take writes now: try again shortly"
    if isinstance(exc, StorageError):
        return 409, exc.reason, "conflicts with what is stored"
    raise exc


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One place that turns errors into a status and a safe JSON reason.

    Everything we refuse on purpose has a 4xx; anything else is a bug, logged with its
    detail and answered 500 without it.
    """
    try:
        return await handler(request)
    except ApiError as exc:
        # The client API answers in Mastodon's error shape, which apps parse.
        return json_response(exc.body(), status=exc.status, content_type="application/json",
                             headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.content_type != "application/json":
            request[REFUSAL_REASON] = exc.reason
            return json_response({"error": exc.text or exc.reason, "reason": exc.reason},
                                 status=exc.status, content_type="application/json")
        raise
    except (InboxError, Refused, BallotRefused, ProtocolError, FetchError, StorageError) as exc:
        status, reason, message = _status_for(exc)
        request[REFUSAL_REASON] = reason
        log.info("%s %s -> %s %s: %s", request.method, request.path, status, reason, message)
        retry = ({"Retry-After": str(math.ceil(exc.retry_after))}
                 if isinstance(exc, StorageUnavailable) else None)
        return json_response({"error": message, "reason": reason}, status=status,
                             content_type="application/json", headers=retry)
    except RateLimited as exc:
        request[REFUSAL_REASON] = exc.reason
        return json_response({"error": str(exc), "reason": exc.reason}, status=429,
                             content_type="application/json",
                             headers={"Retry-After": str(exc.retry_after)})
    except RecursionError:
        request[REFUSAL_REASON] = "too-deep"
        return json_response({"error": "document nested too deeply", "reason": "too-deep"},
                             status=400, content_type="application/json")


def create_app(config: Config, *, role: str = "all") -> web.Application:
    """The node's application for a process of ``role`` (one of ``ROLES``)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    run_workers = role in ("all", "worker")
    middlewares = [health.inbox_metrics_middleware, errors_middleware, limits_middleware]
    if config.authorized_fetch:
        middlewares.append(secure_fetch_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=config.max_body_bytes)
    app[LIMITS] = Limits(config)
    app[health.ROLE] = role
    app.add_routes(health.routes)
    public = (wellknown.routes, actors.routes, objects.routes, boxes.routes, groups.routes,
              *route_tables())
    for table in public if role != "worker" else ():
        app.add_routes(table)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        store = await open_store(config.database, config.database_path)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.concurrency * 2, limit_per_host=8),
            auto_decompress=True,
        )
        node = Node(config=config, store=store, session=session)
        await node.start()
        app[NODE] = node
        worker = DeliveryWorker(node)
        app[WORKER] = worker
        tasks = [asyncio.create_task(worker.run()), asyncio.create_task(JobWorker(node).run())
                 ] if run_workers else []
        try:
            yield
        finally:
            node.events.close()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await worker.drain()
            await session.close()
            await store.close()

    app.cleanup_ctx.append(lifetime)
    # Streams never end by themselves: end them before the server waits for handlers.
    app.on_shutdown.append(close_streams)
    return app
