"""The event bus: events derived from operations that committed to a real sqlite store,
resolved once for every subscriber, and bounded queues that drop a subscriber who does
not read instead of making the writer wait.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from node.events import (
    CLOSED,
    DeleteEvent,
    Event,
    EventBus,
    NotificationEvent,
    PublishingStore,
    StatusEvent,
    StatusRef,
    TokenRevoked,
)
from storage.api import AddToHome, Notify
from storage.oauth import RevokeToken
from storage.records import (
    AddToInbox,
    DeleteReaction,
    Op,
    PutActivity,
    PutObject,
    PutReaction,
    TombstoneObject,
)
from storage.sqlite import SqliteStore, open_sqlite
from storage.store import Store

ANA = "http://127.0.0.1:8080/users/ana"
BO = "https://remote.example/users/bo"
GROUP = "http://127.0.0.1:8080/groups/garden"
POST = "https://remote.example/notes/1"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    found = await open_sqlite(tmp_path / "events.db")
    try:
        yield found
    finally:
        await found.close()


def activity(id_: str, type_: str, actor: str, object_: Any, now: float = 1.0) -> PutActivity:
    object_id = object_ if isinstance(object_, str) else object_["id"]
    return PutActivity(id=id_, type=type_, actor=actor, object_id=object_id, local=False,
                       visibility="public", audience=(), created_at=now,
                       document=json.dumps({"id": id_, "type": type_, "actor": actor,
                                            "object": object_}))


def post(object_id: str = POST, *, now: float = 1.0, visibility: str = "public",
         tags: tuple[str, ...] = ()) -> PutObject:
    return PutObject(id=object_id, type="Note", attributed_to=BO, in_reply_to=None,
                     context=None, visibility=visibility, audience=(), local=False,  # type: ignore[arg-type]
                     document=json.dumps({"id": object_id, "type": "Note"}), published=None,
                     created_at=now, tags=tags)


def listen(bus: EventBus) -> asyncio.Queue[Any]:
    return bus.subscribe(wants=lambda _: True).queue


def drained(queue: asyncio.Queue[Any]) -> list[Event]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_a_delivered_post_is_one_event_with_its_homes_and_its_facts(
        store: SqliteStore) -> None:
    bus = EventBus()
    queue = listen(bus)
    publishing = PublishingStore(store, bus)
    create = activity("https://remote.example/create/1", "Create", BO, {"id": POST})
    await publishing.apply([create, post(tags=("market",)),
                            AddToInbox(owner=ANA, activity_id=create.id),
                            Notify(owner=ANA, type="mention", account=BO,
                                   activity_id=create.id, object_id=POST, created_at=1.0),
                            Notify(owner=ANA, type="follow", account=BO,
                                   activity_id=create.id, object_id=None, created_at=1.0)])
    events = drained(queue)
    status, note = events
    assert isinstance(status, StatusEvent)
    assert status.ref == StatusRef(object_id=POST)
    assert status.homes == {ANA}
    assert status.post is not None
    assert status.post.tags == {"market"}
    assert status.post.visibility == "public"
    status_id = await store.status_for_object(POST)
    assert await status.resolve() == (status_id, "update")
    assert note == NotificationEvent(owner=ANA)  # one wake-up per member and write

    update = activity("https://remote.example/update/1", "Update", BO, {"id": POST}, 2.0)
    await publishing.apply([update, post(now=2.0)])
    (edited,) = drained(queue)
    assert isinstance(edited, StatusEvent)
    assert edited.homes == frozenset()
    assert await edited.resolve() == (status_id, "status.update")

    await publishing.apply([TombstoneObject(id=POST, document="{}", deleted_at=3.0)])
    (deleted,) = drained(queue)
    assert isinstance(deleted, DeleteEvent)
    assert await deleted.resolve() == (status_id, True)


async def test_a_boost_and_its_undo_name_the_boost_and_a_group_relay_the_post(
        store: SqliteStore) -> None:
    bus = EventBus()
    queue = listen(bus)
    publishing = PublishingStore(store, bus)
    create = activity("https://remote.example/create/1", "Create", BO, {"id": POST})
    await publishing.apply([create, post()])
    drained(queue)
    boost = activity(f"{ANA}/announce/1", "Announce", ANA, POST)
    await publishing.apply([boost, PutReaction(kind="announce", actor=ANA, object_id=POST,
                                               activity_id=boost.id, created_at=2.0),
                            AddToHome(owner=ANA, activity_id=boost.id)])
    (boosted,) = drained(queue)
    assert isinstance(boosted, StatusEvent)
    assert boosted.ref == StatusRef(object_id=POST, booster=ANA)
    boost_id = await store.reblog_of(ANA, POST)
    assert boost_id is not None
    assert await boosted.resolve() == (boost_id, "update")

    undo = activity(f"{ANA}/undo/1", "Undo", ANA, boost.id)
    await publishing.apply([undo, DeleteReaction(kind="announce", actor=ANA, object_id=POST)])
    (unboosted,) = drained(queue)
    assert isinstance(unboosted, DeleteEvent)
    assert unboosted.boost
    assert await unboosted.resolve() == (boost_id, False)  # read before the row went

    relay = activity(f"{GROUP}/announce/1", "Announce", GROUP, {
        "id": "https://remote.example/create/1", "type": "Create", "object": {"id": POST}})
    relay_update = activity(f"{GROUP}/announce/2", "Announce", GROUP, {
        "id": "https://remote.example/update/1", "type": "Update", "object": {"id": POST}})
    await publishing.apply([relay, AddToInbox(owner=ANA, activity_id=relay.id),
                            relay_update, AddToInbox(owner=ANA, activity_id=relay_update.id)])
    (relayed,) = drained(queue)  # a relayed Update is no new entry of a home
    assert isinstance(relayed, StatusEvent)
    assert relayed.ref == StatusRef(object_id=POST)
    assert relayed.homes == {ANA}


async def test_nothing_is_told_of_a_duplicate_or_while_nobody_listens(
        store: SqliteStore) -> None:
    bus = EventBus()
    publishing = PublishingStore(store, bus)
    create = activity("https://remote.example/create/1", "Create", BO, {"id": POST})
    await publishing.apply([create, post()])  # nobody listens: nothing is derived
    queue = listen(bus)
    result = await publishing.apply([create, post()])
    assert result.applied is False
    assert drained(queue) == []


class CountingStore:
    """A store that counts the lookups made to resolve events."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lookups = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def status_for_object(self, object_id: str) -> int | None:
        self.lookups += 1
        await asyncio.sleep(0)
        return await self.store.status_for_object(object_id)


