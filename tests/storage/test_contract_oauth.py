"""Contract: OAuth2 applications, codes and tokens; instance reads.

Covers ``PutApp``, ``PutAuthCode``, ``UseAuthCode``, ``PutToken`` and ``RevokeToken``
and the reads ``get_app``, ``get_app_by_id``, ``get_auth_code``, ``get_token`` (OAuth
fields), ``get_token_by_refresh``, ``get_account_by_email`` and ``known_peers``.
Spending a code and rotating a refresh token are conditional writes: when the grant is
spent the whole operation list rolls back (``GrantAlreadyUsed``), so one grant can
never buy two tokens (RFC 6749 §4.1.2, §10.4).
"""

from __future__ import annotations

import pytest

from storage.oauth import AppRecord, GrantAlreadyUsed, RevokeToken, UseAuthCode
from storage.records import PutActor, SetDomainBlock
from storage.store import AlreadyExists, StorageError, Store
from tests.storage.builders import T0, account, app, auth_code, remote_actor, sha, token


async def _app_id(store: Store, client_id: str = "tusky") -> int:
    await store.apply([account("ana"), app(client_id=client_id)])
    found = await store.get_app(client_id)
    assert found is not None
    return found.id


async def test_registered_app_reads_back_by_client_id_and_by_id(store: Store) -> None:
    op = app("Tusky", client_id="tusky")
    await store.apply([op])
    found = await store.get_app("tusky")
    assert found is not None
    assert found == AppRecord(id=found.id, client_id="tusky",
                              client_secret_hash=op.client_secret_hash, name="Tusky",
                              redirect_uris=op.redirect_uris, scopes=op.scopes,
                              website=op.website, created_at=T0)
    assert await store.get_app_by_id(found.id) == found
    assert await store.get_app("unknown") is None
    assert await store.get_app_by_id(found.id + 1000) is None


async def test_apps_get_distinct_ids_and_client_ids_are_unique(store: Store) -> None:
    await store.apply([app(client_id="a"), app(client_id="b")])
    a, b = await store.get_app("a"), await store.get_app("b")
    assert a is not None
    assert b is not None
    assert a.id != b.id
    with pytest.raises(AlreadyExists):
        await store.apply([app("Other", client_id="a")])
    again = await store.get_app("a")
    assert again is not None
    assert again.name == "Tusky"


async def test_auth_code_reads_back_and_is_spent_once(store: Store) -> None:
    app_id = await _app_id(store)
    put = auth_code(app_id, "ana", code="abc")
    await store.apply([put])
    assert await store.get_auth_code(sha("abc")) == put.code
    assert await store.get_auth_code(sha("other")) is None
    first = token("ana", app_id=app_id, refresh="r1")
    await store.apply([UseAuthCode(code_hash=sha("abc"), at=T0 + 1), first])
    spent = await store.get_auth_code(sha("abc"))
    assert spent is not None
    assert spent.used
    second = token("ana", app_id=app_id, refresh="r2")
    with pytest.raises(GrantAlreadyUsed):
        await store.apply([UseAuthCode(code_hash=sha("abc"), at=T0 + 2), second])
    assert await store.get_token(first.token_hash) is not None
    assert await store.get_token(second.token_hash) is None


async def test_expired_or_unknown_code_buys_nothing(store: Store) -> None:
    app_id = await _app_id(store)
    await store.apply([auth_code(app_id, "ana", code="late", expires_at=T0 + 600)])
    late = token("ana", app_id=app_id)
    with pytest.raises(GrantAlreadyUsed):
        await store.apply([UseAuthCode(code_hash=sha("late"), at=T0 + 600), late])
    with pytest.raises(GrantAlreadyUsed):
        await store.apply([UseAuthCode(code_hash=sha("never issued"), at=T0), late])
    assert await store.get_token(late.token_hash) is None
    code = await store.get_auth_code(sha("late"))
    assert code is not None
    assert not code.used


