"""Contract: ``apply`` is one transaction, and inbox dedupe skips a whole list.

Every kind of operation is checked for all-or-nothing in test_contract_atomicity.py;
these are the rules about lists as such: where a failure sits does not matter, a
deduplicating ``PutActivity`` whose id is known skips the *whole* list silently
(``applied=False``), one without dedupe fails it, and a failed list leaves no trace
that would make its redelivery look like a duplicate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from storage.records import AddToInbox, Op, PutActivity, SetMeta
from storage.store import AlreadyExists, Store
from tests.storage.builders import account, activity, actor_id, delivery, post

if TYPE_CHECKING:  # a type only: pytest provides the fixture itself
    from tests.storage.conftest import OpenStore

ANA = actor_id("ana")
ZOE = actor_id("zoe", host="remote.example")


def failing_op() -> Op:
    """An operation that fails (ana exists already) with the shared AlreadyExists."""
    return account("ana")


async def test_failure_first_in_the_list_stops_the_rest(store: Store) -> None:
    await store.apply([account("ana")])
    with pytest.raises(AlreadyExists):
        await store.apply([failing_op(), SetMeta(key="k", value="v"), delivery()])
    assert await store.get_meta("k") is None
    assert await store.count_jobs() == 0


async def test_known_activity_with_dedupe_skips_the_whole_list(store: Store) -> None:
    await store.apply([account("ana")])
    first = post(ZOE)
    await store.apply([*first.ops, AddToInbox(owner=ANA, activity_id=first.id)])
    again = await store.apply([*first.ops, AddToInbox(owner=ANA, activity_id=first.id),
                               SetMeta(key="after", value="x"), delivery()])
    assert (again.applied, again.job_ids) == (False, [])
    assert await store.get_meta("after") is None
    assert await store.count_jobs() == 0
    assert (await store.inbox_page(ANA, None, 10)).total == 1


async def test_dedupe_duplicate_later_in_the_list_undoes_what_came_before(
        store: Store) -> None:
    """The skip is of the whole list, not of what follows the duplicate."""
    known = activity(ZOE, "Like", "https://mutual.example/objects/1")
    await store.apply([known])
    result = await store.apply([SetMeta(key="before", value="x"), delivery(), known])
    assert not result.applied
    assert await store.get_meta("before") is None
    assert await store.count_jobs() == 0


async def test_known_activity_without_dedupe_fails_and_rolls_back(store: Store) -> None:
    known = activity(ANA, "Like", "https://remote.example/objects/1", dedupe=False)
    await store.apply([known])
    with pytest.raises(AlreadyExists):
        await store.apply([SetMeta(key="before", value="x"), known, delivery()])
    assert await store.get_meta("before") is None
    assert await store.count_jobs() == 0


async def test_a_failed_list_does_not_make_its_redelivery_a_duplicate(store: Store) -> None:
    """A failing list does not mark its activity as seen: its redelivery applies."""
    await store.apply([account("ana")])
    written = post(ZOE)
    with pytest.raises(AlreadyExists):
        await store.apply([*written.ops, SetMeta(key="k", value="v"), failing_op()])
    assert not await store.has_activity(written.id)
    assert (await store.apply(written.ops)).applied
    assert await store.has_activity(written.id)


async def test_empty_list_applies_nothing_and_succeeds(store: Store) -> None:
    result = await store.apply([])
    assert (result.applied, result.job_ids) == (True, [])


async def test_job_ids_follow_the_order_of_the_enqueue_ops(store: Store) -> None:
    result = await store.apply([delivery("https://a.example/inbox"), SetMeta(key="k", value="v"),
                                delivery("https://b.example/inbox")])
    claimed = await store.claim_jobs(["deliver"], 2e9, 30, 10)
    hosts = {job.id: job.host for job in claimed}
    assert [hosts[i] for i in result.job_ids] == ["a.example", "b.example"]


async def test_apply_takes_any_sequence_of_ops(store: Store) -> None:
    """``Sequence[Op]``: a tuple works as well as a list."""
    ops: tuple[Op, ...] = (activity(ZOE, "Like", "https://mutual.example/objects/2"),)
    await store.apply(ops)
    put = ops[0]
    assert isinstance(put, PutActivity)
    assert await store.has_activity(put.id)


async def test_committed_writes_survive_close_and_are_seen_by_a_new_store(
        store: Store, open_store: OpenStore) -> None:
    first = await open_store(closed_by_test=True)
    written = post(ANA)
    await first.apply([account("ana"), *written.ops, delivery()])
    await first.close()
    again = await open_store()
    assert await again.get_account("ana") is not None
    assert await again.has_activity(written.id)
    assert await again.count_jobs() == 1
    assert await store.has_activity(written.id)  # and by one open all along
