"""Contract: timelines — home, public, tag, account, group, bookmarks, favourites.

Covers ``AddToHome``, ``AddToInbox`` as it feeds a home, ``PutMute``, ``PutBookmark``
and the read ``timeline`` with its filters and Mastodon paging (``max_id``,
``since_id``, ``min_id``): every page comes back newest first.
"""

from __future__ import annotations

from storage.api import AddToHome, PageQuery, PutBookmark, PutMute, TimelineQuery
from storage.records import AddToInbox, PutActor, TombstoneObject
from storage.store import Store
from tests.storage.builders import (
    T0,
    Written,
    account,
    activity,
    actor_id,
    block,
    boost,
    follow,
    group,
    like,
    post,
    remote_actor,
)

ANA, BOB = actor_id("ana"), actor_id("bob")
ZOE = actor_id("zoe", host="remote.example")
PAGE = PageQuery(limit=40)


async def _ids(store: Store, query: TimelineQuery, viewer: str | None,
               page: PageQuery = PAGE) -> list[int]:
    return [s.id for s in (await store.timeline(query, page, viewer)).statuses]


async def _status(store: Store, written: Written) -> int:
    await store.apply(written.ops)
    assert written.object_id is not None
    status_id = await store.status_for_object(written.object_id)
    assert status_id is not None
    return status_id


async def test_home_holds_own_posts_and_what_the_inbox_delivered(store: Store) -> None:
    await store.apply([account("ana"), account("bob"), PutActor(actor=remote_actor("zoe"))])
    own = await _status(store, post(ANA))  # the author's AddToHome
    delivered = post(ZOE)
    theirs = await _status(store, delivered)
    await store.apply([AddToInbox(owner=ANA, activity_id=delivered.id)])
    not_mine = await _status(store, post(ZOE))  # stored, never delivered to ana
    shared = boost(ZOE, delivered.object_id or "")
    await store.apply([*shared.ops, AddToInbox(owner=ANA, activity_id=shared.id)])
    reblog = await store.reblog_of(ZOE, delivered.object_id or "")
    home = await _ids(store, TimelineQuery(kind="home"), ANA)
    assert home == [reblog, theirs, own]
    assert not_mine not in home
    assert await _ids(store, TimelineQuery(kind="home"), BOB) == []


async def test_home_entry_added_twice_shows_once_and_likes_add_nothing(store: Store) -> None:
    await store.apply([account("ana")])
    written = post(ZOE)
    status_id = await _status(store, written)
    liked = like(ZOE, written.object_id or "")
    await store.apply([AddToHome(owner=ANA, activity_id=written.id),
                       AddToHome(owner=ANA, activity_id=written.id),
                       *liked.ops, AddToInbox(owner=ANA, activity_id=liked.id)])
    assert await _ids(store, TimelineQuery(kind="home"), ANA) == [status_id]


async def test_group_relay_puts_the_relayed_post_in_the_home(store: Store) -> None:
    """FEP-1b12: a group's Announce of a member's Create is a relay, not a boost."""
    await store.apply([account("ana")])
    written = post(ZOE)
    status_id = await _status(store, written)
    relay = activity("https://groups.example/users/g", "Announce", written.id,
                     embedded={"id": written.id, "type": "Create", "actor": ZOE,
                               "object": {"id": written.object_id, "type": "Note"}})
    await store.apply([relay, AddToInbox(owner=ANA, activity_id=relay.id)])
    assert await _ids(store, TimelineQuery(kind="home"), ANA) == [status_id]


async def test_home_paging_max_since_and_min(store: Store) -> None:
    await store.apply([account("ana")])
    ids = [await _status(store, post(ANA, created_at=T0 + i)) for i in range(6)]
    home = TimelineQuery(kind="home")
    first = await _ids(store, home, ANA, PageQuery(limit=2))
    assert first == [ids[5], ids[4]]
    assert await _ids(store, home, ANA, PageQuery(max_id=ids[4], limit=2)) == [ids[3], ids[2]]
    assert await _ids(store, home, ANA, PageQuery(since_id=ids[1], limit=2)) == [
        ids[5], ids[4]]
    assert await _ids(store, home, ANA, PageQuery(min_id=ids[1], limit=2)) == [
        ids[3], ids[2]]
    assert await _ids(store, home, ANA, PageQuery(max_id=ids[5], since_id=ids[2],
                                                  limit=10)) == [ids[4], ids[3]]
    assert await _ids(store, home, ANA, PageQuery(max_id=ids[5], min_id=ids[1],
                                                  limit=2)) == [ids[3], ids[2]]


