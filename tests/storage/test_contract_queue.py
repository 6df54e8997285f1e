"""Contract: the durable job queue and the per-host failure tracker.

The table is the queue (DESIGN §4): ``EnqueueJob`` commits a job with what caused it;
``claim_jobs`` leases due jobs of the asked kinds, oldest due first; a leased job is
invisible to other claimers until its lease runs out; the worker then finishes,
retries, defers or buries it. Time is always a parameter, so these tests never sleep.
"""

from __future__ import annotations

import pytest

from storage.records import EnqueueJob
from storage.store import Store
from tests.storage.builders import T0, delivery, post

LEASE = 30.0


async def _enqueue(store: Store, *jobs: EnqueueJob) -> list[int]:
    result = await store.apply(list(jobs))
    return result.job_ids


async def test_enqueued_job_is_claimed_with_its_fields_and_one_attempt(store: Store) -> None:
    job = delivery("https://a.example/inbox", run_at=T0)
    [job_id] = await _enqueue(store, job)
    [claimed] = await store.claim_jobs(["deliver"], T0, LEASE, 10)
    assert (claimed.id, claimed.kind, claimed.payload, claimed.host) == (
        job_id, "deliver", job.payload, "a.example")
    assert (claimed.run_at, claimed.attempts, claimed.last_error) == (T0, 1, None)


async def test_job_commits_with_the_activity_that_caused_it(store: Store) -> None:
    written = post("https://mutual.example/users/ana")
    result = await store.apply([*written.ops, delivery(), delivery("https://b.example/inbox")])
    assert len(result.job_ids) == 2
    assert len(set(result.job_ids)) == 2
    assert await store.count_jobs("deliver") == 2


async def test_claim_takes_only_due_jobs_of_the_asked_kinds_oldest_first(
        store: Store) -> None:
    late, early, other, future = await _enqueue(
        store, delivery(run_at=T0 - 5), delivery(run_at=T0 - 50),
        delivery(run_at=T0 - 100, kind="fetch"), delivery(run_at=T0 + 20))
    claimed = await store.claim_jobs(["deliver"], T0, LEASE, 10)
    assert [j.id for j in claimed] == [early, late]
    both = await store.claim_jobs(["deliver", "fetch"], T0 + 20, LEASE, 10)  # leases hold
    assert [j.id for j in both] == [other, future]


async def test_claim_respects_the_limit_and_hands_out_the_rest_later(store: Store) -> None:
    ids = await _enqueue(store, *(delivery(run_at=T0 - 10 + i) for i in range(5)))
    first = await store.claim_jobs(["deliver"], T0, LEASE, 2)
    second = await store.claim_jobs(["deliver"], T0, LEASE, 2)
    third = await store.claim_jobs(["deliver"], T0, LEASE, 2)
    assert [j.id for j in first] == ids[:2]
    assert [j.id for j in second] == ids[2:4]
    assert [j.id for j in third] == ids[4:]
    assert await store.claim_jobs(["deliver"], T0, LEASE, 2) == []


async def test_claimed_job_is_not_claimed_again_until_its_lease_expires(
        store: Store) -> None:
    [job_id] = await _enqueue(store, delivery(run_at=T0))
    assert len(await store.claim_jobs(["deliver"], T0, LEASE, 10)) == 1
    assert await store.claim_jobs(["deliver"], T0 + 1, LEASE, 10) == []
    assert await store.claim_jobs(["deliver"], T0 + LEASE, LEASE, 10) == []
    [again] = await store.claim_jobs(["deliver"], T0 + LEASE + 1, LEASE, 10)
    assert (again.id, again.attempts) == (job_id, 2)  # the worker that held it died


