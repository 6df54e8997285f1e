"""Contract: a member's notifications.

Covers ``Notify`` (one per owner, type and activity, so a redelivered activity notifies
once), ``DismissNotifications`` and the read ``notifications`` with its filters and
paging; a notification about a deleted post, or from someone muted or blocked, is not
shown.
"""

from __future__ import annotations

from storage.api import DismissNotifications, Notify, PageQuery, PutMute
from storage.records import PutActor, TombstoneObject
from storage.store import Store
from tests.storage.builders import (
    T0,
    account,
    actor_id,
    block,
    follow,
    like,
    post,
    remote_actor,
)

ANA, BOB = actor_id("ana"), actor_id("bob")
ZOE = actor_id("zoe", host="remote.example")
YAN = actor_id("yan", host="remote.example")


def _notify(type_: str, account: str, activity_id: str, object_id: str | None = None,
            owner: str = ANA, at: float = T0) -> Notify:
    return Notify(owner=owner, type=type_, account=account, activity_id=activity_id,
                  object_id=object_id, created_at=at)


async def _setup(store: Store) -> str:
    """ana with one post; zoe and yan known. Returns the post's object id."""
    await store.apply([account("ana"), account("bob"), PutActor(actor=remote_actor("zoe")),
                       PutActor(actor=remote_actor("yan"))])
    written = post(ANA)
    await store.apply(written.ops)
    assert written.object_id is not None
    return written.object_id


async def test_notification_reads_back_with_its_status_and_account(store: Store) -> None:
    object_id = await _setup(store)
    liked = like(ZOE, object_id)
    await store.apply([*liked.ops, _notify("favourite", ZOE, liked.id, object_id, at=T0 + 3)])
    found, bundle = await store.notifications(ANA, PageQuery())
    [n] = found
    assert (n.type, n.account, n.status_id, n.created_at) == (
        "favourite", ZOE, await store.status_for_object(object_id), T0 + 3)
    assert [s.id for s in bundle.statuses] == [n.status_id]
    assert set(bundle.accounts) >= {ZOE, ANA}
    assert (await store.notifications(BOB, PageQuery()))[0] == []


async def test_redelivered_activity_notifies_once(store: Store) -> None:
    object_id = await _setup(store)
    liked = like(ZOE, object_id)
    await store.apply([*liked.ops, _notify("favourite", ZOE, liked.id, object_id)])
    await store.apply([_notify("favourite", ZOE, liked.id, object_id, at=T0 + 60)])
    found, _ = await store.notifications(ANA, PageQuery())
    assert [(n.type, n.created_at) for n in found] == [("favourite", T0)]


async def test_notifications_newest_first_with_paging(store: Store) -> None:
    object_id = await _setup(store)
    for i in range(5):
        await store.apply([_notify("mention", ZOE, f"{ZOE}#m{i}", object_id, at=T0 + i)])
    everything, _ = await store.notifications(ANA, PageQuery())
    ids = [n.id for n in everything]
    assert ids == sorted(ids, reverse=True)
    assert [n.created_at for n in everything] == [T0 + i for i in range(4, -1, -1)]
    page, _ = await store.notifications(ANA, PageQuery(limit=2))
    older, _ = await store.notifications(ANA, PageQuery(max_id=page[-1].id, limit=2))
    newer, _ = await store.notifications(ANA, PageQuery(min_id=ids[-1], limit=2))
    since, _ = await store.notifications(ANA, PageQuery(since_id=ids[2], limit=10))
    assert [n.id for n in page] == ids[:2]
    assert [n.id for n in older] == ids[2:4]
    assert [n.id for n in newer] == ids[2:4]
    assert [n.id for n in since] == ids[:2]


