"""Contract: local accounts, known actors, their keys and bearer tokens.

Covers ``CreateAccount``, ``PutActor``, ``DeleteActor``, ``PutKey``, ``CreateToken`` and
``UpdateProfile`` and the reads ``get_account``, ``get_account_by_actor``, ``get_actor``,
``get_key``, ``get_token``, ``count_local_accounts`` and ``count_local_posts``.
"""

from __future__ import annotations

import dataclasses

import pytest

from storage.api import UpdateProfile
from storage.records import CreateToken, DeleteActor, PutActor, PutKey, TombstoneObject
from storage.store import AlreadyExists, StorageError, Store
from tests.storage.builders import T0, account, actor_id, follow, post, remote_actor, sha


async def test_created_account_reads_back_by_name_and_by_actor(store: Store) -> None:
    op = account("ana", email="ana@example.org", admin=True, manually_approves=True,
                 display_name="Ana")
    await store.apply([op])
    by_name = await store.get_account("ana")
    assert by_name == op.account
    assert await store.get_account_by_actor(op.account.actor_id) == op.account
    assert await store.get_actor(op.account.actor_id) == op.actor


async def test_account_lookup_by_name_ignores_case(store: Store) -> None:
    await store.apply([account("ana")])
    found = await store.get_account("ANA")
    assert found is not None
    assert found.username == "ana"


async def test_missing_account_actor_and_key_read_as_none(store: Store) -> None:
    assert await store.get_account("nobody") is None
    assert await store.get_account_by_actor(actor_id("nobody")) is None
    assert await store.get_actor("https://remote.example/users/nobody") is None
    assert await store.get_key("https://remote.example/users/nobody#main-key") is None
    assert await store.get_token(sha("no such token")) is None


async def test_second_account_with_the_same_name_is_refused(store: Store) -> None:
    await store.apply([account("ana")])
    with pytest.raises(AlreadyExists):
        await store.apply([account("ana", display_name="impostor")])
    found = await store.get_account("ana")
    assert found is not None
    assert found.display_name == ""


async def test_count_local_accounts_counts_people_only(store: Store) -> None:
    assert await store.count_local_accounts() == 0
    await store.apply([account("ana"), account("bob"),
                       account("instance.actor", kind="application"),
                       account("gardeners", kind="group")])
    assert await store.count_local_accounts() == 2


async def test_count_local_posts_counts_live_local_objects(store: Store) -> None:
    ana = account("ana")
    await store.apply([ana, PutActor(actor=remote_actor("zoe"))])
    mine = [post(ana.account.actor_id) for _ in range(3)]
    theirs = post(actor_id("zoe", host="remote.example"))  # remote: does not count
    for written in [*mine, theirs]:
        await store.apply(written.ops)
    assert await store.count_local_posts() == 3
    assert mine[0].object_id is not None
    await store.apply([TombstoneObject(id=mine[0].object_id, document="{}", deleted_at=T0 + 1)])
    assert await store.count_local_posts() == 2


async def test_put_actor_replaces_the_stored_document(store: Store) -> None:
    zoe = remote_actor("zoe")
    await store.apply([PutActor(actor=zoe)])
    assert await store.get_actor(zoe.id) == zoe
    moved = dataclasses.replace(zoe, document='{"name": "Zoë"}', shared_inbox=None,
                                fetched_at=T0 + 100)
    await store.apply([PutActor(actor=moved)])
    assert await store.get_actor(zoe.id) == moved


async def test_delete_actor_marks_it_gone_and_forgets_its_follows_and_keys(
        store: Store) -> None:
    ana = account("ana")
    zoe = remote_actor("zoe")
    key_id = f"{zoe.id}#main-key"
    await store.apply([ana, PutActor(actor=zoe),
                       PutKey(key_id=key_id, owner=zoe.id, pem="PEM", fetched_at=T0),
                       *follow(zoe.id, ana.account.actor_id).ops,
                       *follow(ana.account.actor_id, zoe.id).ops])
    await store.apply([DeleteActor(id=zoe.id)])
    gone = await store.get_actor(zoe.id)
    assert gone is not None
    assert gone.gone
    assert await store.get_key(key_id) is None
    assert await store.get_follow(zoe.id, ana.account.actor_id) is None
    assert await store.get_follow(ana.account.actor_id, zoe.id) is None


async def test_delete_actor_never_marks_a_local_actor_gone(store: Store) -> None:
    ana = account("ana")
    await store.apply([ana])
    await store.apply([DeleteActor(id=ana.account.actor_id)])
    actor = await store.get_actor(ana.account.actor_id)
    assert actor is not None
    assert not actor.gone


async def test_put_key_stores_then_replaces_a_key(store: Store) -> None:
    key_id = "https://remote.example/users/zoe#main-key"
    await store.apply([PutKey(key_id=key_id, owner="https://remote.example/users/zoe",
                              pem="OLD", fetched_at=T0)])
    assert await store.get_key(key_id) == ("https://remote.example/users/zoe", "OLD")
    await store.apply([PutKey(key_id=key_id, owner="https://remote.example/users/zoe",
                              pem="ROTATED", fetched_at=T0 + 5)])
    assert await store.get_key(key_id) == ("https://remote.example/users/zoe", "ROTATED")


async def test_created_token_reads_back_by_hash_unrevoked(store: Store) -> None:
    await store.apply([account("ana")])
    await store.apply([CreateToken(token_hash=sha("t1"), username="ana", scopes="read write",
                                   created_at=T0)])
    found = await store.get_token(sha("t1"))
    assert found is not None
    assert (found.username, found.scopes, found.created_at, found.revoked) == (
        "ana", "read write", T0, False)
    assert (found.app_id, found.refresh_hash, found.expires_at) == (None, None, None)


async def test_token_for_an_unknown_account_is_refused(store: Store) -> None:
    with pytest.raises(StorageError):
        await store.apply([CreateToken(token_hash=sha("t"), username="ghost", scopes="read",
                                       created_at=T0)])
    assert await store.get_token(sha("t")) is None


async def test_duplicate_token_hash_is_refused(store: Store) -> None:
    await store.apply([account("ana")])
    op = CreateToken(token_hash=sha("t"), username="ana", scopes="read", created_at=T0)
    await store.apply([op])
    with pytest.raises(AlreadyExists):
        await store.apply([op])


async def test_update_profile_changes_the_account_only(store: Store) -> None:
    ana = account("ana")
    await store.apply([ana])
    await store.apply([UpdateProfile(username="ana", actor_id=ana.account.actor_id,
                                     display_name="Ana B.", summary="<p>gardener</p>",
                                     manually_approves=True)])
    found = await store.get_account("ana")
    assert found is not None
    assert (found.display_name, found.summary, found.manually_approves) == (
        "Ana B.", "<p>gardener</p>", True)
    assert found.rsa_private_pem == ana.account.rsa_private_pem
    views = await store.api_accounts([ana.account.actor_id])
    assert views[ana.account.actor_id].manually_approves
