"""The aiohttp application: routes, the error middleware, and the background workers.

``create_app`` owns everything with a lifetime (store, HTTP client session, delivery
worker) through ``cleanup_ctx``, so a test can start and stop a whole node in-process
and nothing leaks between nodes; streaming connections are ended ``on_shutdown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
from node.ratelimit import LIMITS, Limits, RateLimited, limits_middleware, secure_fetch_middleware
from node.routes import actors, boxes, groups, objects, wellknown
from node.routes.common import NODE, json_response
from protocol.errors import MalformedActivity, OriginMismatch, ProtocolError, SignatureError
from storage.sqlite import open_sqlite
from storage.store import StorageError

__all__ = ["WORKER", "create_app"]

log = logging.getLogger("mutual.app")
WORKER = web.AppKey("worker", DeliveryWorker)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
            return json_response({"error": exc.text or exc.reason, "reason": exc.reason},
                                 status=exc.status, content_type="application/json")
        raise
    except (InboxError, Refused, BallotRefused, ProtocolError, FetchError, StorageError) as exc:
        status, reason, message = _status_for(exc)
        log.info("%s %s -> %s %s: %s", request.method, request.path, status, reason, message)
        return json_response({"error": message, "reason": reason}, status=status,
                             content_type="application/json")
    except RateLimited as exc:
        return json_response({"error": str(exc), "reason": exc.reason}, status=429,
                             content_type="application/json",
                             headers={"Retry-After": str(exc.retry_after)})
    except RecursionError:
        return json_response({"error": "document nested too deeply", "reason": "too-deep"},
                             status=400, content_type="application/json")


def create_app(config: Config, *, run_workers: bool = True) -> web.Application:
    middlewares = [errors_middleware, limits_middleware]
    if config.authorized_fetch:
        middlewares.append(secure_fetch_middleware)
    app = web.Application(middlewares=middlewares, client_max_size=config.max_body_bytes)
    app[LIMITS] = Limits(config)
    for table in (wellknown.routes, actors.routes, objects.routes, boxes.routes, groups.routes,
                  *route_tables()):
        app.add_routes(table)

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        store = await open_sqlite(config.database_path)
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=config.concurrency * 2, limit_per_host=8),
            auto_decompress=True,
        )
        node = Node(config=config, store=store, session=session)
        await node.start()
        app[NODE] = node
        if run_workers:
            await store.release_leases()
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
