"""The PostgreSQL engine under concurrency: what one sqlite writer never had to face.

Several stores on one database stand for several node processes (``serve --role web``
and ``--role worker`` on one PostgreSQL, DESIGN §4). The contract suite
(tests/storage/test_contract_*.py) checks that both engines give the same answers;
these tests check what only PostgreSQL can get wrong: migrations racing, two workers
claiming one job, two ballots taking one place in the ledger, a partial write.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from protocol.ledger import GENESIS, hash_entry
from storage.governance import AppendBallot, ProposalRecord, PutGroup, PutProposal
from storage.postgres import PgStore, open_postgres
from storage.postgres.engine import PgEngine
from storage.postgres.schema import MIGRATIONS
from storage.records import (
    ActorRecord,
    AddToInbox,
    CreateToken,
    EnqueueJob,
    PutActivity,
    PutActor,
    PutKey,
)
from storage.store import AlreadyExists, StorageBusy
from tests.support.postgres import PgServer, fresh_database

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]

T0 = 1_700_000_000.0
LATEST = MIGRATIONS[-1][0]
GROUP = "https://coop.example/groups/garden"


@pytest.fixture
async def dsn(pg_server: PgServer) -> str:
    return await fresh_database(pg_server)


@pytest.fixture
async def stores(pg_server: PgServer) -> AsyncIterator[list[PgStore]]:
    """Four stores on one database: four node processes, as far as it can tell."""
    dsn = await fresh_database(pg_server, migrated=True)
    opened = [await open_postgres(dsn, max_size=3) for _ in range(4)]
    try:
        yield opened
    finally:
        for store in opened:
            await store.close()


def job(n: int, *, run_at: float = T0) -> EnqueueJob:
    return EnqueueJob(kind="deliver", payload=json.dumps({"n": n}), host="a.example",
                      run_at=run_at)


def actor(ident: str) -> ActorRecord:
    return ActorRecord(id=ident, local=False, host="remote.example", type="Person",
                       username="x", inbox=f"{ident}/inbox", shared_inbox=None,
                       followers=None, document="{}", fetched_at=T0)


async def schema_versions(dsn: str) -> list[int]:
    engine = PgEngine(dsn, max_size=1)
    await engine.open()
    try:
        return [r[0] for r in await engine.fetch(
            "SELECT version FROM schema_version ORDER BY version")]
    finally:
        await engine.close()


async def test_migrating_again_changes_nothing(dsn: str) -> None:
    for _ in range(2):
        engine = PgEngine(dsn)
        assert await engine.open() == LATEST
        await engine.close()
    assert await schema_versions(dsn) == [version for version, _ in MIGRATIONS]


async def test_processes_starting_together_migrate_once(dsn: str) -> None:
    engines = [PgEngine(dsn, max_size=1) for _ in range(6)]
    try:
        assert await asyncio.gather(*(e.open() for e in engines)) == [LATEST] * 6
    finally:
        for engine in engines:
            await engine.close()
    assert await schema_versions(dsn) == [version for version, _ in MIGRATIONS]


async def test_concurrent_claimers_never_get_the_same_job(stores: list[PgStore]) -> None:
    queued = await stores[0].apply([job(n) for n in range(500)])
    assert len(set(queued.job_ids)) == 500

    async def worker(store: PgStore) -> list[int]:
        mine: list[int] = []
        while claimed := await store.claim_jobs(["deliver"], T0, 600.0, 7):
            mine += [j.id for j in claimed]
            await asyncio.gather(*(store.finish_job(j.id) for j in claimed[::2]))
        return mine

    # Two claim loops per store: eight claimers on up to twelve connections.
    per_worker = await asyncio.gather(*(worker(s) for s in stores for _ in range(2)))
    counts = Counter(job_id for ids in per_worker for job_id in ids)
    assert sorted(counts) == sorted(queued.job_ids)
    assert set(counts.values()) == {1}
    assert sum(1 for ids in per_worker if ids) > 1  # they did compete


async def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(
        stores: list[PgStore]) -> None:
    crashed, other = stores[0], stores[1]
    [job_id] = (await crashed.apply([job(1)])).job_ids
    [first] = await crashed.claim_jobs(["deliver"], T0, 30.0, 10)
    assert (first.id, first.attempts) == (job_id, 1)
    assert await other.claim_jobs(["deliver"], T0 + 29, 30.0, 10) == []
    [taken] = await other.claim_jobs(["deliver"], T0 + 31, 30.0, 10)
    assert (taken.id, taken.attempts) == (job_id, 2)
    assert await crashed.claim_jobs(["deliver"], T0 + 32, 30.0, 10) == []


async def test_renewed_lease_stays_with_its_worker(stores: list[PgStore]) -> None:
    holder, other = stores[0], stores[1]
    [job_id] = (await holder.apply([job(1)])).job_ids
    await holder.claim_jobs(["deliver"], T0, 30.0, 10)
    assert await holder.renew_leases([job_id], T0 + 60) == 1
    assert await other.claim_jobs(["deliver"], T0 + 45, 30.0, 10) == []
    await holder.finish_job(job_id)
    assert await holder.renew_leases([job_id], T0 + 90) == 0


async def test_release_leases_frees_expired_leases_only(stores: list[PgStore]) -> None:
    store, other = stores[0], stores[1]
    now = time.time()
    [expired] = (await store.apply([EnqueueJob(kind="counts", payload="{}", host=None,
                                               run_at=T0)])).job_ids
    await store.claim_jobs(["counts"], T0, 30.0, 10)  # a lease long over: a dead worker's
    [live] = (await store.apply([job(2, run_at=now - 1)])).job_ids
    await store.claim_jobs(["deliver"], now, 600.0, 10)  # another worker's job in flight
    assert await other.release_leases() == 1
    claimed = await other.claim_jobs(["deliver", "counts"], now + 1, 30.0, 10)
    assert [j.id for j in claimed] == [expired]
    assert live != expired


async def test_a_failing_operation_list_leaves_nothing_behind(stores: list[PgStore]) -> None:
    store = stores[0]
    who = "https://remote.example/users/kim"
    with pytest.raises(AlreadyExists):
        await store.apply([
            PutActor(actor=actor(who)),
            job(1),
            PutKey(key_id=f"{who}#main-key", owner=who, pem="pem", fetched_at=T0),
            CreateToken(token_hash="h", username="nobody", scopes="read", created_at=T0),
        ])
    assert await store.get_actor(who) is None
    assert await store.get_key(f"{who}#main-key") is None
    assert await store.count_jobs() == 0
    # The same list without the bad operation applies whole, and the queue is usable.
    result = await store.apply([PutActor(actor=actor(who)), job(1)])
    assert result.applied
    assert len(result.job_ids) == 1
    assert await store.get_actor(who) is not None


async def test_a_redelivered_activity_is_stored_once_however_it_races(
        stores: list[PgStore]) -> None:
    activity_id = "https://remote.example/activities/1"
    ops = [PutActivity(id=activity_id, type="Create", actor="https://remote.example/u/a",
                       object_id=None, local=False, visibility="public", audience=(),
                       document="{}", created_at=T0),
           AddToInbox(owner="https://coop.example/users/ana", activity_id=activity_id),
           job(1)]
    results = await asyncio.gather(*(s.apply(ops) for s in stores for _ in range(3)))
    assert sorted(r.applied for r in results) == [False] * 11 + [True]
    assert await stores[0].count_jobs() == 1
    page = await stores[0].inbox_page("https://coop.example/users/ana", None, 10)
    assert [a.id for a in page.items] == [activity_id]
    # Out of a race, a redelivery draws no seq: the next activity takes the next one.
    def create(n: int) -> PutActivity:
        return PutActivity(id=f"{activity_id}/{n}", type="Create", actor="https://a.example/u",
                           object_id=None, local=False, visibility="public", audience=(),
                           document="{}", created_at=T0)

    assert (await stores[1].apply([create(2)])).applied
    assert not (await stores[2].apply([create(2)])).applied
    assert (await stores[3].apply([create(3)])).applied
    second, third = [await stores[0].get_activity(f"{activity_id}/{n}") for n in (2, 3)]
    assert second is not None
    assert third is not None
    assert third.seq == second.seq + 1


async def test_concurrent_reservations_get_distinct_proposal_numbers(
        stores: list[PgStore]) -> None:
    await stores[0].apply([PutGroup(actor_id=GROUP, closed=False, rules="")])
    numbers = await asyncio.gather(
        *(s.reserve_proposal_number(GROUP) for s in stores for _ in range(25)))
    assert sorted(numbers) == list(range(1, 101))
    with pytest.raises(LookupError):
        await stores[0].reserve_proposal_number("https://coop.example/groups/none")


async def test_concurrent_ballots_each_get_their_own_place_in_one_chain(
        stores: list[PgStore]) -> None:
    voters = tuple(f"https://coop.example/users/v{i}" for i in range(40))
    proposal = ProposalRecord(
        id=f"{GROUP}/proposals/1", group_id=GROUP, number=1, proposer=voters[0],
        rule="majority", multiple=False, options=("yes", "no"), end_time=T0 + 3600,
        quorum=0.0, threshold=0.5, electorate_size=len(voters), electorate_hash="h",
        state="open", action=None, document="{}", result=None, created_at=T0)
    await stores[0].apply([PutGroup(actor_id=GROUP, closed=False, rules=""),
                           PutProposal(proposal=proposal, electorate=voters)])
    await asyncio.gather(*(
        stores[i % 4].apply([AppendBallot(proposal=proposal.id, voter=voter,
                                          entry={"voter": voter, "choices": ["yes"]},
                                          received=T0 + 60)])
        for i, voter in enumerate(voters)))
    rows = await stores[0].ledger(proposal.id, 0, 100)
    assert [r.seq for r in rows] == list(range(1, 41))
    assert sorted(r.voter for r in rows) == sorted(voters)
    previous = GENESIS
    for row in rows:
        entry = json.loads(row.entry)
        assert entry["prev"] == previous
        assert row.hash == hash_entry(entry)
        previous = row.hash
    assert (await stores[0].counted_ballots(proposal.id))[1] == previous


async def test_a_table_locked_too_long_makes_writes_busy_and_writes_nothing(
        pg_server: PgServer) -> None:
    dsn = await fresh_database(pg_server, migrated=True)
    store = PgStore(PgEngine(dsn, write_wait=0.2))
    await store.engine.open()
    admin = await asyncpg.connect(dsn)
    try:
        async with admin.transaction():
            await admin.execute("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            with pytest.raises(StorageBusy) as busy:
                await store.apply([PutActor(actor=actor("https://remote.example/u/b")),
                                   job(1)])
            assert time.monotonic() - started < 5
            assert busy.value.retry_after == 0.2
        assert await store.get_actor("https://remote.example/u/b") is None
        assert (await store.apply([job(1)])).job_ids  # the lock is gone: writes go on
    finally:
        await admin.close()
        await store.close()


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli", "--data", str(data), *args],
                          capture_output=True, text=True, timeout=60, check=False)


async def test_a_node_initialised_on_postgresql_keeps_its_data_there(
        dsn: str, tmp_path: Path) -> None:
    data = tmp_path / "node"
    init = await asyncio.to_thread(_cli, data, "init", "--url", "https://coop.example",
                                   "--database", dsn)
    assert init.returncode == 0, init.stderr
    assert not (data / "mutual.db").exists()
    migrate = await asyncio.to_thread(_cli, data, "migrate")
    assert (migrate.returncode, migrate.stdout.strip()) == (0, str(LATEST)), migrate.stderr
    blocked = await asyncio.to_thread(_cli, data, "domain", "block", "spam.example")
    assert blocked.returncode == 0, blocked.stderr
    store = await open_postgres(dsn)
    try:
        assert await store.blocked_domains() == ["spam.example"]
        assert await store.engine.fetchval("SELECT COUNT(*) FROM accounts") == 1  # instance
    finally:
        await store.close()
