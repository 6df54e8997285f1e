"""Contract: the social graph — follows, blocks and domain blocks.

Covers ``PutFollow``, ``SetFollowState``, ``DeleteFollow``, ``PutBlock``,
``DeleteBlock`` and ``SetDomainBlock`` and the reads ``get_follow``,
``local_followers``, ``remote_follower_inboxes``, ``is_blocked``,
``is_domain_blocked`` and ``blocked_domains``.
"""

from __future__ import annotations

from storage.records import (
    DeleteBlock,
    DeleteFollow,
    PutActor,
    PutFollow,
    SetDomainBlock,
    SetFollowState,
)
from storage.store import Store
from tests.storage.builders import T0, account, actor_id, block, follow, remote_actor

ANA = actor_id("ana")
BOB = actor_id("bob")


async def test_follow_reads_back_and_accept_changes_its_state(store: Store) -> None:
    zoe = remote_actor("zoe")
    written = follow(zoe.id, ANA, state="pending", created_at=T0 + 3)
    await store.apply([account("ana", manually_approves=True), PutActor(actor=zoe),
                       *written.ops])
    found = await store.get_follow(zoe.id, ANA)
    assert found is not None
    assert (found.follower, found.followee, found.activity_id, found.state, found.created_at
            ) == (zoe.id, ANA, written.id, "pending", T0 + 3)
    await store.apply([SetFollowState(follower=zoe.id, followee=ANA, state="accepted")])
    accepted = await store.get_follow(zoe.id, ANA)
    assert accepted is not None
    assert accepted.state == "accepted"
    assert await store.get_follow(ANA, zoe.id) is None  # a follow has a direction


async def test_a_repeated_follow_keeps_an_accepted_follow_accepted(store: Store) -> None:
    """A Follow sent again (a client retrying) must not turn a follower back into a
    request; it does record the newest Follow's id, which a later Undo names."""
    zoe = remote_actor("zoe").id
    await store.apply(follow(zoe, ANA).ops)
    again = follow(zoe, ANA, state="pending")
    await store.apply(again.ops)
    found = await store.get_follow(zoe, ANA)
    assert found is not None
    assert (found.state, found.activity_id) == ("accepted", again.id)


async def test_a_follow_request_repeated_as_accepted_becomes_accepted(store: Store) -> None:
    zoe = remote_actor("zoe").id
    await store.apply([account("ana")])
    await store.apply(follow(zoe, ANA, state="pending").ops)
    assert (await store.api_accounts([ANA]))[ANA].followers_count == 0
    await store.apply(follow(zoe, ANA, state="accepted").ops)
    found = await store.get_follow(zoe, ANA)
    assert found is not None
    assert found.state == "accepted"
    assert (await store.api_accounts([ANA]))[ANA].followers_count == 1


async def test_unfollow_deletes_the_follow(store: Store) -> None:
    zoe = remote_actor("zoe").id
    await store.apply(follow(zoe, ANA).ops)
    await store.apply([DeleteFollow(follower=zoe, followee=ANA)])
    assert await store.get_follow(zoe, ANA) is None
    await store.apply([DeleteFollow(follower=zoe, followee=ANA)])  # twice: still nothing


