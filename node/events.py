"""The node's in-process event bus: what streaming clients are told, taken from writes
that committed.

Every write this process makes goes through ``Store.apply`` (``Node`` wraps its store
in ``PublishingStore``, once), so events are derived from the operations themselves,
after ``apply`` returned: a remote Create, a post from an app or a C2S client, a group's
relay, a poll's closing and a job's write all emit alike, nothing is told that rolled
back, and no write path has to remember to publish. What the operations say:

- ``AddToInbox`` / ``AddToHome`` of a Create or an Announce in the same list: a status
  entered those members' homes (the same rule the engine uses to fill ``home``);
- ``PutObject``: a post was stored (new, or an edit when its status row is older);
- ``Notify``: a member has a new notification;
- ``TombstoneObject``, and ``DeleteReaction`` of a boost: a status was deleted;
- ``RevokeToken``: connections made with that token end.

Events carry references, not rendered entities: what a subscriber may see (visibility,
blocks, mutes) and how a status looks to them (favourited, own poll votes) depend on
the viewer, so payloads are rendered by each subscriber (node/api/streams.py). The
status id behind a reference is looked up once, by the first subscriber that asks.

Publishing never waits: each subscriber has a bounded queue, and one that falls behind
is closed (reason ``overflow``) so that the writer, an inbox POST or an app's post, is
never slowed by a slow reader.

Across processes (``--role web`` / ``worker`` on PostgreSQL), each process sends what
its writes derive to the others after the commit (node/event_wire.py, over ``NOTIFY``),
so with that channel a write derives events even with no local subscriber. A sqlite
node has one web process; what a worker beside it writes reaches apps at their next
read.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from node.caches import StoreWrapper
from storage.api import AddToHome, Notify
from storage.oauth import RevokeToken
from storage.records import (
    AddToInbox,
    ApplyResult,
    DeleteReaction,
    Op,
    PutActivity,
    PutObject,
    TombstoneObject,
)
from storage.store import Store

__all__ = [
    "CLOSED",
    "CloseReason",
    "Closed",
    "DeleteEvent",
    "Event",
    "EventBus",
    "NotificationEvent",
    "PostFacts",
    "PublishingStore",
    "StatusEvent",
    "StatusRef",
    "Subscription",
    "TokenRevoked",
    "deleted_event",
    "derive_events",
    "status_event",
]

T = TypeVar("T")
log = logging.getLogger("mutual.events")
CloseReason = Literal["overflow", "revoked", "shutdown", "closed"]


class _Once(Generic[T]):
    """An async lookup shared by every subscriber of one event, done once."""

    def __init__(self, compute: Callable[[], Awaitable[T]]) -> None:
        self._compute = compute
        self._lock = asyncio.Lock()
        self._done = False
        self._value: T | None = None

    async def get(self) -> T:
        if not self._done:
            async with self._lock:
                if not self._done:
                    self._value = await self._compute()
                    self._done = True
        return self._value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRef:
    """A status by what the operations name: a post's object id, or a boost of it
    (``booster`` set), whose status ids only the store knows."""

    object_id: str
    booster: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PostFacts:
    """What the ``PutObject`` of a post said, enough to skip subscribers it cannot
    concern without a query (public timelines hold only public posts, tags by name)."""

    visibility: str
    local: bool
    tags: frozenset[str]
    created_at: float


@dataclass(eq=False, kw_only=True)
class StatusEvent:
    """A status entered ``homes`` (by this write), or its post was stored or edited."""

    ref: StatusRef
    homes: frozenset[str]
    post: PostFacts | None
    _resolved: _Once[tuple[int, str] | None] = field(repr=False)

    async def resolve(self) -> tuple[int, str] | None:
        """(status id, ``update`` or ``status.update``); None if it has no status."""
        return await self._resolved.get()


@dataclass(eq=False, kw_only=True)
class DeleteEvent:
    """A status was deleted (a post tombstoned, or a boost undone). ``object_id`` (the
    tombstoned post) or ``known`` (the undone boost's status, read before the commit)
    is what another process needs to resolve it again."""

    _resolved: _Once[tuple[int, bool] | None] = field(repr=False)
    boost: bool = False
    object_id: str | None = None
    known: tuple[int, bool] | None = None

    async def resolve(self) -> tuple[int, bool] | None:
        """(status id, whether it was public); None if it had no status."""
        return await self._resolved.get()


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationEvent:
    owner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRevoked:
    token_hash: str


Event = StatusEvent | DeleteEvent | NotificationEvent | TokenRevoked


class Closed:
    """The last item a closed subscription's queue yields."""


CLOSED = Closed()


class Subscription:
    """One streaming connection's queue. ``wants`` is asked, without I/O, whether an
    event can concern the connection at all; ``on_close`` lets the transport drop a
    connection whose writes are stuck (a slow reader)."""

    def __init__(self, *, wants: Callable[[Event], bool], size: int,
                 token_hash: str | None = None) -> None:
        self.wants = wants
        self.token_hash = token_hash
        self.queue: asyncio.Queue[Event | Closed] = asyncio.Queue(size + 1)
        self._size = size
        self.reason: CloseReason | None = None
        self.on_close: Callable[[CloseReason], None] | None = None

    @property
    def closed(self) -> bool:
        return self.reason is not None

    def offer(self, event: Event) -> None:
        if self.closed:
            return
        if isinstance(event, TokenRevoked):
            if event.token_hash == self.token_hash:
                self.close("revoked")
            return
        if not self.wants(event):
            return
        if self.queue.qsize() >= self._size:
            self.close("overflow")
            return
        self.queue.put_nowait(event)

    def close(self, reason: CloseReason) -> None:
        """Drop what is queued and wake the reader with ``CLOSED`` (the queue keeps one
        place free for it, so closing never blocks either)."""
        if self.closed:
            return
        self.reason = reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(CLOSED)
        if self.on_close is not None:
            self.on_close(reason)


class EventBus:
    def __init__(self, *, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    @property
    def active(self) -> bool:
        """Whether anyone listens (without listeners, writes derive nothing)."""
        return bool(self._subscriptions)

    def subscribe(self, *, wants: Callable[[Event], bool],
                  token_hash: str | None = None) -> Subscription:
        subscription = Subscription(wants=wants, size=self.queue_size, token_hash=token_hash)
        if self._closed:
            subscription.close("shutdown")
        else:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        subscription.close("closed")

    def publish(self, events: Sequence[Event]) -> None:
        for subscription in list(self._subscriptions):
            for event in events:
                subscription.offer(event)
            if subscription.closed:
                self._subscriptions.discard(subscription)

    def close(self) -> None:
        """The node is stopping: end every stream, and any that opens from now on."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close("shutdown")
        self._subscriptions.clear()


# ---- events from operations ----------------------------------------------------------


def _home_ref(activity: PutActivity | None) -> StatusRef | None:
    """The status an inbox or home entry of ``activity`` shows (storage/sqlite/api.py
    ``after_inbox``): a Create's post; an Announce's boost, or for a group's relay of a
    Create (FEP-1b12) the relayed post itself."""
    if activity is None or activity.object_id is None:
        return None
    if activity.type == "Create":
        return StatusRef(object_id=activity.object_id)
    if activity.type != "Announce":
        return None
    document = json.loads(activity.document)
    inner = document.get("object") if isinstance(document, dict) else None
    if not isinstance(inner, dict):
        return StatusRef(object_id=activity.object_id, booster=activity.actor)
    relayed = inner.get("object")
    relayed = relayed.get("id") if isinstance(relayed, dict) else relayed
    if inner.get("type") != "Create" or not isinstance(relayed, str):
        return None
    return StatusRef(object_id=relayed)


def derive_events(ops: Sequence[Op], store: Store,
                  unboosted: Mapping[tuple[str, str], int]) -> list[Event]:
    """The events of a committed operation list; ``unboosted`` maps (booster, object)
    to the boost status ids read before the commit deleted them."""
    activities = {op.id: op for op in ops if isinstance(op, PutActivity)}
    homes: dict[StatusRef, set[str]] = {}
    posts: dict[StatusRef, PutObject] = {}
    events: list[Event] = []
    notified: set[str] = set()
    for op in ops:
        if isinstance(op, AddToInbox | AddToHome):
            ref = _home_ref(activities.get(op.activity_id))
            if ref is not None:
                homes.setdefault(ref, set()).add(op.owner)
        elif isinstance(op, PutObject) and op.status:
            posts[StatusRef(object_id=op.id)] = op
        elif isinstance(op, Notify) and op.owner not in notified:
            notified.add(op.owner)
            events.append(NotificationEvent(owner=op.owner))
        elif isinstance(op, TombstoneObject):
            events.append(deleted_event(store, object_id=op.id))
        elif isinstance(op, DeleteReaction) and op.kind == "announce":
            status_id = unboosted.get((op.actor, op.object_id))
            if status_id is not None:
                events.append(deleted_event(store, known=(status_id, False), boost=True))
        elif isinstance(op, RevokeToken):
            events.append(TokenRevoked(token_hash=op.token_hash))
    statuses: list[Event] = []
    for ref in dict.fromkeys([*posts, *homes]):
        put = posts.get(ref)
        facts = None if put is None else PostFacts(
            visibility=put.visibility, local=put.local, tags=frozenset(put.tags),
            created_at=put.created_at)
        statuses.append(status_event(store, ref, frozenset(homes.get(ref, ())), facts))
    return statuses + events


def status_event(store: Store, ref: StatusRef, homes: frozenset[str],
                 post: PostFacts | None) -> StatusEvent:
    return StatusEvent(ref=ref, homes=homes, post=post, _resolved=_Once(_status(store, ref, post)))


def deleted_event(store: Store, *, object_id: str | None = None,
                  known: tuple[int, bool] | None = None, boost: bool = False) -> DeleteEvent:
    lookup = _known(known) if known is not None or object_id is None else _deleted(
        store, object_id)
    return DeleteEvent(_resolved=_Once(lookup), boost=boost, object_id=object_id, known=known)


def _known(value: T) -> Callable[[], Awaitable[T]]:
    async def get() -> T:
        return value
    return get


def _status(store: Store, ref: StatusRef, post: PostFacts | None
            ) -> Callable[[], Awaitable[tuple[int, str] | None]]:
    async def lookup() -> tuple[int, str] | None:
        if ref.booster is not None:
            boost = await store.reblog_of(ref.booster, ref.object_id)
            return (boost, "update") if boost is not None else None
        status_id = await store.status_for_object(ref.object_id)
        if status_id is None:
            return None
        if post is None:
            return status_id, "update"
        # The row is written with the PutObject that first stored the post, so a row
        # from another moment means this write replaced a stored post: an edit.
        record = await store.get_status(status_id)
        new = record is not None and record.created_at == post.created_at
        return status_id, "update" if new else "status.update"
    return lookup


def _deleted(store: Store, object_id: str) -> Callable[[], Awaitable[tuple[int, bool] | None]]:
    async def lookup() -> tuple[int, bool] | None:
        status_id = await store.status_for_object(object_id)
        record = await store.get_status(status_id) if status_id is not None else None
        return None if record is None else (record.id, record.visibility == "public")
    return lookup


class PublishingStore(StoreWrapper):
    """The node's ``Store``, whose ``apply`` tells the bus what committed.

    Every other method is the wrapped store's own (``__getattr__``)."""

    def __init__(self, store: Store, bus: EventBus) -> None:
        self._store = store
        self._bus = bus
        # Set by the node when its store can reach its other processes (event_wire.py).
        self.broadcast: Callable[[list[Event]], Awaitable[None]] | None = None

    async def apply(self, ops: Sequence[Op]) -> ApplyResult:
        unboosted: dict[tuple[str, str], int] = {}
        wanted = self._bus.active or self.broadcast is not None
        if wanted:
            # An undone boost's status row goes with the commit: read its id first.
            for op in ops:
                if isinstance(op, DeleteReaction) and op.kind == "announce":
                    found = await self._store.reblog_of(op.actor, op.object_id)
                    if found is not None:
                        unboosted[(op.actor, op.object_id)] = found
        result = await self._store.apply(ops)
        if result.applied and wanted:
            events = derive_events(ops, self._store, unboosted)
            if self._bus.active:
                self._bus.publish(events)
            if self.broadcast is not None and events:
                try:
                    await self.broadcast(events)
                except Exception:  # committed all the same: a stream misses a live update
                    log.warning("could not tell the other processes of a write", exc_info=True)
        return result
