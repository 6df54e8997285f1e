"""One channel between the processes of a node: PostgreSQL ``LISTEN`` / ``NOTIFY``.

Why the database and not a broker: every process of a scaled-out node already talks
to the one PostgreSQL (DESIGN §4), and ``NOTIFY`` reaches every session listening on
that database, so the node needs nothing more to run. What travels is small (the
references of node/events.py, never rendered statuses), and a message that is lost
while a listener reconnects costs a streaming client a live update, not data: the
timeline it reads next has the status. So the channel is best effort, and says so.

A payload is at most 8,000 bytes (PostgreSQL's limit); the caller splits larger ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import asyncpg

from storage.postgres.engine import PgEngine

__all__ = ["CHANNEL", "MAX_PAYLOAD", "Listener", "broadcast"]

CHANNEL = "mutual_events"
MAX_PAYLOAD = 7_900  # bytes, under PostgreSQL's 8,000
_RETRY = (0.5, 1.0, 2.0, 5.0)
log = logging.getLogger("mutual.postgres")


async def broadcast(engine: PgEngine, payloads: Sequence[str]) -> None:
    """Tell every listening process of the node; one round trip for all payloads."""
    if payloads:
        await engine.execute(f"SELECT pg_notify('{CHANNEL}', p) FROM unnest($1::text[]) p",
                             list(payloads))


class Listener:
    """A connection of its own (a pooled one would be handed to other work) that
    listens on the channel and calls ``on_message`` with each payload, reconnecting
    with a growing pause when the database goes away."""

    def __init__(self, dsn: str, on_message: Callable[[str], None]) -> None:
        self._dsn = dsn
        self._on_message = on_message
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="postgres-listener")
        # The first connection is made before serving, so that a client that subscribes
        # at once misses nothing another process publishes after that.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), 10)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _deliver(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self._on_message(payload)
        except Exception:  # a bad message must not stop the channel
            log.exception("event message from another process was not usable")

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                conn = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                pause = _RETRY[min(attempt, len(_RETRY) - 1)]
                log.warning("cannot listen for other processes' events (%s); retry in %ss",
                            exc, pause)
                attempt += 1
                await asyncio.sleep(pause)
                continue
            attempt = 0
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c, lost=lost: lost.set())
            try:
                await conn.add_listener(CHANNEL, self._deliver)
                self._ready.set()
                await lost.wait()
                log.warning("lost the event channel to other processes; reconnecting")
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
