"""Bounded in-memory caches in front of the store's hottest reads, and their invalidation.

Every inbox POST looks up the addressed account, whether the sender's domain is
blocked, the sender's actor record (its followers collection decides the
visibility) and its public key. Those rows change rarely, so ``CachingStore`` answers
them from memory. It wraps the ``Store`` the node uses, so that every write this
process makes goes through its ``apply`` — the ONE place where cached entries are
dropped, after the write commits:

- local accounts (by username and by actor id): both maps are emptied by any write
  that names an account by ``username`` (``CreateAccount``, a profile update, a new
  token...): such writes are rare, and so a new kind of account write cannot be
  forgotten here. Only found accounts are kept, so an account that ``mutual account
  create`` adds from another process is seen at once; one that another process
  changes (a profile edited through another web process) is read again after
  ``ROW_TTL``.
- actor records (local and remote, LRU), and their parsed documents: dropped on
  ``PutActor``, ``DeleteActor`` and ``CreateAccount``, and read again after
  ``ROW_TTL`` (another process may have refetched the actor, or found it gone). The
  24 h freshness rule stays with the caller (``Node.resolve_actor`` looks at
  ``fetched_at``), so a cached record ages as a stored one does. Absent actors are not
  cached either.
- domain blocks: the whole set, reloaded when older than a few seconds (the CLI may
  change it from another process, so the TTL bounds how long a block can take to
  apply) and at once after ``SetDomainBlock`` applied by this process.
- parsed public keys (``KeyCache``, owned by the node): dropped on ``PutKey``, so a
  rotated key (an actor's ``Update``) is read again from the database. No TTL: a key
  that another process replaced fails verification here, and a failed verification
  fetches the key again (node/inbox/pipeline.py), which heals this cache too.

A read racing a write never puts back what the write replaced: each cache has a
generation, bumped by every invalidation, and a read stores what it found only when
the generation did not move while it was reading (DESIGN §4: caches may live in one
process's memory, with bounded size and TTL). With several processes on one database
(``--role web`` and ``worker``), the TTLs bound how stale another process's view is.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from protocol.keys import PublicKey
from protocol.vocab import ActorValue, parse_actor
from storage.api import UpdateProfile
from storage.records import (
    AccountRecord,
    ActorRecord,
    ApplyResult,
    CreateAccount,
    DeleteActor,
    Op,
    PutActor,
    PutKey,
    SetDomainBlock,
)
from storage.store import Store

__all__ = [
    "CachingStore",
    "KeyCache",
    "Lru",
    "StoreWrapper",
]

K = TypeVar("K")
V = TypeVar("V")

DOMAIN_BLOCKS_TTL = 5.0
# How long a cached account or actor row is trusted before it is read again. A row
# costs one point read (~10 µs, DESIGN §7), so even a short TTL costs little.
ROW_TTL = 30.0


@dataclass
class Lru(Generic[K, V]):
    """A bounded least-recently-used map; with ``ttl``, entries also expire."""

    size: int
    ttl: float | None = None
    clock: Callable[[], float] = time.monotonic
    items: OrderedDict[K, tuple[float, V]] = field(default_factory=OrderedDict)

    def get(self, key: K) -> V | None:
        found = self.items.get(key)
        if found is None:
            return None
        expires, value = found
        if self.ttl is not None and expires <= self.clock():
            del self.items[key]
            return None
        self.items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        expires = self.clock() + self.ttl if self.ttl is not None else math.inf
        self.items[key] = (expires, value)
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def drop(self, key: K) -> None:
        self.items.pop(key, None)


class KeyCache(Lru[str, tuple[str, PublicKey]]):
    """Parsed public keys: key id -> (owner, key). Parsing a PEM costs ~9 µs (DESIGN §7)."""


class StoreWrapper:
    """A store in front of another: what it does not define is the wrapped store's."""

    _store: Store

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if callable(found):
            # A method of the wrapped store: kept on this instance, so the next call finds
            # it at once instead of through a failed lookup (several per inbox request).
            setattr(self, name, found)
        return found