async def test_notifications_filter_by_type_account_and_id(store: Store) -> None:
    object_id = await _setup(store)
    followed = follow(ZOE, ANA)
    liked = like(YAN, object_id)
    await store.apply([*followed.ops, *liked.ops,
                       _notify("follow", ZOE, followed.id),
                       _notify("favourite", YAN, liked.id, object_id),
                       _notify("mention", ZOE, f"{ZOE}#m", object_id)])

    async def types(**filters: object) -> list[str]:
        found, _ = await store.notifications(ANA, PageQuery(), **filters)  # type: ignore[arg-type]
        return [n.type for n in found]

    assert await types() == ["mention", "favourite", "follow"]
    assert await types(types=["follow", "mention"]) == ["mention", "follow"]
    assert await types(exclude_types=["mention"]) == ["favourite", "follow"]
    assert await types(account=ZOE) == ["mention", "follow"]
    everything, _ = await store.notifications(ANA, PageQuery())
    favourite = everything[1].id
    assert await types(notification_id=favourite) == ["favourite"]
    [follow_note] = (await store.notifications(ANA, PageQuery(), types=["follow"]))[0]
    assert follow_note.status_id is None


async def test_notification_about_a_deleted_post_is_hidden(store: Store) -> None:
    object_id = await _setup(store)
    liked = like(ZOE, object_id)
    await store.apply([*liked.ops, _notify("favourite", ZOE, liked.id, object_id),
                       _notify("follow", YAN, f"{YAN}#follow")])
    await store.apply([TombstoneObject(id=object_id, document="{}", deleted_at=T0 + 1)])
    found, _ = await store.notifications(ANA, PageQuery())
    assert [n.type for n in found] == ["follow"]


async def test_notifications_from_muted_or_blocked_accounts_are_hidden(store: Store) -> None:
    object_id = await _setup(store)
    await store.apply([_notify("mention", ZOE, f"{ZOE}#m", object_id),
                       _notify("mention", YAN, f"{YAN}#m", object_id),
                       _notify("mention", BOB, f"{BOB}#m", object_id)])
    await store.apply([PutMute(actor=ANA, target=ZOE, present=True, created_at=T0),
                       *block(ANA, YAN).ops])
    found, _ = await store.notifications(ANA, PageQuery())
    assert [n.account for n in found] == [BOB]


async def test_dismiss_one_then_all(store: Store) -> None:
    object_id = await _setup(store)
    for i in range(3):
        await store.apply([_notify("mention", ZOE, f"{ZOE}#m{i}", object_id)])
    await store.apply([_notify("mention", ZOE, f"{ZOE}#b", object_id, owner=BOB)])
    found, _ = await store.notifications(ANA, PageQuery())
    await store.apply([DismissNotifications(owner=ANA, id=found[1].id)])
    after, _ = await store.notifications(ANA, PageQuery())
    assert [n.id for n in after] == [found[0].id, found[2].id]
    await store.apply([DismissNotifications(owner=BOB, id=found[0].id)])  # not bob's
    assert len((await store.notifications(ANA, PageQuery()))[0]) == 2
    await store.apply([DismissNotifications(owner=ANA)])
    assert (await store.notifications(ANA, PageQuery()))[0] == []
    assert len((await store.notifications(BOB, PageQuery()))[0]) == 1


async def test_a_page_of_notifications_is_filled_past_hidden_ones(store: Store) -> None:
    object_id = await _setup(store)
    await store.apply([_notify("mention", BOB, f"{BOB}#m{i}", object_id) for i in range(2)])
    await store.apply([_notify("mention", ZOE, f"{ZOE}#m{i}", object_id) for i in range(3)])
    await store.apply([PutMute(actor=ANA, target=ZOE, present=True, created_at=T0)])
    found, _ = await store.notifications(ANA, PageQuery(limit=2))
    assert [n.account for n in found] == [BOB, BOB]


async def test_notification_about_an_object_without_status_has_no_status(
        store: Store) -> None:
    await _setup(store)
    await store.apply([_notify("poll", ZOE, f"{ZOE}#closed", "https://remote.example/q/1")])
    [n], bundle = await store.notifications(ANA, PageQuery())
    assert (n.type, n.status_id, bundle.statuses) == ("poll", None, [])
