"""Contract: concurrent callers — many writers, many claimers, racing grants.

A node serves hundreds of requests at once and, on PostgreSQL, runs several processes
on one database (DESIGN §4). These tests race coroutines on one store, and stores on
one database (``open_store``: a second store is what another process looks like), and
check that every write lands exactly once, a job is never handed out twice, and the
conditional writes (a proposal number, a ledger place, an authorization code, a close,
a probe) each go to exactly one caller.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import pytest

from protocol.ledger import chain_problems
from storage.api import PutIdempotency
from storage.governance import AlreadyClosed, CloseProposal
from storage.oauth import GrantAlreadyUsed, UseAuthCode
from storage.records import AddToInbox, EnqueueJob, Job
from storage.store import AlreadyExists, Store
from tests.storage.builders import (
    T0,
    account,
    actor_id,
    app,
    auth_code,
    ballot,
    delivery,
    follow,
    group,
    post,
    proposal,
    sha,
    token,
)

if TYPE_CHECKING:  # a type only: pytest provides the fixture itself
    from tests.storage.conftest import OpenStore

pytestmark = pytest.mark.timeout(60)
ANA = actor_id("ana")
GROUP = actor_id("gardeners", kind="group")
WRITERS = 200


async def test_many_concurrent_applies_each_land_exactly_once(store: Store) -> None:
    await store.apply([account("ana")])
    posts = [post(actor_id(f"u{i}", host="remote.example"), created_at=T0 + i)
             for i in range(WRITERS)]
    results = await asyncio.gather(*(
        store.apply([*p.ops, AddToInbox(owner=ANA, activity_id=p.id), delivery()])
        for p in posts))
    assert all(r.applied for r in results)
    job_ids = [i for r in results for i in r.job_ids]
    assert len(job_ids) == len(set(job_ids)) == WRITERS
    inbox = await store.inbox_page(ANA, None, WRITERS + 10)
    assert inbox.total == WRITERS
    assert sorted(a.id for a in inbox.items) == sorted(p.id for p in posts)
    assert len({a.seq for a in inbox.items}) == WRITERS
    assert await store.count_jobs("deliver") == WRITERS


async def test_failing_writers_among_concurrent_ones_fail_alone(store: Store) -> None:
    await store.apply([account("ana")])
    posts = [post(actor_id(f"u{i}", host="remote.example")) for i in range(100)]
    lists = [[*p.ops, account("ana")] if i % 10 == 3 else p.ops for i, p in enumerate(posts)]
    results = await asyncio.gather(*(store.apply(ops) for ops in lists),
                                   return_exceptions=True)
    failed = {i for i, r in enumerate(results) if isinstance(r, BaseException)}
    assert failed == {i for i in range(100) if i % 10 == 3}
    assert all(isinstance(results[i], AlreadyExists) for i in failed)
    for i, p in enumerate(posts):
        assert await store.has_activity(p.id) is (i not in failed)


async def test_racing_redeliveries_of_one_activity_apply_once(
        store: Store, open_store: OpenStore) -> None:
    """The same activity arriving at two web processes at once is stored once."""
    written = post(actor_id("zoe", host="remote.example"))
    other = await open_store()
    results = await asyncio.gather(*(s.apply([*written.ops, delivery()])
                                     for s in [store, other] * 10))
    assert sum(r.applied for r in results) == 1
    assert await store.count_jobs() == 1


async def test_racing_enqueues_with_one_dedupe_key_make_one_job(
        store: Store, open_store: OpenStore) -> None:
    job = EnqueueJob(kind="poll_expire", payload="{}", host=None, run_at=T0,
                     dedupe_key="poll:https://mutual.example/objects/1")
    other = await open_store()
    results = await asyncio.gather(*(s.apply([job]) for s in [store, other] * 15))
    assert sum(len(r.job_ids) for r in results) == 1
    assert await store.count_jobs("poll_expire") == 1


async def test_concurrent_follows_keep_the_counts_exact(
        store: Store, open_store: OpenStore) -> None:
    """The counts an Account shows are kept by the engine; racing writers from two
    processes must not lose an increment."""
    await store.apply([account("ana")])
    other = await open_store()
    followers = [actor_id(f"f{i}", host="remote.example") for i in range(100)]
    await asyncio.gather(*(s.apply(follow(f, ANA).ops)
                           for s, f in zip([store, other] * 50, followers, strict=True)))
    await asyncio.gather(*(s.apply(post(ANA).ops) for s in [store, other] * 10))
    view = (await store.api_accounts([ANA]))[ANA]
    assert (view.followers_count, view.statuses_count) == (100, 20)


async def _drain(store: Store, worker: int, claimed: list[tuple[int, Job]]) -> None:
    """Claim until the queue is empty, as a delivery worker does."""
    while True:
        jobs = await store.claim_jobs(["deliver"], T0, 300.0, 3)
        if not jobs:
            return
        claimed.extend((worker, job) for job in jobs)
        await asyncio.sleep(0)


async def test_concurrent_claimers_never_get_the_same_job(store: Store) -> None:
    result = await store.apply([delivery(run_at=T0 - i) for i in range(120)])
    claimed: list[tuple[int, Job]] = []
    await asyncio.gather(*(_drain(store, w, claimed) for w in range(8)))
    ids = [job.id for _, job in claimed]
    assert sorted(ids) == sorted(result.job_ids)  # every job once, none twice
    assert all(job.attempts == 1 for _, job in claimed)


async def test_claimers_on_separate_stores_never_get_the_same_job(
        store: Store, open_store: OpenStore) -> None:
    """Separate stores on one database: the web and worker processes of a scaled-out
    node (PostgreSQL claims with FOR UPDATE SKIP LOCKED)."""
    others = [await open_store() for _ in range(2)]
    result = await store.apply([delivery(run_at=T0 - i) for i in range(120)])
    claimed: list[tuple[int, Job]] = []
    await asyncio.gather(*(_drain(s, w, claimed)
                           for w, s in enumerate([store, *others] * 3)))
    ids = [job.id for _, job in claimed]
    assert sorted(ids) == sorted(result.job_ids)


async def test_proposal_numbers_are_distinct_under_concurrency(
        store: Store, open_store: OpenStore) -> None:
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    other = await open_store()
    numbers = await asyncio.gather(*(s.reserve_proposal_number(GROUP)
                                     for _ in range(30) for s in (store, other)))
    assert sorted(numbers) == list(range(1, 61))


async def test_racing_ballots_each_get_their_own_place_in_the_chain(
        store: Store, open_store: OpenStore) -> None:
    voters = tuple(actor_id(f"v{i:02}") for i in range(40))
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    put = proposal(GROUP, 1, proposer=ANA, electorate=voters)
    await store.apply([put])
    other = await open_store()
    await asyncio.gather(*(s.apply([ballot(put.proposal.id, v, ["yes"])])
                           for s, v in zip([store, other] * 20, voters, strict=True)))
    rows = await store.ledger(put.proposal.id, 0, 100)
    assert [r.seq for r in rows] == list(range(1, 41))
    assert sorted(r.voter for r in rows) == sorted(voters)
    assert chain_problems([json.loads(r.entry) for r in rows], head=rows[-1].hash) == []


async def test_racing_closes_close_once(store: Store, open_store: OpenStore) -> None:
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    put = proposal(GROUP, 1, proposer=ANA, electorate=(ANA,))
    await store.apply([put])
    other = await open_store()
    results = await asyncio.gather(*(
        s.apply([CloseProposal(id=put.proposal.id, result={"by": i}, document="{}"),
                 delivery(run_at=T0 + i)])
        for i, s in enumerate([store, other] * 5)), return_exceptions=True)
    winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyClosed) for i, r in enumerate(results)
               if i not in winners)
    closed = await store.get_proposal(put.proposal.id)
    assert closed is not None
    assert closed.result == {"by": winners[0]}
    assert await store.count_jobs() == 1  # the losers' jobs rolled back with them


async def test_one_authorization_code_buys_one_token_under_a_race(
        store: Store, open_store: OpenStore) -> None:
    await store.apply([account("ana"), app(client_id="tusky")])
    found = await store.get_app("tusky")
    assert found is not None
    await store.apply([auth_code(found.id, "ana", code="abc")])
    other = await open_store()
    tokens = [token("ana", app_id=found.id, secret=f"t{i}") for i in range(10)]
    results = await asyncio.gather(*(
        s.apply([UseAuthCode(code_hash=sha("abc"), at=T0), t])
        for s, t in zip([store, other] * 5, tokens, strict=True)), return_exceptions=True)
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, GrantAlreadyUsed) for r in results
               if isinstance(r, BaseException))
    issued = [t for t in tokens if await store.get_token(t.token_hash) is not None]
    assert len(issued) == 1


async def test_one_probe_per_paused_host_under_a_race(
        store: Store, open_store: OpenStore) -> None:
    await store.record_host_result("a.example", ok=False, error="timeout", paused_until=T0)
    other = await open_store()
    won = await asyncio.gather(*(s.claim_probe("a.example", T0 + 1, T0 + 60)
                                 for s in [store, other] * 5))
    assert sum(won) == 1
    state = await store.host_state("a.example")
    assert state is not None
    assert state.paused_until == T0 + 60


async def test_racing_posts_with_one_idempotency_key_store_one_post(
        store: Store, open_store: OpenStore) -> None:
    """An app's retried post reaching two web processes at once: the key is claimed in
    the same write as the post, so one post is stored and its twin writes nothing."""
    await store.apply([account("ana")])
    other = await open_store()
    attempts = [post(ANA, content=f"attempt {n}") for n in range(10)]

    async def attempt(target: Store, written: object) -> str | None:
        ops = written.ops  # type: ignore[attr-defined]
        claim = PutIdempotency(account=ANA, key="retry-1", status_object=ops[1].id,
                               created_at=T0, unless_since=T0 - 3600)
        try:
            await target.apply([claim, *ops])
        except AlreadyExists:
            return None
        return str(ops[1].id)

    won = [r for r in await asyncio.gather(*(attempt(s, w) for s, w in zip(
        [store, other] * 5, attempts, strict=True))) if r is not None]
    assert len(won) == 1
    assert await store.get_idempotency(ANA, "retry-1", T0 - 3600) == won[0]
    stored = [w.ops[1].id for w in attempts if await store.get_object(w.ops[1].id)]
    assert stored == won