async def test_finished_job_is_gone(store: Store) -> None:
    [job_id] = await _enqueue(store, delivery(run_at=T0))
    await store.claim_jobs(["deliver"], T0, LEASE, 10)
    await store.finish_job(job_id)
    assert await store.count_jobs() == 0
    assert await store.claim_jobs(["deliver"], T0 + 10 * LEASE, LEASE, 10) == []
    assert await store.next_job_at(["deliver"]) is None


async def test_retried_job_waits_for_its_new_time_and_keeps_its_attempts(
        store: Store) -> None:
    [job_id] = await _enqueue(store, delivery(run_at=T0))
    await store.claim_jobs(["deliver"], T0, LEASE, 10)
    await store.retry_job(job_id, T0 + 300, "503 Service Unavailable")
    assert await store.next_job_at(["deliver"]) == T0 + 300
    assert await store.claim_jobs(["deliver"], T0 + 299, LEASE, 10) == []
    [again] = await store.claim_jobs(["deliver"], T0 + 300, LEASE, 10)
    assert (again.id, again.run_at, again.attempts, again.last_error) == (
        job_id, T0 + 300, 2, "503 Service Unavailable")


async def test_retry_releases_the_lease_at_once(store: Store) -> None:
    [job_id] = await _enqueue(store, delivery(run_at=T0))
    await store.claim_jobs(["deliver"], T0, LEASE, 10)
    await store.retry_job(job_id, T0 + 1, "timeout")
    [again] = await store.claim_jobs(["deliver"], T0 + 1, LEASE, 10)  # lease was T0+30
    assert again.id == job_id


async def test_long_errors_are_kept_to_500_characters(store: Store) -> None:
    [job_id] = await _enqueue(store, delivery(run_at=T0))
    await store.claim_jobs(["deliver"], T0, LEASE, 10)
    await store.retry_job(job_id, T0, "x" * 450 + "y" * 1000)
    [again] = await store.claim_jobs(["deliver"], T0, LEASE, 10)
    assert again.last_error == "x" * 450 + "y" * 50


async def test_deferred_job_gives_its_attempt_back(store: Store) -> None:
    """A job put back because its host is paused was never tried: deferring must not
    eat into the retry schedule."""
    [job_id] = await _enqueue(store, delivery(run_at=T0))
    await store.claim_jobs(["deliver"], T0, LEASE, 10)
    await store.defer_job(job_id, T0 + 600, "host paused")
    assert await store.claim_jobs(["deliver"], T0 + 599, LEASE, 10) == []
    [again] = await store.claim_jobs(["deliver"], T0 + 600, LEASE, 10)
    assert (again.attempts, again.last_error, again.run_at) == (1, "host paused", T0 + 600)


async def test_defer_never_makes_attempts_negative(store: Store) -> None:
    [job_id] = await _enqueue(store, delivery(run_at=T0))
    await store.defer_job(job_id, T0, "paused before any claim")
    await store.defer_job(job_id, T0, "and again")
    [again] = await store.claim_jobs(["deliver"], T0, LEASE, 10)
    assert again.attempts == 1


async def test_buried_job_is_counted_dead_and_never_claimed(store: Store) -> None:
    [dead, alive] = await _enqueue(store, delivery(run_at=T0), delivery(run_at=T0 + 5))
    await store.claim_jobs(["deliver"], T0, LEASE, 1)
    await store.bury_job(dead, "410 Gone")
    assert await store.count_jobs("deliver", "dead") == 1
    assert await store.count_jobs("deliver") == 1
    assert await store.count_jobs(state="dead") == 1
    claimed = await store.claim_jobs(["deliver"], T0 + 10 * LEASE, LEASE, 10)
    assert [j.id for j in claimed] == [alive]


async def test_count_jobs_by_kind_and_state(store: Store) -> None:
    assert await store.count_jobs() == 0
    await _enqueue(store, delivery(), delivery(), delivery(kind="fetch"))
    assert await store.count_jobs() == 3
    assert await store.count_jobs("deliver") == 2
    assert await store.count_jobs("fetch") == 1
    assert await store.count_jobs("close_proposal") == 0
    assert await store.count_jobs(state="dead") == 0