async def test_mutes_and_blocks_hide_from_home_and_public(store: Store) -> None:
    await store.apply([account("ana"), PutActor(actor=remote_actor("zoe")),
                       PutActor(actor=remote_actor("yan"))])
    yan = actor_id("yan", host="remote.example")
    zoe_post, yan_post = post(ZOE), post(yan)
    z, y = await _status(store, zoe_post), await _status(store, yan_post)
    await store.apply([AddToInbox(owner=ANA, activity_id=zoe_post.id),
                       AddToInbox(owner=ANA, activity_id=yan_post.id)])
    await store.apply([PutMute(actor=ANA, target=ZOE, present=True, created_at=T0),
                       *block(ANA, yan).ops])
    assert await _ids(store, TimelineQuery(kind="home"), ANA) == []
    assert await _ids(store, TimelineQuery(kind="public"), ANA) == []
    assert await _ids(store, TimelineQuery(kind="public"), None) == [y, z]
    await store.apply([PutMute(actor=ANA, target=ZOE, present=False, created_at=T0)])
    assert await _ids(store, TimelineQuery(kind="home"), ANA) == [z]


async def test_public_timeline_is_public_posts_with_local_remote_media_filters(
        store: Store) -> None:
    await store.apply([account("ana")])
    local = await _status(store, post(ANA))
    remote = await _status(store, post(ZOE))
    with_media = await _status(store, post(ZOE, media=True))
    unlisted = await _status(store, post(ANA, visibility="unlisted"))
    await store.apply(boost(ANA, post(ZOE).object_id or "").ops)  # a boost: not listed
    gone = post(ANA)
    deleted = await _status(store, gone)
    await store.apply([TombstoneObject(id=gone.object_id or "", document="{}",
                                       deleted_at=T0)])
    public = await _ids(store, TimelineQuery(kind="public"), None)
    assert public == [with_media, remote, local]
    assert unlisted not in public
    assert deleted not in public
    assert await _ids(store, TimelineQuery(kind="public", local=True), None) == [local]
    assert await _ids(store, TimelineQuery(kind="public", remote=True), None) == [
        with_media, remote]
    assert await _ids(store, TimelineQuery(kind="public", only_media=True), None) == [
        with_media]


async def test_tag_timeline_lists_public_posts_with_the_tag(store: Store) -> None:
    first = await _status(store, post(ZOE, tags=("gardening",)))
    await _status(store, post(ZOE, tags=("cats",)))
    second = await _status(store, post(ANA, tags=("gardening", "spring")))
    await _status(store, post(ANA, tags=("gardening",), visibility="followers"))
    tagged = TimelineQuery(kind="tag", target="gardening")
    assert await _ids(store, tagged, None) == [second, first]
    assert await _ids(store, TimelineQuery(kind="tag", target="spring", local=True),
                      None) == [second]


async def test_account_timeline_with_reply_reblog_and_tag_filters(store: Store) -> None:
    await store.apply([account("ana"), PutActor(actor=remote_actor("zoe"))])
    root = post(ANA, tags=("art",))
    own = await _status(store, root)
    self_reply = await _status(store, post(ANA, in_reply_to=root.object_id))
    theirs = post(ZOE)
    await _status(store, theirs)
    reply_to_other = await _status(store, post(ANA, in_reply_to=theirs.object_id))
    await store.apply(boost(ANA, theirs.object_id or "").ops)
    reblog = await store.reblog_of(ANA, theirs.object_id or "")
    private = await _status(store, post(ANA, visibility="followers"))
    everything = TimelineQuery(kind="account", target=ANA)
    assert await _ids(store, everything, None) == [reblog, reply_to_other, self_reply, own]
    assert await _ids(store, everything, ANA) == [private, reblog, reply_to_other,
                                                  self_reply, own]
    no_replies = TimelineQuery(kind="account", target=ANA, exclude_replies=True)
    assert await _ids(store, no_replies, None) == [reblog, self_reply, own]
    no_boosts = TimelineQuery(kind="account", target=ANA, exclude_reblogs=True)
    assert await _ids(store, no_boosts, None) == [reply_to_other, self_reply, own]
    art = TimelineQuery(kind="account", target=ANA, tagged="art")
    assert await _ids(store, art, None) == [own]


