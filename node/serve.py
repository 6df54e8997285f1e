"""``mutual serve``: run one node process in its role (DESIGN §4 and §6).

``all`` and ``web`` listen on ``server.listen`` (or ``--listen``). A ``worker`` has no
public routes and, by default, no port at all: it usually runs beside a web process of
the same data folder and config, whose ``server.listen`` it must not try to take. Given
``--listen``, a worker serves ``/healthz`` and ``/metrics`` there (for a container
health check or a Prometheus scrape of its delivery counters).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import signal
import sys

from aiohttp import web

from node.config import Config

__all__ = ["serve"]

_SHUTDOWN_SECONDS = 5


def serve(config: Config, *, role: str, listen: str | None) -> None:
    """Run until SIGINT or SIGTERM; the workers finish what they hold on the way out."""
    from node.app import create_app

    if listen:
        config = dataclasses.replace(config, listen=listen)
    app = create_app(config, role=role)
    _tune_collector()
    if role == "worker" and not listen:
        print(f"Mutual {role} for {config.url} (no HTTP port)", file=sys.stderr, flush=True)
        asyncio.run(_headless(app))
        return
    host, port = config.listen_host_port
    what = "serving" if role != "worker" else "worker, /healthz and /metrics"
    print(f"Mutual {what} {config.url} on {host}:{port}", file=sys.stderr, flush=True)
    web.run_app(app, host=host, port=port, print=None, access_log=None,
                handle_signals=True, shutdown_timeout=_SHUTDOWN_SECONDS)


def _tune_collector() -> None:
    """Python's cyclic garbage collector, set for a long-running server.

    With the default thresholds (700, 10, 10), collections cost an inbox request ~30 µs
    (measured with ``gc.callbacks`` under bench/inbox.py): young collections set off by
    the objects of 64 requests in flight, and full ones that walked every object of the
    process, imported code and caches included. What exists at start is frozen out of
    every collection, and a young collection waits for 10,000 surviving container
    objects instead of 700; cyclic garbage is still collected, a little later."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


async def _headless(app: web.Application) -> None:
    """The app's lifetime (store, workers) without a server: set up, wait for a
    signal, clean up, as ``web.run_app`` does around its sites."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
