"""Contract: activities, objects and reactions.

Covers ``PutActivity`` (with and without dedupe), ``PutObject`` (insert, update, no
resurrection), ``TombstoneObject``, ``PutReaction`` / ``DeleteReaction`` and the reads
``get_activity``, ``has_activity``, ``get_object``, ``replies``, ``count_reactions``,
``find_reaction_activity`` and ``find_activity``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from storage.records import DeleteReaction, PutActivity, PutObject, TombstoneObject
from storage.store import AlreadyExists, Store
from tests.storage.builders import (
    PUBLIC,
    T0,
    account,
    activity,
    actor_id,
    boost,
    like,
    post,
)

ZOE = actor_id("zoe", host="remote.example")
ANA = actor_id("ana")


def _only(ops: list[object], kind: type) -> object:
    [found] = [op for op in ops if isinstance(op, kind)]
    return found


async def test_stored_activity_reads_back_with_every_field(store: Store) -> None:
    written = post(ZOE, visibility="followers", mentions=(ANA,))
    put = _only(written.ops, PutActivity)
    assert isinstance(put, PutActivity)
    result = await store.apply(written.ops)
    assert result.applied
    found = await store.get_activity(written.id)
    assert found is not None
    assert found.seq > 0
    assert (found.id, found.type, found.actor, found.object_id, found.local) == (
        put.id, "Create", ZOE, written.object_id, False)
    assert (found.visibility, found.audience, found.created_at) == (
        "followers", put.audience, T0)
    assert json.loads(found.document) == json.loads(put.document)
    assert await store.has_activity(written.id)


async def test_unknown_activity_and_object_read_as_none(store: Store) -> None:
    assert await store.get_activity("https://remote.example/activities/none") is None
    assert not await store.has_activity("https://remote.example/activities/none")
    assert await store.get_object("https://remote.example/objects/none") is None


async def test_later_activities_get_larger_seqs(store: Store) -> None:
    seqs = []
    for _ in range(5):
        written = post(ZOE)
        await store.apply(written.ops)
        found = await store.get_activity(written.id)
        assert found is not None
        seqs.append(found.seq)
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5


async def test_redelivered_activity_with_dedupe_is_skipped_whole(store: Store) -> None:
    first = post(ZOE, content="first")
    assert (await store.apply(first.ops)).applied
    again = [dataclasses.replace(op, document='{"changed": true}') for op in first.ops]
    result = await store.apply(again)
    assert not result.applied
    assert result.job_ids == []
    assert first.object_id is not None
    obj = await store.get_object(first.object_id)
    assert obj is not None
    assert "first" in obj.document  # the PutObject after the duplicate never ran


async def test_duplicate_activity_without_dedupe_raises_already_exists(store: Store) -> None:
    put = activity(ANA, "Like", "https://remote.example/objects/1", dedupe=False)
    await store.apply([put])
    with pytest.raises(AlreadyExists):
        await store.apply([put])


async def test_stored_object_reads_back_with_every_field(store: Store) -> None:
    written = post(ZOE, in_reply_to="https://remote.example/objects/root", tags=("garden",))
    put = _only(written.ops, PutObject)
    assert isinstance(put, PutObject)
    await store.apply(written.ops)
    found = await store.get_object(put.id)
    assert found is not None
    assert found.seq > 0
    assert (found.id, found.type, found.attributed_to, found.in_reply_to, found.context) == (
        put.id, "Note", ZOE, "https://remote.example/objects/root", None)
    assert (found.visibility, found.audience, found.local, found.published) == (
        "public", put.audience, False, put.published)
    assert (found.document, found.created_at, found.deleted_at) == (put.document, T0, None)


async def test_update_replaces_document_and_addressing_but_keeps_identity(
        store: Store) -> None:
    written = post(ZOE, content="draft")
    put = _only(written.ops, PutObject)
    assert isinstance(put, PutObject)
    await store.apply(written.ops)
    before = await store.get_object(put.id)
    edited = dataclasses.replace(put, document=put.document.replace("draft", "final"),
                                 visibility="unlisted", audience=(PUBLIC,),
                                 created_at=T0 + 50)
    await store.apply([activity(ZOE, "Update", put.id), edited])
    after = await store.get_object(put.id)
    assert before is not None
    assert after is not None
    assert "final" in after.document
    assert (after.visibility, after.audience) == ("unlisted", (PUBLIC,))
    assert (after.seq, after.created_at) == (before.seq, before.created_at)


async def test_tombstone_hides_the_post_and_an_update_cannot_resurrect_it(
        store: Store) -> None:
    written = post(ZOE, content="oops")
    put = _only(written.ops, PutObject)
    assert isinstance(put, PutObject)
    await store.apply([*written.ops, *like(ANA, put.id).ops])
    tomb = json.dumps({"id": put.id, "type": "Tombstone", "formerType": "Note"})
    await store.apply([activity(ZOE, "Delete", put.id),
                       TombstoneObject(id=put.id, document=tomb, deleted_at=T0 + 10)])
    found = await store.get_object(put.id)
    assert found is not None
    assert (found.type, found.document, found.deleted_at) == ("Tombstone", tomb, T0 + 10)
    assert await store.count_reactions(put.id, "like") == 0  # reactions go with the post
    await store.apply([activity(ZOE, "Update", put.id), put])
    still = await store.get_object(put.id)
    assert still is not None
    assert (still.type, still.deleted_at) == ("Tombstone", T0 + 10)


async def test_replies_are_live_replies_oldest_first_up_to_limit(store: Store) -> None:
    root = post(ZOE)
    await store.apply(root.ops)
    assert root.object_id is not None
    replies = [post(ANA if i % 2 else ZOE, in_reply_to=root.object_id, created_at=T0 + i)
               for i in range(4)]
    for reply in replies:
        await store.apply(reply.ops)
    await store.apply(post(ZOE, in_reply_to="https://remote.example/objects/other").ops)
    found = await store.replies(root.object_id, 10)
    assert [o.id for o in found] == [r.object_id for r in replies]
    assert [o.id for o in await store.replies(root.object_id, 2)] == [
        r.object_id for r in replies[:2]]
    gone = replies[1].object_id
    assert gone is not None
    await store.apply([TombstoneObject(id=gone, document="{}", deleted_at=T0 + 9)])
    assert gone not in [o.id for o in await store.replies(root.object_id, 10)]


async def test_reactions_count_per_kind_and_undo_removes_one(store: Store) -> None:
    target = post(ANA)
    await store.apply([account("ana"), *target.ops])
    assert target.object_id is not None
    fans = [actor_id(f"fan{i}", host="remote.example") for i in range(3)]
    likes = [like(fan, target.object_id) for fan in fans]
    for written in likes:
        await store.apply(written.ops)
    await store.apply(boost(fans[0], target.object_id).ops)
    assert await store.count_reactions(target.object_id, "like") == 3
    assert await store.count_reactions(target.object_id, "announce") == 1
    assert await store.find_reaction_activity("like", fans[1], target.object_id) == likes[1].id
    await store.apply([activity(fans[1], "Undo", likes[1].id),
                       DeleteReaction(kind="like", actor=fans[1], object_id=target.object_id)])
    assert await store.count_reactions(target.object_id, "like") == 2
    assert await store.find_reaction_activity("like", fans[1], target.object_id) is None


async def test_a_second_like_by_the_same_actor_counts_once(store: Store) -> None:
    target = "https://remote.example/objects/1"
    first = like(ANA, target)
    await store.apply(first.ops)
    await store.apply(like(ANA, target).ops)  # another Like activity for the same post
    assert await store.count_reactions(target, "like") == 1
    assert await store.find_reaction_activity("like", ANA, target) == first.id


async def test_find_activity_returns_the_latest_match_of_actor_type_and_object(
        store: Store) -> None:
    target = "https://remote.example/objects/1"
    older = activity(ANA, "Like", target)
    newer = activity(ANA, "Like", target)
    await store.apply([older])
    await store.apply([newer, activity(ZOE, "Like", target),
                       activity(ANA, "Announce", target)])
    assert await store.find_activity(ANA, "Like", target) == newer.id
    assert await store.find_activity(ANA, "Like", "https://remote.example/objects/2") is None
    assert await store.find_activity(ZOE, "Announce", target) is None