async def test_followers_only_boost_is_for_the_boosters_followers(store: Store) -> None:
    await store.apply([account("ana"), account("bob"), account("cy"),
                       PutActor(actor=remote_actor("zoe"))])
    await store.apply(follow(BOB, ANA).ops)
    target = post(ZOE)
    await _status(store, target)
    await store.apply(boost(ANA, target.object_id or "", visibility="followers").ops)
    reblog = await store.reblog_of(ANA, target.object_id or "")
    query = TimelineQuery(kind="account", target=ANA)
    assert await _ids(store, query, BOB) == [reblog]
    assert await _ids(store, query, actor_id("cy")) == []
    assert await _ids(store, query, None) == []


async def test_group_timeline_lists_posts_addressed_to_the_group(store: Store) -> None:
    gid = actor_id("gardeners", kind="group")
    await store.apply([account("ana"), account("bob"), *group("gardeners", owner=ANA)])
    public = await _status(store, post(ZOE, group=gid))
    members_only = await _status(store, post(ANA, visibility="direct", mentions=(gid,),
                                             group=gid))
    await _status(store, post(ZOE))
    query = TimelineQuery(kind="group", target=gid)
    assert await _ids(store, query, ANA) == [members_only, public]
    assert await _ids(store, query, BOB) == [public]


async def test_bookmarks_are_paged_by_when_they_were_made(store: Store) -> None:
    await store.apply([account("ana")])
    older, newer = await _status(store, post(ZOE)), await _status(store, post(ZOE))
    await store.apply([PutBookmark(owner=ANA, status_id=newer, present=True, created_at=T0)])
    await store.apply([PutBookmark(owner=ANA, status_id=older, present=True, created_at=T0)])
    page = await store.timeline(TimelineQuery(kind="bookmarks"), PAGE, ANA)
    assert [s.id for s in page.statuses] == [older, newer]  # last bookmarked first
    assert page.statuses[0].key > page.statuses[1].key
    rest = await _ids(store, TimelineQuery(kind="bookmarks"),
                      ANA, PageQuery(max_id=page.statuses[0].key))
    assert rest == [newer]
    await store.apply([PutBookmark(owner=ANA, status_id=older, present=False, created_at=T0)])
    assert await _ids(store, TimelineQuery(kind="bookmarks"), ANA) == [newer]
    assert await _ids(store, TimelineQuery(kind="bookmarks"), BOB) == []


async def test_favourites_are_paged_by_when_they_were_liked(store: Store) -> None:
    await store.apply([account("ana")])
    first, second = post(ZOE), post(ZOE)
    a, b = await _status(store, first), await _status(store, second)
    await store.apply(like(ANA, second.object_id or "").ops)
    await store.apply(like(ANA, first.object_id or "").ops)
    await store.apply(boost(ANA, second.object_id or "").ops)  # a boost is no favourite
    page = await store.timeline(TimelineQuery(kind="favourites"), PAGE, ANA)
    assert [s.id for s in page.statuses] == [a, b]
    assert [s.key for s in page.statuses] == sorted((s.key for s in page.statuses),
                                                    reverse=True)
    assert await _ids(store, TimelineQuery(kind="favourites"), BOB) == []


async def test_a_page_is_filled_with_what_the_viewer_may_see(store: Store) -> None:
    """Visibility is applied before the limit: hidden statuses never shorten a page."""
    await store.apply([account("ana")])
    public = [await _status(store, post(ANA)) for _ in range(2)]
    for _ in range(3):
        await _status(store, post(ANA, visibility="followers"))
    page = await _ids(store, TimelineQuery(kind="account", target=ANA), None,
                      PageQuery(limit=2))
    assert page == public[::-1]


async def test_media_and_group_are_read_from_the_document_as_sent(store: Store) -> None:
    """``attachment`` may be one object or a list (AS2 §4.1); ``audience`` names the
    group only when it is one id."""
    gid = actor_id("gardeners", kind="group")
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    single = await _status(store, post(ZOE, extra={"attachment": {
        "type": "Image", "url": "https://remote.example/a.png"}}))
    await _status(store, post(ZOE, extra={"attachment": []}))
    listed = await _status(store, post(ZOE, extra={"audience": [gid]}))
    addressed = await _status(store, post(ZOE, group=gid))
    assert await _ids(store, TimelineQuery(kind="public", only_media=True), None) == [single]
    group_timeline = await _ids(store, TimelineQuery(kind="group", target=gid), ANA)
    assert group_timeline == [addressed]
    assert listed not in group_timeline


async def test_thread_of_an_unknown_post_is_empty(store: Store) -> None:
    ancestors, descendants, bundle = await store.thread(
        "https://remote.example/objects/none", None)
    assert (ancestors, descendants, bundle.statuses) == ([], [], [])