async def test_local_followers_are_the_accepted_local_ones(store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([account("ana"), account("bob"), account("cy"), PutActor(actor=zoe)])
    group = actor_id("gardeners", kind="group")
    await store.apply([*follow(ANA, group).ops, *follow(actor_id("cy"), group,
                                                        state="pending").ops,
                       *follow(zoe.id, group).ops, *follow(BOB, group).ops])
    assert sorted(await store.local_followers(group)) == sorted([ANA, BOB])
    assert await store.local_followers(actor_id("nobody")) == []


async def test_remote_follower_inboxes_are_shared_inboxes_once_per_server(
        store: Store) -> None:
    """One delivery per shared inbox, not per follower (DESIGN §4); a server with no
    shared inbox gets the personal inbox; a gone actor gets nothing."""
    on_a = [remote_actor(f"a{i}", host="a.example") for i in range(3)]
    lonely = remote_actor("solo", host="b.example", shared_inbox=False)
    gone = remote_actor("ghost", host="c.example")
    pending = remote_actor("shy", host="d.example")
    await store.apply([account("ana"), account("bob"),
                       *(PutActor(actor=a) for a in [*on_a, lonely, gone, pending])])
    for who in [*on_a, lonely, gone]:
        await store.apply(follow(who.id, ANA).ops)
    await store.apply(follow(pending.id, ANA, state="pending").ops)
    await store.apply(follow(BOB, ANA).ops)  # local: delivered in-process, not here
    await store.apply([PutActor(actor=remote_actor("ghost", host="c.example", gone=True))])
    inboxes = await store.remote_follower_inboxes(ANA)
    assert sorted(inboxes) == ["https://a.example/inbox", lonely.inbox]


async def test_block_is_directional_and_ends_follows_both_ways(store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([account("ana"), PutActor(actor=zoe), *follow(zoe.id, ANA).ops,
                       *follow(ANA, zoe.id).ops])
    assert (await store.api_accounts([ANA]))[ANA].followers_count == 1
    await store.apply(block(ANA, zoe.id).ops)
    assert await store.is_blocked(ANA, zoe.id)
    view = (await store.api_accounts([ANA]))[ANA]
    assert (view.followers_count, view.following_count) == (0, 0)
    assert not await store.is_blocked(zoe.id, ANA)
    assert await store.get_follow(zoe.id, ANA) is None
    assert await store.get_follow(ANA, zoe.id) is None
    await store.apply(block(ANA, zoe.id).ops)  # blocking twice is harmless
    await store.apply([DeleteBlock(actor=ANA, target=zoe.id)])
    assert not await store.is_blocked(ANA, zoe.id)


async def test_domain_block_lists_sorted_and_unblock_removes(store: Store) -> None:
    assert await store.blocked_domains() == []
    await store.apply([SetDomainBlock(domain="spam.example", blocked=True, created_at=T0),
                       SetDomainBlock(domain="abuse.example", blocked=True, created_at=T0)])
    await store.apply([SetDomainBlock(domain="spam.example", blocked=True, created_at=T0)])
    assert await store.blocked_domains() == ["abuse.example", "spam.example"]
    assert await store.is_domain_blocked("spam.example")
    assert await store.is_domain_blocked("SPAM.example")  # hosts compare lowercased
    assert not await store.is_domain_blocked("ok.example")
    await store.apply([SetDomainBlock(domain="spam.example", blocked=False, created_at=T0)])
    assert await store.blocked_domains() == ["abuse.example"]
    assert not await store.is_domain_blocked("spam.example")


async def test_domain_block_ends_follows_with_that_domain_both_ways(store: Store) -> None:
    spam = remote_actor("bot", host="spam.example")
    fine = remote_actor("zoe", host="ok.example")
    await store.apply([account("ana"), PutActor(actor=spam), PutActor(actor=fine)])
    await store.apply([*follow(spam.id, ANA).ops, *follow(ANA, spam.id).ops,
                       *follow(fine.id, ANA).ops])
    await store.apply([SetDomainBlock(domain="spam.example", blocked=True, created_at=T0)])
    assert await store.get_follow(spam.id, ANA) is None
    assert await store.get_follow(ANA, spam.id) is None
    assert await store.get_follow(fine.id, ANA) is not None


async def test_put_follow_of_unknown_actors_is_stored(store: Store) -> None:
    """The graph holds ids, not references: a follow can name an actor not fetched yet
    (our member follows someone whose document arrives later)."""
    await store.apply([PutFollow(follower=ANA, followee="https://far.example/users/x",
                                 activity_id=f"{ANA}#f", state="pending", created_at=T0)])
    assert await store.get_follow(ANA, "https://far.example/users/x") is not None