async def test_every_subscriber_shares_one_lookup_of_a_status(store: SqliteStore) -> None:
    counting = CountingStore(store)
    bus = EventBus()
    queues = [listen(bus) for _ in range(20)]
    publishing = PublishingStore(counting, bus)  # type: ignore[arg-type]
    create = activity("https://remote.example/create/1", "Create", BO, {"id": POST})
    await publishing.apply([create, post(), AddToInbox(owner=ANA, activity_id=create.id)])
    events = [q.get_nowait() for q in queues]
    results = await asyncio.gather(*(e.resolve() for e in events))
    assert len(set(results)) == 1
    assert results[0] is not None
    assert counting.lookups == 1


async def test_a_subscriber_that_never_reads_is_dropped_and_the_writer_never_waits() -> None:
    bus = EventBus(queue_size=8)
    stalled = bus.subscribe(wants=lambda _: True)
    reading = bus.subscribe(wants=lambda _: True)
    started = time.monotonic()
    for n in range(10_000):
        bus.publish([NotificationEvent(owner=f"{ANA}{n}")])
        while not reading.queue.empty():
            reading.queue.get_nowait()
    assert time.monotonic() - started < 2.0
    assert stalled.reason == "overflow"
    assert stalled.queue.qsize() == 1
    assert stalled.queue.get_nowait() is CLOSED
    assert reading.reason is None


async def test_a_revoked_token_or_a_shutdown_closes_only_what_it_concerns() -> None:
    bus = EventBus()
    mine = bus.subscribe(wants=lambda _: True, token_hash="mine")
    other = bus.subscribe(wants=lambda _: True, token_hash="other")
    dropped: list[str] = []
    mine.on_close = dropped.append
    bus.publish([TokenRevoked(token_hash="mine")])
    assert (mine.reason, other.reason, dropped) == ("revoked", None, ["revoked"])
    bus.close()
    assert other.reason == "shutdown"
    assert bus.subscribe(wants=lambda _: True).reason == "shutdown"


async def test_revoking_through_the_store_is_heard(store: SqliteStore) -> None:
    bus = EventBus()
    subscription = bus.subscribe(wants=lambda _: True, token_hash="abc")
    ops: list[Op] = [RevokeToken(token_hash="abc")]
    await PublishingStore(store, bus).apply(ops)
    assert subscription.reason == "revoked"