async def test_next_job_at_is_the_earliest_due_or_lease_end(store: Store) -> None:
    assert await store.next_job_at(["deliver"]) is None
    first, _, _ = await _enqueue(store, delivery(run_at=T0 + 10), delivery(run_at=T0 + 100),
                                 delivery(run_at=T0 + 1, kind="fetch"))
    assert await store.next_job_at(["deliver"]) == T0 + 10
    assert await store.next_job_at(["deliver", "fetch"]) == T0 + 1
    await store.claim_jobs(["deliver"], T0 + 10, LEASE, 1)
    # A claimed job is next due when its lease ends (its worker may have died).
    assert await store.next_job_at(["deliver"]) == T0 + 10 + LEASE
    await store.bury_job(first, "gone")


async def test_dedupe_key_skips_a_job_while_an_equal_one_is_queued(store: Store) -> None:
    key = "close:https://mutual.example/groups/g/proposals/1"
    [first] = await _enqueue(store, EnqueueJob(kind="close_proposal", payload="{}", host=None,
                                               run_at=T0, dedupe_key=key))
    again = await store.apply([EnqueueJob(kind="close_proposal", payload="{}", host=None,
                                          run_at=T0 + 9, dedupe_key=key)])
    assert again.applied
    assert again.job_ids == []
    assert await store.count_jobs("close_proposal") == 1
    [claimed] = await store.claim_jobs(["close_proposal"], T0, LEASE, 10)
    assert claimed.id == first
    # While it runs its row still holds the key...
    running = await store.apply([EnqueueJob(kind="close_proposal", payload="{}", host=None,
                                            run_at=T0, dedupe_key=key)])
    assert running.job_ids == []
    # ...and once finished the key is free again.
    await store.finish_job(first)
    later = await store.apply([EnqueueJob(kind="close_proposal", payload="{}", host=None,
                                          run_at=T0 + 99, dedupe_key=key)])
    assert len(later.job_ids) == 1


async def test_jobs_without_dedupe_key_never_collide(store: Store) -> None:
    ids = await _enqueue(store, *(EnqueueJob(kind="deliver", payload="{}", host="a.example",
                                             run_at=T0) for _ in range(3)))
    assert len(set(ids)) == 3


async def test_release_leases_frees_leases_that_ran_out(store: Store) -> None:
    """T0 is in the past by any clock, so these leases are over on both engines."""
    await _enqueue(store, delivery(run_at=T0), delivery(run_at=T0), delivery(run_at=T0))
    await store.claim_jobs(["deliver"], T0, LEASE, 2)
    assert await store.release_leases() == 2
    assert await store.next_job_at(["deliver"]) == T0  # no lease end counted any more
    claimed = await store.claim_jobs(["deliver"], T0 + 1, LEASE, 10)
    assert len(claimed) == 3
    assert await store.release_leases() == 3
    assert await store.release_leases() == 0


async def test_release_leases_and_live_leases(store: Store, engine: str) -> None:
    """The one documented difference: sqlite (one process) frees every lease, for an
    admin who knows no worker runs; PostgreSQL never frees a live one, which would be
    another process's job in flight."""
    far = 4e9  # a lease that is live by the database's clock too
    await _enqueue(store, delivery(run_at=T0))
    await store.claim_jobs(["deliver"], far, LEASE, 1)
    freed = await store.release_leases()
    again = await store.claim_jobs(["deliver"], far + 1, LEASE, 1)
    if engine == "sqlite":
        assert (freed, len(again)) == (1, 1)
    else:
        assert (freed, again) == (0, [])


