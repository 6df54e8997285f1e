"""Contract: statuses as apps see them — ids, boosts, visibility, threads, polls.

Covers the status rows that ``PutObject`` and a boost's ``PutReaction`` derive,
``PutBookmark``, ``PutPollVote`` and ``PutIdempotency``, and the reads ``get_status``,
``status_for_object``, ``reblog_of``, ``api_statuses``, ``thread``, ``poll_voters``,
``poll_tally`` and ``get_idempotency``. Visibility is the engine's job: a status the
viewer may not read is simply absent from what it returns.
"""

from __future__ import annotations

import pytest

from storage.api import PutBookmark, PutIdempotency, PutPollVote
from storage.records import DeleteReaction, PutActor, TombstoneObject
from storage.store import AlreadyExists, Store
from tests.storage.builders import (
    T0,
    Written,
    account,
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


async def _post(store: Store, written: Written) -> tuple[str, int]:
    """Store ``written``; its object id and status id."""
    await store.apply(written.ops)
    assert written.object_id is not None
    status_id = await store.status_for_object(written.object_id)
    assert status_id is not None
    return written.object_id, status_id


async def test_new_post_gets_a_status_row(store: Store) -> None:
    await store.apply([account("ana")])
    object_id, status_id = await _post(store, post(ANA, visibility="unlisted",
                                                   created_at=T0 + 5))
    record = await store.get_status(status_id)
    assert record is not None
    assert (record.id, record.object_id, record.account, record.reblog_activity) == (
        status_id, object_id, ANA, None)
    assert (record.local, record.visibility, record.created_at) == (True, "unlisted", T0 + 5)
    _, later = await _post(store, post(ANA))
    assert later > status_id


async def test_non_status_objects_get_no_status(store: Store) -> None:
    vote = post(ZOE, status=False, in_reply_to="https://mutual.example/objects/poll")
    other = post(ZOE, type_="Collection")
    await store.apply([*vote.ops, *other.ops])
    assert vote.object_id is not None
    assert other.object_id is not None
    assert await store.status_for_object(vote.object_id) is None
    assert await store.status_for_object(other.object_id) is None
    assert await store.get_status(10**9) is None
    assert await store.status_for_object("https://remote.example/objects/none") is None


async def test_redelivered_post_keeps_its_one_status(store: Store) -> None:
    written = post(ZOE)
    object_id, status_id = await _post(store, written)
    await store.apply([written.ops[1]])  # the PutObject again (an Update, a refetch)
    assert await store.status_for_object(object_id) == status_id
    assert [s.id for s in (await store.api_statuses([status_id], None)).statuses] == [
        status_id]


async def test_boost_is_a_status_of_its_own_until_undone(store: Store) -> None:
    await store.apply([account("ana"), PutActor(actor=remote_actor("zoe"))])
    object_id, original = await _post(store, post(ZOE))
    shared = boost(ANA, object_id, created_at=T0 + 9)
    await store.apply(shared.ops)
    reblog = await store.reblog_of(ANA, object_id)
    assert reblog is not None
    assert reblog != original
    record = await store.get_status(reblog)
    assert record is not None
    assert (record.object_id, record.account, record.reblog_activity, record.local,
            record.created_at) == (object_id, ANA, shared.id, True, T0 + 9)
    assert await store.status_for_object(object_id) == original  # still the post's
    bundle = await store.api_statuses([reblog], None)
    [view] = bundle.statuses
    assert (view.id, view.account, view.reblog_activity) == (reblog, ANA, shared.id)
    assert (view.post.status_id, view.post.author, view.post.reblogs_count) == (
        original, ZOE, 1)
    assert set(bundle.accounts) == {ANA, ZOE}
    await store.apply([DeleteReaction(kind="announce", actor=ANA, object_id=object_id)])
    assert await store.reblog_of(ANA, object_id) is None
    assert await store.get_status(reblog) is None
    assert await store.reblog_of(BOB, object_id) is None


async def test_api_statuses_keeps_asked_order_and_drops_unknown_and_deleted(
        store: Store) -> None:
    ids = [(await _post(store, post(ZOE)))[1] for _ in range(3)]
    gone_object, gone = await _post(store, post(ZOE))
    await store.apply([TombstoneObject(id=gone_object, document="{}", deleted_at=T0)])
    bundle = await store.api_statuses([ids[2], gone, ids[0], 10**9, ids[1]], None)
    assert [s.id for s in bundle.statuses] == [ids[2], ids[0], ids[1]]
    assert (await store.api_statuses([], None)).statuses == []


async def test_post_view_counts_and_the_viewers_own_flags(store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([account("ana"), account("bob"), PutActor(actor=zoe)])
    object_id, status_id = await _post(store, post(ANA, mentions=(zoe.id,)))
    await store.apply([*like(BOB, object_id).ops, *like(zoe.id, object_id).ops,
                       *boost(BOB, object_id).ops,
                       PutBookmark(owner=BOB, status_id=status_id, present=True,
                                   created_at=T0)])
    reply_object, reply_id = await _post(store, post(zoe.id, in_reply_to=object_id))
    await _post(store, post(BOB, in_reply_to=object_id))
    [as_bob] = (await store.api_statuses([status_id], BOB)).statuses
    p = as_bob.post
    assert (p.object_id, p.type, p.author, p.visibility, p.local) == (
        object_id, "Note", ANA, "public", True)
    assert (p.replies_count, p.favourites_count, p.reblogs_count) == (2, 2, 1)
    assert (p.favourited, p.reblogged, p.bookmarked) == (True, True, True)
    [as_ana] = (await store.api_statuses([status_id], ANA)).statuses
    assert (as_ana.post.favourited, as_ana.post.reblogged, as_ana.post.bookmarked) == (
        False, False, False)
    await store.apply([PutBookmark(owner=BOB, status_id=status_id, present=False,
                                   created_at=T0)])
    [unmarked] = (await store.api_statuses([status_id], BOB)).statuses
    assert not unmarked.post.bookmarked
    bundle = await store.api_statuses([reply_id], None)
    [reply] = bundle.statuses
    assert (reply.post.in_reply_to, reply.post.in_reply_to_id,
            reply.post.in_reply_to_author) == (object_id, status_id, ANA)
    assert set(bundle.accounts) == {zoe.id, ANA}  # the author and the one replied to
    assert reply_object != object_id


async def test_bundle_names_mentioned_accounts_that_are_known(store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([account("ana"), PutActor(actor=zoe)])
    _, status_id = await _post(store, post(ANA, mentions=(zoe.id, "https://x.example/u/q")))
    bundle = await store.api_statuses([status_id], None)
    assert set(bundle.accounts) == {ANA, zoe.id}
    assert bundle.accounts[zoe.id].id == await store.api_account_id(zoe.id)


async def test_followers_only_post_is_read_by_author_and_accepted_followers(
        store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([account("ana"), account("bob"), account("cy"), PutActor(actor=zoe)])
    await store.apply([*follow(ANA, zoe.id).ops,
                       *follow(BOB, zoe.id, state="pending").ops])
    _, status_id = await _post(store, post(zoe.id, visibility="followers"))

    async def sees(viewer: str | None) -> bool:
        return bool((await store.api_statuses([status_id], viewer)).statuses)

    assert await sees(zoe.id)
    assert await sees(ANA)
    assert not await sees(BOB)  # a request is not a follow
    assert not await sees(actor_id("cy"))
    assert not await sees(None)


async def test_direct_post_is_read_by_those_it_names(store: Store) -> None:
    await store.apply([account("ana"), account("bob"), account("cy")])
    _, status_id = await _post(store, post(ZOE, visibility="direct", mentions=(ANA, BOB)))
    for viewer, expected in [(ANA, True), (BOB, True), (actor_id("cy"), False),
                             (None, False), (ZOE, True)]:
        found = (await store.api_statuses([status_id], viewer)).statuses
        assert bool(found) is expected, viewer


async def test_post_to_a_group_is_read_by_its_members(store: Store) -> None:
    gid = actor_id("gardeners", kind="group")
    await store.apply([account("ana"), account("bob"), *group("gardeners", owner=ANA)])
    _, status_id = await _post(store, post(ZOE, visibility="direct", mentions=(gid,),
                                           group=gid))
    assert (await store.api_statuses([status_id], ANA)).statuses
    assert not (await store.api_statuses([status_id], BOB)).statuses


async def test_blocks_hide_statuses_both_ways(store: Store) -> None:
    await store.apply([account("ana"), account("bob")])
    _, theirs = await _post(store, post(ZOE))
    _, mine = await _post(store, post(BOB))
    await store.apply([*block(ANA, ZOE).ops, *block(BOB, ANA).ops])
    assert (await store.api_statuses([theirs, mine], ANA)).statuses == []
    assert len((await store.api_statuses([theirs, mine], None)).statuses) == 2


async def test_thread_lists_ancestors_then_descendants_depth_first(store: Store) -> None:
    await store.apply([account("ana"), account("bob")])
    root, root_id = await _post(store, post(ANA))
    b, b_id = await _post(store, post(BOB, in_reply_to=root))
    c, c_id = await _post(store, post(ZOE, in_reply_to=b))
    _, d_id = await _post(store, post(ANA, in_reply_to=root))
    _, e_id = await _post(store, post(BOB, in_reply_to=c))
    _, secret_id = await _post(store, post(ZOE, in_reply_to=b, visibility="direct",
                                           mentions=(BOB,)))
    ancestors, descendants, bundle = await store.thread(c, None)
    assert ancestors == [root_id, b_id]
    assert descendants == [e_id]
    assert {s.id for s in bundle.statuses} == {root_id, b_id, e_id}
    ancestors, descendants, bundle = await store.thread(root, None)
    assert ancestors == []
    assert descendants == [b_id, c_id, e_id, secret_id, d_id]
    assert secret_id not in {s.id for s in bundle.statuses}  # listed, but not for them
    _, _, as_bob = await store.thread(root, BOB)
    assert secret_id in {s.id for s in as_bob.statuses}


async def test_poll_votes_add_up_or_replace(store: Store) -> None:
    await store.apply([account("ana")])
    poll, status_id = await _post(store, post(ANA, type_="Question", extra={
        "anyOf": [{"type": "Note", "name": n} for n in ("red", "blue", "green")]}))
    voters = [actor_id(f"v{i}", host="remote.example") for i in range(3)]

    def vote(voter: str, choices: tuple[str, ...], replace: bool) -> PutPollVote:
        return PutPollVote(poll=poll, voter=voter, choices=choices, replace=replace,
                           activity_id=f"{voter}#v{len(choices)}{replace}", created_at=T0)

    await store.apply([vote(voters[0], ("red",), False), vote(voters[0], ("blue",), False),
                       vote(voters[1], ("red", "green"), True)])
    await store.apply([vote(voters[1], ("blue",), True), vote(voters[2], ("blue",), False)])
    await store.apply([vote(voters[2], ("blue",), False)])  # said twice: counted once
    assert await store.poll_tally(poll) == ({"red": 1, "blue": 3}, 3)
    assert sorted(await store.poll_voters(poll)) == sorted(voters)
    [as_voter] = (await store.api_statuses([status_id], voters[0])).statuses
    assert sorted(as_voter.post.own_votes) == ["blue", "red"]
    assert dict(as_voter.post.poll_counts or {}) == {"red": 1, "blue": 3}
    assert as_voter.post.poll_voters == 3
    assert await store.poll_tally("https://mutual.example/objects/none") == ({}, 0)
    assert await store.poll_voters("https://mutual.example/objects/none") == []


async def test_remote_poll_shows_no_local_counts(store: Store) -> None:
    poll, status_id = await _post(store, post(ZOE, type_="Question", extra={
        "oneOf": [{"type": "Note", "name": "yes"}]}))
    await store.apply([PutPollVote(poll=poll, voter=ANA, choices=("yes",), replace=True,
                                   activity_id=f"{ANA}#vote", created_at=T0)])
    [view] = (await store.api_statuses([status_id], ANA)).statuses
    assert (view.post.own_votes, view.post.poll_counts, view.post.poll_voters) == (
        ("yes",), None, None)


async def test_idempotency_key_is_remembered_per_account_for_a_while(store: Store) -> None:
    first = "https://mutual.example/objects/1"
    await store.apply([PutIdempotency(account=ANA, key="k1", status_object=first,
                                      created_at=T0)])
    assert await store.get_idempotency(ANA, "k1", T0 - 3600) == first
    assert await store.get_idempotency(ANA, "k1", T0) == first  # the bound is inclusive
    assert await store.get_idempotency(ANA, "k1", T0 + 1) is None  # older than asked
    assert await store.get_idempotency(BOB, "k1", T0 - 3600) is None
    second = "https://mutual.example/objects/2"
    await store.apply([PutIdempotency(account=ANA, key="k1", status_object=second,
                                      created_at=T0 + 7200)])
    assert await store.get_idempotency(ANA, "k1", T0 + 3600) == second


async def test_an_idempotency_claim_fails_while_the_key_is_fresh(store: Store) -> None:
    first = "https://mutual.example/objects/1"
    await store.apply([PutIdempotency(account=ANA, key="k1", status_object=first,
                                      created_at=T0, unless_since=T0 - 3600)])
    with pytest.raises(AlreadyExists):
        await store.apply([PutIdempotency(account=ANA, key="k1", status_object="other",
                                          created_at=T0 + 10, unless_since=T0 + 10 - 3600)])
    assert await store.get_idempotency(ANA, "k1", T0 - 3600) == first
    # Once it is older than the window, the key may be claimed again.
    second = "https://mutual.example/objects/2"
    await store.apply([PutIdempotency(account=ANA, key="k1", status_object=second,
                                      created_at=T0 + 7200, unless_since=T0 + 3600)])
    assert await store.get_idempotency(ANA, "k1", T0 + 3600) == second
