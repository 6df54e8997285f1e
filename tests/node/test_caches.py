"""The node's caches answer from memory, and every write of this process refreshes them.

A real sqlite store in a temporary folder; writes "from another process" (the CLI) are
simulated by applying them to the raw store, past the cache.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from node.accounts import create_account
from node.caches import CachingStore, KeyCache
from node.urls import Urls
from storage.records import (
    ActorRecord,
    CreateToken,
    DeleteActor,
    PutActor,
    PutKey,
    SetDomainBlock,
)
from storage.sqlite import SqliteStore, open_sqlite

URLS = Urls("http://127.0.0.1:8080")
REMOTE = "https://remote.example/users/bo"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def raw(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_sqlite(tmp_path / "mutual.sqlite")
    try:
        yield store
    finally:
        await store.close()


def remote_actor(*, inbox: str = f"{REMOTE}/inbox", fetched_at: float = 1.0) -> ActorRecord:
    doc = {"id": REMOTE, "type": "Person", "inbox": inbox}
    return ActorRecord(id=REMOTE, local=False, host="remote.example", type="Person",
                       username="bo", inbox=inbox, shared_inbox=None, followers=None,
                       document=json.dumps(doc), fetched_at=fetched_at)


async def test_actor_is_served_from_memory_until_this_process_writes_it(
        raw: SqliteStore) -> None:
    cached = CachingStore(raw, keys=KeyCache(size=10))
    await cached.apply([PutActor(actor=remote_actor())])
    first = await cached.get_actor(REMOTE)
    assert first is not None
    assert await cached.get_actor(REMOTE) is first  # no second read
    assert cached.actor_value(first) is cached.actor_value(first)  # parsed once

    await cached.apply([PutActor(actor=remote_actor(inbox=f"{REMOTE}/moved"))])
    second = await cached.get_actor(REMOTE)
    assert second is not None
    assert second.inbox == f"{REMOTE}/moved"
    assert cached.actor_value(second).inbox == f"{REMOTE}/moved"

    await cached.apply([DeleteActor(id=REMOTE)])
    gone = await cached.get_actor(REMOTE)
    assert gone is not None
    assert gone.gone


async def test_missing_rows_are_not_cached_so_other_processes_writes_show_at_once(
        raw: SqliteStore) -> None:
    cached = CachingStore(raw, keys=KeyCache(size=10))
    assert await cached.get_account("ana") is None
    assert await cached.get_actor(REMOTE) is None
    await create_account(raw, URLS, "ana")  # e.g. `mutual account create` beside `serve`
    await raw.apply([PutActor(actor=remote_actor())])
    account = await cached.get_account("ANA")
    assert account is not None
    assert account.username == "ana"
    assert await cached.get_account_by_actor(account.actor_id) == account
    assert await cached.get_actor(REMOTE) is not None


async def test_any_write_that_names_an_account_drops_the_cached_accounts(
        raw: SqliteStore) -> None:
    cached = CachingStore(raw, keys=KeyCache(size=10))
    await create_account(raw, URLS, "ana")
    first = await cached.get_account("ana")
    assert first is not None
    assert await cached.get_account("ana") is first
    # A token, a profile edit, whatever comes next: a write naming "ana" drops her.
    await cached.apply([CreateToken(token_hash="h", username="ana", scopes="read",
                                    created_at=1.0)])
    again = await cached.get_account("ana")
    assert again == first
    assert again is not first


async def test_domain_blocks_apply_at_once_here_and_within_the_ttl_from_elsewhere(
        raw: SqliteStore) -> None:
    clock = Clock()
    cached = CachingStore(raw, keys=KeyCache(size=10), domain_ttl=5.0, clock=clock)
    assert not await cached.is_domain_blocked("spam.example")

    await cached.apply([SetDomainBlock(domain="spam.example", blocked=True, created_at=1.0)])
    assert await cached.is_domain_blocked("Spam.Example")

    # Another process (the CLI) unblocks it: seen once the set is older than the TTL.
    await raw.apply([SetDomainBlock(domain="spam.example", blocked=False, created_at=2.0)])
    assert await cached.is_domain_blocked("spam.example")
    clock.now += 5.0
    assert not await cached.is_domain_blocked("spam.example")


async def test_a_stored_key_drops_the_parsed_one(raw: SqliteStore) -> None:
    keys = KeyCache(size=10)
    cached = CachingStore(raw, keys=keys)
    key_id = f"{REMOTE}#main-key"
    keys.put(key_id, (REMOTE, object()))  # type: ignore[arg-type]  # stands for a parsed key
    await cached.apply([PutKey(key_id=key_id, owner=REMOTE, pem="rotated", fetched_at=1.0)])
    assert keys.get(key_id) is None


async def test_rows_another_process_changed_are_read_again_after_the_ttl(
        raw: SqliteStore) -> None:
    clock = Clock()
    cached = CachingStore(raw, keys=KeyCache(size=10), row_ttl=30.0, clock=clock)
    await raw.apply([PutActor(actor=remote_actor())])
    assert (await cached.get_actor(REMOTE)).inbox == f"{REMOTE}/inbox"  # type: ignore[union-attr]
    # Another web or worker process on the same database refetches the actor.
    await raw.apply([PutActor(actor=remote_actor(inbox=f"{REMOTE}/moved"))])
    clock.now += 29.0
    assert (await cached.get_actor(REMOTE)).inbox == f"{REMOTE}/inbox"  # type: ignore[union-attr]
    clock.now += 1.0
    assert (await cached.get_actor(REMOTE)).inbox == f"{REMOTE}/moved"  # type: ignore[union-attr]
