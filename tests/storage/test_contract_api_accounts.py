"""Contract: accounts as the client API sees them, relationships and keyed lists.

Covers the reads ``api_account_id``, ``api_actor_id``, ``api_accounts`` (with the counts
an Account entity shows, which the engine keeps up to date on every write path),
``api_actor_by_acct``, ``api_search_accounts``, ``api_search_tags``, ``relationships``,
``follow_list`` and ``reactors``; and ``PutMute`` as relationships see it.
"""

from __future__ import annotations

from storage.api import PageQuery, PutMute
from storage.records import (
    DeleteFollow,
    DeleteReaction,
    PutActor,
    SetFollowState,
    TombstoneObject,
)
from storage.store import Store
from tests.storage.builders import (
    T0,
    account,
    actor_id,
    block,
    boost,
    follow,
    like,
    post,
    remote_actor,
)

ANA, BOB = actor_id("ana"), actor_id("bob")


async def test_api_ids_round_trip_and_unknowns_are_none(store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([account("ana"), PutActor(actor=zoe)])
    ana_id = await store.api_account_id(ANA)
    zoe_id = await store.api_account_id(zoe.id)
    assert isinstance(ana_id, int)
    assert isinstance(zoe_id, int)
    assert ana_id != zoe_id
    assert await store.api_actor_id(ana_id) == ANA
    assert await store.api_actor_id(zoe_id) == zoe.id
    assert await store.api_account_id("https://remote.example/users/nobody") is None
    assert await store.api_actor_id(max(ana_id, zoe_id) + 1000) is None


async def test_account_view_of_a_local_member(store: Store) -> None:
    ana = account("ana", manually_approves=True, created_at=T0 - 100)
    await store.apply([ana])
    view = (await store.api_accounts([ANA]))[ANA]
    assert view.id == await store.api_account_id(ANA)
    assert (view.actor, view.local, view.host, view.type, view.username) == (
        ANA, True, "mutual.example", "Person", "ana")
    assert (view.document, view.created_at, view.manually_approves) == (
        ana.actor.document, T0 - 100, True)
    assert (view.statuses_count, view.followers_count, view.following_count,
            view.last_status_at) == (0, 0, 0, None)


async def test_remote_account_locked_flag_comes_from_its_document(store: Store) -> None:
    shy, open_ = remote_actor("shy", manually_approves=True), remote_actor("zoe")
    await store.apply([PutActor(actor=shy), PutActor(actor=open_)])
    views = await store.api_accounts([shy.id, open_.id, "https://remote.example/users/x"])
    assert set(views) == {shy.id, open_.id}
    assert views[shy.id].manually_approves
    assert not views[open_.id].manually_approves
    assert views[shy.id].created_at is None
    assert await store.api_accounts([]) == {}


async def test_counts_follow_posts_boosts_deletes_and_follows(store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([account("ana"), account("bob"), PutActor(actor=zoe)])
    posts = [post(ANA, created_at=T0 + i) for i in range(3)]
    for written in posts:
        await store.apply(written.ops)
    other = post(zoe.id, created_at=T0 + 50)
    await store.apply(other.ops)
    assert other.object_id is not None
    await store.apply(boost(ANA, other.object_id, created_at=T0 + 60).ops)
    await store.apply([*follow(zoe.id, ANA).ops, *follow(BOB, ANA).ops,
                       *follow(ANA, zoe.id).ops])
    await store.apply(follow(actor_id("x", host="remote.example"), ANA, state="pending").ops)
    view = (await store.api_accounts([ANA]))[ANA]
    assert (view.statuses_count, view.followers_count, view.following_count) == (4, 2, 1)
    assert view.last_status_at == T0 + 60
    assert posts[0].object_id is not None
    await store.apply([TombstoneObject(id=posts[0].object_id, document="{}", deleted_at=T0 + 70),
                       DeleteReaction(kind="announce", actor=ANA, object_id=other.object_id),
                       DeleteFollow(follower=BOB, followee=ANA)])
    await store.apply([SetFollowState(follower=actor_id("x", host="remote.example"),
                                      followee=ANA, state="accepted")])
    after = (await store.api_accounts([ANA]))[ANA]
    assert (after.statuses_count, after.followers_count, after.following_count) == (2, 2, 1)


async def test_follow_request_count_is_shown_to_the_account_itself_only(
        store: Store) -> None:
    await store.apply([account("ana", manually_approves=True), account("bob")])
    for i in range(2):
        await store.apply(follow(actor_id(f"r{i}", host="remote.example"), ANA,
                                 state="pending").ops)
    assert (await store.api_accounts([ANA], ANA))[ANA].follow_requests_count == 2
    assert (await store.api_accounts([ANA], BOB))[ANA].follow_requests_count == 0
    assert (await store.api_accounts([ANA]))[ANA].follow_requests_count == 0


async def test_acct_lookup_local_and_remote(store: Store) -> None:
    zoe = remote_actor("Zoe", host="remote.example")
    gone = remote_actor("ghost", gone=True)
    await store.apply([account("ana"), account("instance.actor", kind="application"),
                       PutActor(actor=zoe), PutActor(actor=gone)])
    assert await store.api_actor_by_acct("ana", None) == ANA
    assert await store.api_actor_by_acct("ANA", None) == ANA
    assert await store.api_actor_by_acct("instance.actor", None) is None  # not an account
    assert await store.api_actor_by_acct("zoe", "REMOTE.example") == zoe.id
    assert await store.api_actor_by_acct("ana", "remote.example") is None
    assert await store.api_actor_by_acct("ghost", "remote.example") is None


async def test_account_search_by_prefix_or_name_local_first(store: Store) -> None:
    await store.apply([account("alba", display_name="Alba"), account("bob")])
    remote = [remote_actor("alma", host="b.example"), remote_actor("al", host="a.example"),
              remote_actor("zed", name="Sally Alvarez"), remote_actor("alf", gone=True),
              remote_actor("alpha", type_="Application")]
    await store.apply([PutActor(actor=a) for a in remote])
    found = await store.api_search_accounts("al", limit=10, offset=0, following_of=None)
    assert [v.username for v in found] == ["alba", "al", "alma", "zed"]
    upper = await store.api_search_accounts("AL", limit=10, offset=0, following_of=None)
    assert [v.username for v in upper] == ["alba", "al", "alma", "zed"]
    paged = await store.api_search_accounts("al", limit=2, offset=1, following_of=None)
    assert [v.username for v in paged] == ["al", "alma"]
    on_host = await store.api_search_accounts("@al@b.ex", limit=10, offset=0,
                                              following_of=None)
    assert [v.username for v in on_host] == ["alma"]
    assert await store.api_search_accounts("a%", limit=10, offset=0, following_of=None) == []


async def test_account_search_within_who_one_follows(store: Store) -> None:
    alma, al = remote_actor("alma"), remote_actor("al")
    await store.apply([account("ana"), PutActor(actor=alma), PutActor(actor=al),
                       *follow(ANA, alma.id).ops, *follow(ANA, al.id, state="pending").ops])
    found = await store.api_search_accounts("al", limit=10, offset=0, following_of=ANA)
    assert [v.actor for v in found] == [alma.id]


async def test_tag_search_by_prefix_sorted_distinct(store: Store) -> None:
    for tags in [("gardening", "garlic"), ("gardening",), ("cats",), ("garage",)]:
        await store.apply(post(ANA, tags=tags).ops)
    assert await store.api_search_tags("gar", 10, 0) == ["garage", "gardening", "garlic"]
    assert await store.api_search_tags("gar", 1, 1) == ["gardening"]
    assert await store.api_search_tags("dog", 10, 0) == []


async def test_relationships_report_each_direction(store: Store) -> None:
    zoe, yan, xi = remote_actor("zoe"), remote_actor("yan"), remote_actor("xi")
    await store.apply([account("ana"), *(PutActor(actor=a) for a in (zoe, yan, xi))])
    await store.apply([*follow(ANA, zoe.id).ops, *follow(zoe.id, ANA, state="pending").ops,
                       *follow(ANA, yan.id, state="pending").ops, *follow(yan.id, ANA).ops,
                       *block(xi.id, ANA).ops,
                       PutMute(actor=ANA, target=yan.id, present=True, created_at=T0)])
    views = await store.relationships(ANA, [xi.id, "https://remote.example/users/no", zoe.id,
                                            yan.id])
    assert [v.actor for v in views] == [xi.id, zoe.id, yan.id]  # asked order, unknown left out
    by = {v.actor: v for v in views}
    assert by[zoe.id].id == await store.api_account_id(zoe.id)
    flags = ("following", "requested", "followed_by", "requested_by", "blocking",
             "blocked_by", "muting")
    assert {a: tuple(getattr(v, f) for f in flags) for a, v in by.items()} == {
        zoe.id: (True, False, False, True, False, False, False),
        yan.id: (False, True, True, False, False, False, True),
        xi.id: (False, False, False, False, False, True, False),
    }
    await store.apply([PutMute(actor=ANA, target=yan.id, present=False, created_at=T0)])
    [unmuted] = await store.relationships(ANA, [yan.id])
    assert not unmuted.muting


async def test_follow_list_pages_by_follow_key_in_mastodon_style(store: Store) -> None:
    await store.apply([account("ana")])
    who = [actor_id(f"f{i}", host="remote.example") for i in range(5)]
    for each in who:
        await store.apply(follow(each, ANA).ops)
    await store.apply(follow(actor_id("shy", host="remote.example"), ANA, state="pending").ops)
    page = await store.follow_list(followee=ANA, follower=None, state="accepted",
                                   page=PageQuery(limit=2))
    assert [k.actor for k in page] == [who[4], who[3]]
    assert page[0].key > page[1].key
    older = await store.follow_list(followee=ANA, follower=None, state="accepted",
                                    page=PageQuery(max_id=page[-1].key, limit=2))
    assert [k.actor for k in older] == [who[2], who[1]]
    newer = await store.follow_list(followee=ANA, follower=None, state="accepted",
                                    page=PageQuery(min_id=older[-1].key, limit=2))
    assert [k.actor for k in newer] == [who[3], who[2]]  # right after min_id, newest first
    since = await store.follow_list(followee=ANA, follower=None, state="accepted",
                                    page=PageQuery(since_id=older[-1].key, limit=2))
    assert [k.actor for k in since] == [who[4], who[3]]  # newest first, stops above since_id
    requests = await store.follow_list(followee=ANA, follower=None, state="pending",
                                       page=PageQuery())
    assert [k.actor for k in requests] == [actor_id("shy", host="remote.example")]
    following = await store.follow_list(followee=None, follower=who[0], state="accepted",
                                        page=PageQuery())
    assert [k.actor for k in following] == [ANA]


async def test_reactors_list_who_liked_or_boosted_newest_first(store: Store) -> None:
    target = post(ANA)
    await store.apply(target.ops)
    assert target.object_id is not None
    fans = [actor_id(f"fan{i}", host="remote.example") for i in range(3)]
    for fan in fans:
        await store.apply(like(fan, target.object_id).ops)
    await store.apply(boost(fans[0], target.object_id).ops)
    likers = await store.reactors(target.object_id, "like", PageQuery(limit=10))
    assert [k.actor for k in likers] == fans[::-1]
    first = await store.reactors(target.object_id, "like", PageQuery(limit=2))
    rest = await store.reactors(target.object_id, "like",
                                PageQuery(max_id=first[-1].key, limit=2))
    assert [k.actor for k in rest] == [fans[0]]
    boosters = await store.reactors(target.object_id, "announce", PageQuery())
    assert [k.actor for k in boosters] == [fans[0]]
