"""The running node's shared state: config, store, HTTP client, keys, caches and the
event bus that streaming clients listen to.

One ``Node`` per process, owned by the aiohttp app's cleanup context. Private keys are
parsed once and kept (loading one costs ~50 ms, DESIGN §7); remote public keys,
accounts, actors and domain blocks are cached in bounded memory in front of the
database, invalidated by the node's own writes (node/caches.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import cast

import aiohttp

from node.caches import CachingStore, KeyCache
from node.config import Config
from node.event_wire import decode, encode
from node.events import Event, EventBus, PublishingStore
from node.fetcher import Fetcher, FetchError
from node.metrics import Metrics
from node.urls import INSTANCE_ACTOR, Urls
from protocol.errors import KeyNotFound, MalformedActivity, OriginMismatch
from protocol.keys import (
    KeyFormatError,
    PrivateKey,
    PublicKey,
    load_private_pem,
    load_public_pem,
)
from protocol.vocab import ActorValue, host_of, parse_actor, parse_key_document
from storage.records import AccountRecord, ActorRecord, PutActor, PutKey
from storage.store import Store

__all__ = ["Node", "actor_record"]

USER_AGENT = "Mutual/0.1.0"
_ACTOR_TTL = 24 * 3600.0


def actor_record(actor: ActorValue, *, local: bool, now: float) -> ActorRecord:
    return ActorRecord(
        id=actor.id, local=local, host=host_of(actor.id), type=actor.type,
        username=actor.preferred_username, inbox=actor.inbox, shared_inbox=actor.shared_inbox,
        followers=actor.followers, document=json.dumps(actor.raw), fetched_at=now,
    )


class Node:
    def __init__(self, *, config: Config, store: Store, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.session = session
        self.urls = Urls(config.url)
        self.keys = KeyCache(size=config.key_cache_size)
        # Every read and write of the node goes through the caches, so that every write
        # this process makes invalidates what it touches (node/caches.py), and through
        # the event bus, so that streaming clients hear of what committed (node/events.py).
        self.caches = CachingStore(store, keys=self.keys)
        self.events = EventBus(queue_size=config.queue_size)
        self._publishing = PublishingStore(cast(Store, self.caches), self.events)
        self.store: Store = cast(Store, self._publishing)
        self._private: dict[str, tuple[str, PrivateKey]] = {}
        self._instance_signer: tuple[str, PrivateKey] | None = None
        # This process's counters (node/metrics.py); the queue's gauges are read at scrape.
        self.metrics = Metrics()
        self.delivery_wakeup = asyncio.Event()
        self.jobs_wakeup = asyncio.Event()
        self.fetcher = Fetcher(
            session=session, signer=self.instance_signer,
            allow_private=config.allow_private_addresses, timeout=config.fetch_timeout,
            max_bytes=config.max_fetch_bytes, max_redirects=config.max_redirects,
            user_agent=f"{USER_AGENT} (+{config.url})",
        )

    async def start(self) -> None:
        instance = await self.store.get_account(INSTANCE_ACTOR)
        if instance is None:
            raise RuntimeError("the data folder has no instance actor; run `mutual init`")
        self._instance_signer = self._load_signer(instance)
        await self._join_other_processes()

    async def _join_other_processes(self) -> None:
        """With a store shared by several processes (PostgreSQL), stream what the others
        write and tell them what this one writes (node/event_wire.py)."""
        listen = getattr(self.caches, "listen", None)
        if listen is None:
            return
        origin = secrets.token_hex(8)
        send = self.caches.broadcast  # type: ignore[attr-defined]

        async def broadcast(events: list[Event]) -> None:
            await send(encode(events, origin))

        self._publishing.broadcast = broadcast
        await listen(lambda message: self.events.publish(decode(message, origin, self.store)))

    def instance_signer(self) -> tuple[str, PrivateKey]:
        assert self._instance_signer is not None, "node not started"
        return self._instance_signer

    def _load_signer(self, account: AccountRecord) -> tuple[str, PrivateKey]:
        found = self._private.get(account.username)
        if found is None:
            found = (self.urls.key_id(account.actor_id), load_private_pem(account.rsa_private_pem))
            self._private[account.username] = found
        return found

    def signer_for(self, account: AccountRecord) -> tuple[str, PrivateKey]:
        return self._load_signer(account)

    async def signer_by_username(self, username: str) -> tuple[str, PrivateKey]:
        if username in self._private:
            return self._private[username]
        account = await self.store.get_account(username)
        if account is None:
            raise KeyError(username)
        return self._load_signer(account)

    def wake_delivery(self) -> None:
        """New jobs were queued: let this process's workers look now instead of at their
        next poll. A worker in another process (``--role worker``) finds them at its next
        poll, ``delivery.worker_poll_seconds`` later at most."""
        self.delivery_wakeup.set()
        self.jobs_wakeup.set()

    def now(self) -> float:
        return time.time()

    # remote actors and keys ------------------------------------------------------------

    async def resolve_actor(self, actor_id: str, *, refresh: bool = False) -> ActorValue:
        """The actor document, from the store when fresh, else fetched from its origin."""
        if not refresh:
            record = await self.store.get_actor(actor_id)
            if record is not None and record.gone:
                # Deleted, or its inbox answered 410: nothing more goes to it.
                raise FetchError(f"{actor_id} is gone", reason="gone", status=410)
            if record is not None and (
                record.local or self.now() - record.fetched_at < _ACTOR_TTL
            ):
                return self.caches.actor_value(record)
        document = await self.fetcher.get_json(actor_id)
        actor = parse_actor(document)
        if actor.id != actor_id:
            # The served id must be the one asked for, or one host could answer for another.
            raise FetchError(f"{actor_id} served a document for {actor.id}", reason="id-mismatch")
        ops: list[PutActor | PutKey] = [PutActor(actor=actor_record(actor, local=False,
                                                                     now=self.now()))]
        if actor.public_key_id and actor.public_key_pem and _loads(actor.public_key_pem):
            # Only a key that loads is kept: a stored garbage key would fail every later
            # verification instead of being fetched again (as resolve_key does).
            ops.append(PutKey(key_id=actor.public_key_id, owner=actor.id,
                              pem=actor.public_key_pem, fetched_at=self.now()))
        await self.store.apply(ops)
        return actor

    async def resolve_key(self, key_id: str, *, refresh: bool = False) -> tuple[str, PublicKey]:
        """(owner, public key) for a keyId; raises KeyNotFound when it cannot be had."""
        if not refresh:
            cached = self.keys.get(key_id)
            if cached is not None:
                return cached
            stored = await self.store.get_key(key_id)
            if stored is not None:
                owner, pem = stored
                value = (owner, load_public_pem(pem))
                self.keys.put(key_id, value)
                return value
        try:
            document = await self.fetcher.get_json(key_id.split("#")[0] if "#" in key_id
                                                   else key_id)
            owner, pem = parse_key_document(document, key_id)
        except (FetchError, MalformedActivity) as exc:
            raise KeyNotFound(f"cannot get key {key_id}: {exc}") from exc
        except OriginMismatch as exc:
            # An owner on another host: the key cannot speak for anyone, so there is no
            # key to check the signature with (401, as for any key we cannot have).
            raise KeyNotFound(f"key {key_id} cannot be used: {exc.message}") from exc
        # Loaded before anything is stored: a key that does not load (KeyFormatError)
        # must leave no trace, neither the key nor the actor document that served it.
        value = (owner, load_public_pem(pem))
        ops: list[PutActor | PutKey] = [PutKey(key_id=key_id, owner=owner, pem=pem,
                                               fetched_at=self.now())]
        try:
            actor = parse_actor(document)
            if actor.id == owner:
                ops.append(PutActor(actor=actor_record(actor, local=False, now=self.now())))
        except MalformedActivity:
            pass  # a bare key document: the actor is fetched when it is needed
        await self.store.apply(ops)
        self.keys.put(key_id, value)
        return value


def _loads(pem: str) -> bool:
    try:
        load_public_pem(pem)
    except KeyFormatError:
        return False
    return True