class CachingStore(StoreWrapper):
    """A ``Store`` that answers accounts, actors and domain blocks from memory.

    Every other method is the wrapped store's own (``__getattr__``).
    """

    def __init__(self, store: Store, *, keys: KeyCache, accounts: int = 1_000,
                 actors: int = 10_000, domain_ttl: float = DOMAIN_BLOCKS_TTL,
                 row_ttl: float = ROW_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._keys = keys
        self._by_username: Lru[str, AccountRecord] = Lru(accounts, row_ttl, clock)
        self._by_actor: Lru[str, AccountRecord] = Lru(accounts, row_ttl, clock)
        self._actors: Lru[str, ActorRecord] = Lru(actors, row_ttl, clock)
        self._parsed: Lru[str, tuple[ActorRecord, ActorValue]] = Lru(actors)
        self._domain_ttl = domain_ttl
        self._clock = clock
        self._blocks: frozenset[str] = frozenset()
        self._blocks_until = float("-inf")
        self._blocks_loading: asyncio.Future[frozenset[str]] | None = None
        self._accounts_gen = self._actors_gen = self._blocks_gen = 0


    async def apply(self, ops: Sequence[Op]) -> ApplyResult:
        try:
            return await self._store.apply(ops)
        finally:
            # Also when it failed: a commit error may come after the rows were written.
            self._forget(ops)

    def _forget(self, ops: Sequence[Op]) -> None:
        for op in ops:
            if isinstance(op, PutActor):
                self._drop_actor(op.actor.id)
            elif isinstance(op, PutKey):
                self._keys.drop(op.key_id)
            elif isinstance(op, DeleteActor):
                self._drop_actor(op.id)
            elif isinstance(op, CreateAccount):
                self._drop_actor(op.actor.id)
            elif isinstance(op, SetDomainBlock):
                self._blocks_gen += 1
                self._blocks_until = float("-inf")
            elif isinstance(op, UpdateProfile):  # a member edits their profile (client API)
                self._accounts_gen += 1
                self._by_username.drop(op.username)
                self._by_actor.drop(op.actor_id)
            if isinstance(op, CreateAccount) or isinstance(getattr(op, "username", None), str):
                self._accounts_gen += 1
                self._by_username.items.clear()
                self._by_actor.items.clear()

    def _drop_actor(self, actor_id: str) -> None:
        self._actors_gen += 1
        self._actors.drop(actor_id)

    # accounts and actors ---------------------------------------------------------------

    async def get_account(self, username: str) -> AccountRecord | None:
        key = username.lower()
        found = self._by_username.get(key)
        if found is None:
            generation = self._accounts_gen
            found = await self._store.get_account(username)
            if found is not None and generation == self._accounts_gen:
                self._by_username.put(key, found)
        return found

    async def get_account_by_actor(self, actor_id: str) -> AccountRecord | None:
        found = self._by_actor.get(actor_id)
        if found is None:
            generation = self._accounts_gen
            found = await self._store.get_account_by_actor(actor_id)
            if found is not None and generation == self._accounts_gen:
                self._by_actor.put(actor_id, found)
        return found

    async def get_actor(self, actor_id: str) -> ActorRecord | None:
        found = self._actors.get(actor_id)
        if found is None:
            generation = self._actors_gen
            found = await self._store.get_actor(actor_id)
            if found is not None and generation == self._actors_gen:
                self._actors.put(actor_id, found)
        return found

    def actor_value(self, record: ActorRecord) -> ActorValue:
        """``record``'s document parsed, once per stored version: a cached record is
        the same object until a write replaces it, so identity says it is unchanged.
        The value is shared by every request that asks: read it, never change it."""
        found = self._parsed.get(record.id)
        if found is not None and found[0] is record:
            return found[1]
        value = parse_actor(json.loads(record.document))
        self._parsed.put(record.id, (record, value))
        return value

    # domain blocks -------------------------------------------------------------------

    async def is_domain_blocked(self, domain: str) -> bool:
        blocks = self._blocks
        if self._clock() >= self._blocks_until:
            blocks = await self._reload_blocks()
        return domain.lower() in blocks

    async def _reload_blocks(self) -> frozenset[str]:
        """One reload at a time, whoever asks while it runs waits for the same one."""
        if self._blocks_loading is None:
            self._blocks_loading = asyncio.ensure_future(self._load_blocks())
        return await asyncio.shield(self._blocks_loading)

    async def _load_blocks(self) -> frozenset[str]:
        try:
            while True:
                generation, started = self._blocks_gen, self._clock()
                blocks = frozenset(d.lower() for d in await self._store.blocked_domains())
                if generation == self._blocks_gen:
                    break  # else a block changed while we read: read again
            self._blocks, self._blocks_until = blocks, started + self._domain_ttl
            return blocks
        finally:
            self._blocks_loading = None