async def test_renewed_lease_keeps_a_job_from_other_claimers(store: Store) -> None:
    held, other, idle = await _enqueue(store, delivery(run_at=T0), delivery(run_at=T0),
                                       delivery(run_at=T0 + 40))
    await store.claim_jobs(["deliver"], T0, LEASE, 2)
    assert await store.renew_leases([held, other, idle], T0 + 100) == 2  # idle has no lease
    assert [j.id for j in await store.claim_jobs(["deliver"], T0 + 50, LEASE, 10)] == [idle]
    claimed = await store.claim_jobs(["deliver"], T0 + 101, LEASE, 10)
    assert sorted(j.id for j in claimed) == sorted([held, other, idle])  # all ran out
    assert await store.renew_leases([], T0 + 500) == 0


async def test_renew_leaves_finished_retried_and_deferred_jobs_alone(store: Store) -> None:
    done, retried, deferred, dead = await _enqueue(
        store, *(delivery(run_at=T0) for _ in range(4)))
    await store.claim_jobs(["deliver"], T0, LEASE, 4)
    await store.finish_job(done)
    await store.retry_job(retried, T0 + 5, "503")
    await store.defer_job(deferred, T0 + 5, "paused")
    await store.bury_job(dead, "410")
    assert await store.renew_leases([done, retried, deferred, dead], T0 + 1000) == 0
    claimed = await store.claim_jobs(["deliver"], T0 + 5, LEASE, 10)
    assert sorted(j.id for j in claimed) == sorted([retried, deferred])


async def test_probe_is_claimed_once_when_the_pause_has_ended(store: Store) -> None:
    assert not await store.claim_probe("a.example", T0, T0 + 60)  # unknown host
    await store.record_host_result("a.example", ok=False, error="timeout", paused_until=None)
    assert not await store.claim_probe("a.example", T0, T0 + 60)  # failing, not paused
    await store.record_host_result("a.example", ok=False, error="timeout",
                                   paused_until=T0 + 10)
    assert not await store.claim_probe("a.example", T0 + 9, T0 + 60)  # still paused
    assert await store.claim_probe("a.example", T0 + 10, T0 + 70)
    state = await store.host_state("a.example")
    assert state is not None
    assert (state.failures, state.paused_until) == (2, T0 + 70)
    assert not await store.claim_probe("a.example", T0 + 10, T0 + 70)  # taken


async def test_host_failures_add_up_and_success_clears_them(store: Store) -> None:
    assert await store.host_state("a.example") is None
    first = await store.record_host_result("a.example", ok=False, error="timeout",
                                           paused_until=None)
    assert (first.host, first.failures, first.paused_until, first.last_error) == (
        "a.example", 1, None, "timeout")
    second = await store.record_host_result("a.example", ok=False, error="503",
                                            paused_until=T0 + 3600)
    assert (second.failures, second.paused_until, second.last_error) == (2, T0 + 3600, "503")
    assert await store.host_state("a.example") == second
    assert await store.host_state("b.example") is None
    ok = await store.record_host_result("a.example", ok=True, error=None, paused_until=None)
    assert (ok.failures, ok.paused_until, ok.last_error) == (0, None, None)
    assert await store.host_state("a.example") is None


async def test_host_error_is_kept_to_500_characters(store: Store) -> None:
    state = await store.record_host_result("a.example", ok=False, error="e" * 900,
                                           paused_until=None)
    assert state.last_error == "e" * 500
    stored = await store.host_state("a.example")
    assert stored is not None
    assert stored.last_error == "e" * 500


async def test_no_kinds_claim_nothing(store: Store) -> None:
    await _enqueue(store, delivery(run_at=T0))
    assert await store.claim_jobs([], T0, LEASE, 10) == []
    assert await store.next_job_at([]) is None


@pytest.mark.parametrize("limit", [1, 3])
async def test_claim_never_returns_more_than_limit(store: Store, limit: int) -> None:
    await _enqueue(store, *(delivery(run_at=T0) for _ in range(5)))
    assert len(await store.claim_jobs(["deliver"], T0, LEASE, limit)) == limit