async def test_auth_code_for_an_unknown_app_is_refused(store: Store) -> None:
    await store.apply([account("ana")])
    with pytest.raises(StorageError):
        await store.apply([auth_code(424242, "ana", code="orphan")])
    assert await store.get_auth_code(sha("orphan")) is None


async def test_oauth_token_reads_back_by_access_and_refresh_hash(store: Store) -> None:
    app_id = await _app_id(store)
    put = token("ana", app_id=app_id, refresh="refresh-1", expires_at=T0 + 7200,
                secret="access-1")
    await store.apply([put])
    found = await store.get_token(sha("access-1"))
    assert found is not None
    assert (found.token_hash, found.username, found.scopes, found.app_id, found.refresh_hash,
            found.expires_at, found.created_at, found.revoked) == (
        sha("access-1"), "ana", put.scopes, app_id, sha("refresh-1"), T0 + 7200, T0, False)
    assert await store.get_token_by_refresh(sha("refresh-1")) == found
    assert await store.get_token_by_refresh(sha("access-1")) is None


async def test_app_only_token_has_no_user(store: Store) -> None:
    app_id = await _app_id(store)
    await store.apply([token(None, app_id=app_id, secret="app-only")])
    found = await store.get_token(sha("app-only"))
    assert found is not None
    assert (found.username, found.app_id) == (None, app_id)


async def test_revoke_by_access_or_refresh_hash(store: Store) -> None:
    app_id = await _app_id(store)
    await store.apply([token("ana", app_id=app_id, secret="a1", refresh="r1"),
                       token("ana", app_id=app_id, secret="a2", refresh="r2")])
    await store.apply([RevokeToken(token_hash=sha("a1"))])
    await store.apply([RevokeToken(token_hash=sha("r2"))])
    for secret in ("a1", "a2"):
        found = await store.get_token(sha(secret))
        assert found is not None
        assert found.revoked
    await store.apply([RevokeToken(token_hash=sha("a1"))])  # revoking again is harmless
    await store.apply([RevokeToken(token_hash=sha("unknown"))])


async def test_refresh_token_is_spent_exactly_once(store: Store) -> None:
    app_id = await _app_id(store)
    await store.apply([token("ana", app_id=app_id, secret="a1", refresh="r1")])
    rotated = token("ana", app_id=app_id, secret="a2", refresh="r2")
    await store.apply([RevokeToken(token_hash=sha("r1"), require_active=True), rotated])
    replay = token("ana", app_id=app_id, secret="a3", refresh="r3")
    with pytest.raises(GrantAlreadyUsed):
        await store.apply([RevokeToken(token_hash=sha("r1"), require_active=True), replay])
    assert await store.get_token(rotated.token_hash) is not None
    assert await store.get_token(replay.token_hash) is None


async def test_duplicate_token_or_refresh_hash_is_refused(store: Store) -> None:
    app_id = await _app_id(store)
    await store.apply([token("ana", app_id=app_id, secret="a1", refresh="r1")])
    with pytest.raises(AlreadyExists):
        await store.apply([token("ana", app_id=app_id, secret="a1")])
    with pytest.raises(AlreadyExists):
        await store.apply([token("ana", app_id=app_id, secret="a9", refresh="r1")])
    assert await store.get_token(sha("a9")) is None


async def test_account_by_email_ignores_case(store: Store) -> None:
    await store.apply([account("ana", email="Ana@Example.org"), account("bob")])
    found = await store.get_account_by_email("ana@example.ORG")
    assert found is not None
    assert found.username == "ana"
    assert await store.get_account_by_email("bob@example.org") is None


async def test_known_peers_are_remote_hosts_not_blocked_nor_gone(store: Store) -> None:
    assert await store.known_peers() == []
    actors = [remote_actor("a", host="b.example"), remote_actor("b", host="b.example"),
              remote_actor("c", host="a.example"), remote_actor("d", host="spam.example"),
              remote_actor("e", host="dead.example", gone=True)]
    await store.apply([account("ana"), *(PutActor(actor=a) for a in actors),
                       SetDomainBlock(domain="spam.example", blocked=True, created_at=T0)])
    assert await store.known_peers() == ["a.example", "b.example"]
