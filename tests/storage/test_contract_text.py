"""Contract: text as it comes from the network — any Unicode, big documents, NULs.

Ids, names and error messages reach the store straight from requests and remote
servers, so the store must take whatever a peer can send. A NUL character is the hard
case: sqlite keeps it, PostgreSQL text cannot hold one. The contract is what the node
relies on: a lookup by an id holding a NUL finds nothing (it names nothing stored),
bookkeeping text (a job's or a host's last error) is kept up to the NUL at least, and
no driver error ever escapes the ``StorageError`` tree.
"""

from __future__ import annotations

import json

import pytest

from storage.api import UpdateProfile
from storage.records import PutActor
from storage.store import StorageError, Store
from tests.storage.builders import T0, account, actor_id, delivery, post, remote_actor

NUL_ID = "https://remote.example/users/a\x00b"


async def test_any_unicode_round_trips(store: Store) -> None:
    name = "Zoë 🌱 ‏שלום‎ e\u0301 \U0001f9d1\u200d\U0001f33e"
    zoe = remote_actor("zoe", name=name)
    written = post(zoe.id, content=name)
    await store.apply([account("ana"), PutActor(actor=zoe), *written.ops,
                       UpdateProfile(username="ana", actor_id=actor_id("ana"),
                                     display_name=name, summary=f"<p>{name}</p>",
                                     manually_approves=False)])
    stored = await store.get_actor(zoe.id)
    assert stored is not None
    assert json.loads(stored.document)["name"] == name
    obj = await store.get_object(written.object_id or "")
    assert obj is not None
    assert name in json.loads(obj.document)["content"]
    ana = await store.get_account("ana")
    assert ana is not None
    assert (ana.display_name, ana.summary) == (name, f"<p>{name}</p>")


async def test_a_large_document_round_trips(store: Store) -> None:
    text = "lorem ipsum " * 40_000  # ~480 KB, a long article
    written = post(actor_id("zoe", host="remote.example"), content=text)
    await store.apply(written.ops)
    obj = await store.get_object(written.object_id or "")
    assert obj is not None
    assert len(obj.document) > 480_000
    assert json.loads(obj.document)["content"] == f"<p>{text}</p>"


async def test_lookups_by_an_id_holding_a_nul_find_nothing(store: Store) -> None:
    await store.apply([account("ana"), PutActor(actor=remote_actor("zoe"))])
    assert await store.get_account("a\x00na") is None
    assert await store.get_account_by_actor(NUL_ID) is None
    assert await store.get_actor(NUL_ID) is None
    assert await store.get_key(f"{NUL_ID}#main-key") is None
    assert await store.get_token("\x00") is None
    assert await store.get_activity(NUL_ID) is None
    assert not await store.has_activity(NUL_ID)
    assert await store.get_object(NUL_ID) is None
    assert await store.get_follow(NUL_ID, actor_id("ana")) is None
    assert not await store.is_blocked(actor_id("ana"), NUL_ID)
    assert not await store.is_domain_blocked("remote\x00.example")
    assert await store.api_account_id(NUL_ID) is None
    assert await store.api_actor_by_acct("a\x00na", None) is None
    assert await store.status_for_object(NUL_ID) is None
    assert await store.get_app("client\x00") is None
    assert await store.get_account_by_email("ana\x00@example.org") is None
    assert await store.get_meta("key\x00") is None
    assert await store.host_state("remote\x00.example") is None


async def test_job_and_host_errors_holding_a_nul_are_kept(store: Store) -> None:
    """A remote server's error text lands in ``last_error``; refusing it would leave
    the worker unable to record the failure, so it must be kept (at least up to the
    NUL)."""
    [job_id] = (await store.apply([delivery(run_at=T0)])).job_ids
    await store.claim_jobs(["deliver"], T0, 30, 1)
    await store.retry_job(job_id, T0, "HTTP 500: boom\x00tail")
    [job] = await store.claim_jobs(["deliver"], T0, 30, 1)
    assert job.last_error is not None
    assert job.last_error.startswith("HTTP 500: boom")
    state = await store.record_host_result("remote.example", ok=False, error="bad\x00gate",
                                           paused_until=None)
    assert (state.last_error or "").startswith("bad")


async def test_a_write_holding_a_nul_is_stored_or_refused_cleanly(store: Store) -> None:
    """A client may send a display name with a NUL (JSON ``\\u0000``): the store keeps
    it or refuses with a StorageError the API can answer — never a driver error."""
    await store.apply([account("ana")])
    try:
        await store.apply([UpdateProfile(username="ana", actor_id=actor_id("ana"),
                                         display_name="Ana\x00", summary="",
                                         manually_approves=False)])
    except StorageError:
        found = await store.get_account("ana")
        assert found is not None
        assert found.display_name == ""  # refused: nothing changed
    else:
        found = await store.get_account("ana")
        assert found is not None
        assert found.display_name.startswith("Ana")


@pytest.mark.parametrize("bad", ["\x00", "a\x00b"])
async def test_search_with_a_nul_answers_without_error(store: Store, bad: str) -> None:
    await store.apply([account("ana")])
    found = await store.api_search_accounts(bad, limit=5, offset=0, following_of=None)
    assert all(v.username for v in found)
    assert isinstance(await store.api_search_tags(bad, 5, 0), list)
