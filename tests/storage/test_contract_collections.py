"""Contract: the ActivityPub collections, newest first with seq cursors.

Covers ``AddToInbox`` and the reads ``inbox_page``, ``outbox_page``, ``liked_page`` and
``follows_page``: each page holds at most ``limit`` items, ``next_cursor`` continues
exactly below the last item (None on the last page), and ``total`` counts the whole
collection whatever the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from storage.records import AddToInbox, DeleteReaction, Page, SetFollowState
from storage.store import Store
from tests.storage.builders import T0, account, activity, actor_id, follow, like, post

T = TypeVar("T")
ANA = actor_id("ana")
ZOE = actor_id("zoe", host="remote.example")


async def _walk(fetch: Callable[[int | None], Awaitable[Page[T]]]) -> tuple[list[T], int]:
    """Every item, page by page, following ``next_cursor``; and the number of pages."""
    items: list[T] = []
    cursor: int | None = None
    pages = 0
    while True:
        page = await fetch(cursor)
        pages += 1
        items.extend(page.items)
        if page.next_cursor is None:
            return items, pages
        assert pages < 50, "cursor does not advance"
        cursor = page.next_cursor


async def test_inbox_pages_newest_first_and_cursor_walks_all(store: Store) -> None:
    await store.apply([account("ana")])
    delivered = []
    for i in range(7):
        written = post(ZOE, created_at=T0 + i)
        await store.apply([*written.ops, AddToInbox(owner=ANA, activity_id=written.id)])
        delivered.append(written.id)
    await store.apply(post(ZOE).ops)  # stored, but in no one's inbox
    first = await store.inbox_page(ANA, None, 3)
    assert [a.id for a in first.items] == delivered[::-1][:3]
    assert first.total == 7
    assert first.next_cursor is not None
    items, pages = await _walk(lambda c: store.inbox_page(ANA, c, 3))
    assert [a.id for a in items] == delivered[::-1]
    assert pages == 3


async def test_inbox_entry_is_added_once_and_only_for_its_owner(store: Store) -> None:
    await store.apply([account("ana"), account("bob")])
    written = post(ZOE)
    await store.apply([*written.ops, AddToInbox(owner=ANA, activity_id=written.id)])
    await store.apply([AddToInbox(owner=ANA, activity_id=written.id)])
    page = await store.inbox_page(ANA, None, 10)
    assert ([a.id for a in page.items], page.total, page.next_cursor) == ([written.id], 1, None)
    empty = await store.inbox_page(actor_id("bob"), None, 10)
    assert (empty.items, empty.total, empty.next_cursor) == ([], 0, None)


async def test_inbox_entry_for_an_unknown_activity_adds_nothing(store: Store) -> None:
    await store.apply([AddToInbox(owner=ANA, activity_id="https://remote.example/a/404")])
    assert (await store.inbox_page(ANA, None, 10)).total == 0


async def test_full_last_page_has_no_cursor(store: Store) -> None:
    for _ in range(4):
        await store.apply(post(ANA).ops)
    page = await store.outbox_page(ANA, ["public"], None, 4)
    assert len(page.items) == 4
    assert page.next_cursor is None


async def test_outbox_lists_own_local_activities_of_the_asked_visibilities(
        store: Store) -> None:
    await store.apply([account("ana")])
    public = [post(ANA, created_at=T0 + i) for i in range(3)]
    private = post(ANA, visibility="followers")
    direct = post(ANA, visibility="direct", mentions=(ZOE,))
    for written in [*public, private, direct]:
        await store.apply(written.ops)
    await store.apply(post(ZOE).ops)
    page = await store.outbox_page(ANA, ["public", "unlisted"], None, 10)
    assert [a.id for a in page.items] == [w.id for w in reversed(public)]
    assert page.total == 3
    both = await store.outbox_page(ANA, ["public", "followers"], None, 2)
    assert [a.id for a in both.items] == [private.id, public[2].id]
    assert both.total == 4
    items, _ = await _walk(lambda c: store.outbox_page(ANA, ["public", "followers"], c, 2))
    assert [a.id for a in items] == [private.id, *(w.id for w in reversed(public))]
    assert (await store.outbox_page(ZOE, ["public"], None, 10)).total == 0  # not local


async def test_liked_pages_liked_objects_newest_first(store: Store) -> None:
    targets = [f"https://remote.example/objects/{i}" for i in range(5)]
    for target in targets:
        await store.apply(like(ANA, target).ops)
    await store.apply(like(ZOE, targets[0]).ops)
    items, pages = await _walk(lambda c: store.liked_page(ANA, c, 2))
    assert items == targets[::-1]
    assert pages == 3
    await store.apply([DeleteReaction(kind="like", actor=ANA, object_id=targets[4])])
    page = await store.liked_page(ANA, None, 2)
    assert (page.items, page.total) == ([targets[3], targets[2]], 4)


async def test_follows_page_lists_accepted_follows_each_way(store: Store) -> None:
    await store.apply([account("ana")])
    followers = [actor_id(f"f{i}", host="remote.example") for i in range(5)]
    for who in followers:
        await store.apply(follow(who, ANA).ops)
    pending = actor_id("shy", host="remote.example")
    await store.apply(follow(pending, ANA, state="pending").ops)
    await store.apply(follow(ANA, ZOE).ops)
    items, pages = await _walk(
        lambda c: store.follows_page(followee=ANA, follower=None, cursor=c, limit=2))
    assert items == followers[::-1]
    assert pages == 3
    page = await store.follows_page(followee=ANA, follower=None, cursor=None, limit=2)
    assert page.total == 5
    following = await store.follows_page(followee=None, follower=ANA, cursor=None, limit=10)
    assert (following.items, following.total) == ([ZOE], 1)
    await store.apply([SetFollowState(follower=pending, followee=ANA, state="accepted")])
    after = await store.follows_page(followee=ANA, follower=None, cursor=None, limit=10)
    assert after.total == 6
    assert pending in after.items


async def test_follows_page_needs_one_side(store: Store) -> None:
    with pytest.raises(ValueError, match="followee or follower"):
        await store.follows_page(followee=None, follower=None, cursor=None, limit=10)


async def test_cursor_from_one_collection_keeps_working_after_new_items(store: Store) -> None:
    """A cursor is a position, not an offset: items added on top do not shift page 2."""
    await store.apply([account("ana")])
    old = [post(ANA) for _ in range(4)]
    for written in old:
        await store.apply(written.ops)
    first = await store.outbox_page(ANA, ["public"], None, 2)
    for _ in range(3):
        await store.apply(post(ANA).ops)
    await store.apply([activity(ANA, "Like", "https://remote.example/objects/9")])
    second = await store.outbox_page(ANA, ["public"], first.next_cursor, 2)
    assert [a.id for a in second.items] == [old[1].id, old[0].id]
    assert second.next_cursor is None
    assert second.total == 8  # the Like is public and local too
