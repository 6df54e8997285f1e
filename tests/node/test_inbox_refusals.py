"""Acceptance item 4: what the inbox must refuse, it refuses with a 4xx, a reason, and
no change.

One real node (a subprocess driven over HTTP) and a fake remote server whose keys the
test holds (``tests.support.peer``). Every refusal is paired with a positive control —
the same request well signed, or the permitted variant, is accepted with 202 — so no
test can pass because the inbox refuses everything. "Changes nothing" is checked three
ways: the member's collections keep their sizes, the specific effect is absent, and the
later valid request is answered ``accepted`` rather than ``duplicate``, which proves the
refused one stored no activity.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from tests.support.activities import create_note, uid
from tests.support.home import Home, home_node
from tests.support.peer import (
    Outgoing,
    Peer,
    RemoteActor,
    alter_digest,
    bad_signature_bytes,
    drop_header,
    key_for,
    tamper_body,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"


class Env(Home):
    """ana's node and a remote server; each test takes fresh remote actors from it."""

    peer: Peer

    def sender(self, prefix: str = "s") -> RemoteActor:
        """A fresh remote actor (shared key: RSA generation is slow; key ids differ)."""
        return self.peer.actor(f"{prefix}-{uid()}", key=key_for("refusals-sender"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with home_node(tmp_path_factory.mktemp("refusals")) as home, Peer() as peer:
        env = Env(node=home.node, ana=home.ana)
        env.peer = peer
        yield env


def follow(sender: RemoteActor, target: str) -> dict[str, Any]:
    return {"@context": AS, "id": f"{sender.id}#follows/{uid()}", "type": "Follow",
            "actor": sender.id, "object": target}


async def accepted(env: Env, activity: dict[str, Any], sender: RemoteActor) -> None:
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
    assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply


# -- signatures, digests, dates, keys: the request alone decides -----------------------

Breakage = Callable[[Env, RemoteActor], dict[str, Any]]
HOURS_2 = timedelta(hours=2)


def _another_actors_key(env: Env, sender: RemoteActor) -> dict[str, Any]:
    other = env.sender("other")
    return {"key_id": other.key_id, "private_key": other.key}


SIGNATURE_CASES = [
    pytest.param(lambda e, s: {"scheme": "none"}, "signature-missing", id="no-signature"),
    pytest.param(lambda e, s: {"mutate": lambda r: r.headers.update(Signature="garbage")},
                 "signature-malformed", id="garbage-signature-header"),
    pytest.param(lambda e, s: {"mutate": bad_signature_bytes}, "signature-invalid",
                 id="bad-signature-bytes"),
    pytest.param(lambda e, s: {"private_key": key_for("intruder")}, "signature-invalid",
                 id="signed-with-a-key-not-the-actors"),
    pytest.param(lambda e, s: {"mutate": tamper_body}, "digest-mismatch",
                 id="body-altered-after-signing"),
    pytest.param(lambda e, s: {"mutate": alter_digest}, "digest-mismatch",
                 id="digest-of-another-body"),
    pytest.param(lambda e, s: {"mutate": drop_header("Digest")}, "signature-component-missing",
                 id="digest-header-missing"),
    pytest.param(lambda e, s: {"covered": ("(request-target)", "host", "date")},
                 "signature-component-missing", id="digest-not-signed"),
    pytest.param(lambda e, s: {"covered": ("(request-target)", "host", "digest")},
                 "signature-component-missing", id="date-not-signed"),
    pytest.param(lambda e, s: {"covered": ("host", "date", "digest")},
                 "signature-component-missing", id="request-target-not-signed"),
    pytest.param(lambda e, s: {"now": datetime.now(UTC) - HOURS_2}, "date-skew",
                 id="date-2h-stale"),
    pytest.param(lambda e, s: {"now": datetime.now(UTC) + HOURS_2}, "date-skew",
                 id="date-2h-future"),
    pytest.param(lambda e, s: {"key_id": f"{e.peer.url}/users/ghost-{uid()}#main-key"},
                 "key-not-found", id="unknown-key-id"),
    pytest.param(_another_actors_key, "signer-not-actor", id="key-of-another-actor-same-host"),
]


@dataclass
class Scenario:
    activity: dict[str, Any]
    landed: Callable[[], Awaitable[bool]]


def scenario(kind: str, env: Env, sender: RemoteActor) -> Scenario:
    if kind == "create":
        activity = create_note(sender, env.ana.actor_id)
        note_id = activity["object"]["id"]

        async def note_landed() -> bool:
            return note_id in await env.inbox_object_ids()

        return Scenario(activity, note_landed)
    activity = follow(sender, env.ana.actor_id)

    async def follower_landed() -> bool:
        return sender.id in await env.followers()

    return Scenario(activity, follower_landed)


@pytest.mark.parametrize("kind", ["create", "follow"])
@pytest.mark.parametrize(("breakage", "reason"), SIGNATURE_CASES)
async def test_badly_signed_post_is_refused_with_401_and_changes_nothing(
    env: Env, kind: str, breakage: Breakage, reason: str
) -> None:
    sender = env.sender()
    case = scenario(kind, env, sender)
    before = await env.snapshot()

    reply = await env.peer.signed_post(env.inbox, case.activity, actor=sender,
                                       **breakage(env, sender))

    assert (reply.status, reply.reason) == (401, reason), reply.body
    assert reply.error, "the refusal says why in words too"
    assert await env.snapshot() == before
    assert not await case.landed()
    # Positive control: the same activity, well signed, is new to the node and lands.
    await accepted(env, case.activity, sender)
    assert await case.landed()


async def test_follow_accepted_after_refusal_is_answered_with_an_accept(env: Env) -> None:
    sender = env.sender()
    activity = follow(sender, env.ana.actor_id)
    refused = await env.peer.signed_post(env.inbox, activity, actor=sender, mutate=tamper_body)
    assert refused.status == 401
    await accepted(env, activity, sender)
    answer = await env.peer.wait_for(
        lambda r: r.json["type"] == "Accept" and r.json["object"]["id"] == activity["id"])
    assert answer.path in (f"/users/{sender.id.rsplit('/', 1)[1]}/inbox", "/inbox")
    assert answer.json["actor"] == env.ana.actor_id


async def test_rfc9421_signed_create_is_accepted(env: Env) -> None:
    sender = env.sender()
    activity = create_note(sender, env.ana.actor_id)
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender, scheme="rfc9421")
    assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply
    assert activity["object"]["id"] in await env.inbox_object_ids()


async def test_rfc9421_signature_over_a_tampered_body_is_refused(env: Env) -> None:
    sender = env.sender()
    activity = create_note(sender, env.ana.actor_id)
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender, scheme="rfc9421",
                                       mutate=tamper_body)
    assert (reply.status, reply.reason) == (401, "digest-mismatch"), reply
    assert activity["object"]["id"] not in await env.inbox_object_ids()


async def test_replayed_identical_request_is_harmless_and_stored_once(env: Env) -> None:
    sender = env.sender()
    activity = create_note(sender, env.ana.actor_id)
    sent: list[Outgoing] = []
    first = await env.peer.signed_post(
        env.inbox, activity, actor=sender,
        mutate=lambda r: sent.append(Outgoing(url=r.url, headers=dict(r.headers), body=r.body)))
    assert (first.status, first.body) == (202, {"status": "accepted"})
    before = await env.snapshot()

    again = await env.peer.send(sent[0])

    assert (again.status, again.body) == (202, {"status": "duplicate"})
    assert await env.snapshot() == before
    assert (await env.inbox_object_ids()).count(activity["object"]["id"]) == 1


# -- authentic, but not allowed: origin and ownership ---------------------------------


async def test_create_of_an_object_on_another_host_is_refused_403(env: Env) -> None:
    sender = env.sender()
    forged = create_note(sender, env.ana.actor_id,
                         object_id=f"https://elsewhere.example/statuses/{uid()}")
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, forged, actor=sender)
    assert (reply.status, reply.reason) == (403, "origin-mismatch"), reply
    assert await env.snapshot() == before
    assert forged["object"]["id"] not in await env.inbox_object_ids()
    # Control: the same activity with the object on the actor's own host.
    forged["object"]["id"] = f"{sender.id}/statuses/{uid()}"
    await accepted(env, forged, sender)


async def test_remote_delete_of_a_local_post_is_refused_403(env: Env) -> None:
    sender = env.sender()
    post = await env.ana.post({"type": "Note", "content": "mine, not yours"})
    note_id = post["object"]["id"]
    delete = {"@context": AS, "id": f"{sender.id}#deletes/{uid()}", "type": "Delete",
              "actor": sender.id, "object": note_id, "to": [PUBLIC]}
    before = await env.snapshot()
    reply = await env.peer.signed_post(f"{env.node.url}/inbox", delete, actor=sender)
    assert (reply.status, reply.reason) == (403, "origin-mismatch"), reply
    assert await env.snapshot() == before
    status, doc = await env.node.get(note_id)
    assert (status, doc["type"]) == (200, "Note")
    # Control: the sender may delete its own post, which becomes a Tombstone.
    create = create_note(sender, env.ana.actor_id)
    await accepted(env, create, sender)
    own = dict(delete, id=f"{sender.id}#deletes/{uid()}", object=create["object"]["id"])
    await accepted(env, own, sender)
    items = [i for i in await env.inbox_items() if i["id"] == create["id"]]
    assert items[0]["object"]["type"] == "Tombstone"


async def test_accept_of_a_follow_never_sent_is_refused(env: Env) -> None:
    sender = env.sender()
    accept = {"@context": AS, "id": f"{sender.id}#accepts/{uid()}", "type": "Accept",
              "actor": sender.id,
              "object": {"id": f"{env.node.url}/activities/{uuid.uuid4()}", "type": "Follow",
                         "actor": env.ana.actor_id, "object": sender.id}}
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, accept, actor=sender)
    assert (reply.status, reply.reason) == (422, "no-such-follow"), reply
    assert await env.snapshot() == before
    assert sender.id not in await env.following()
    # Control: once ana has asked to follow, the same Accept is taken.
    await env.ana.post({"type": "Follow", "object": sender.id})
    await accepted(env, accept, sender)
    assert sender.id in await env.following()


async def test_undo_of_someone_elses_follow_is_refused_403(env: Env) -> None:
    victim, mallory = env.sender("victim"), env.sender("mallory")
    victims_follow = follow(victim, env.ana.actor_id)
    await accepted(env, victims_follow, victim)
    undo = {"@context": AS, "id": f"{mallory.id}#undo/{uid()}", "type": "Undo",
            "actor": mallory.id, "object": victims_follow}
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, undo, actor=mallory)
    assert (reply.status, reply.reason) == (403, "not-own-activity"), reply
    assert await env.snapshot() == before
    assert victim.id in await env.followers()
    # The same by reference to the stored Follow, rather than embedded.
    by_id = dict(undo, id=f"{mallory.id}#undo/{uid()}", object=victims_follow["id"])
    reply = await env.peer.signed_post(env.inbox, by_id, actor=mallory)
    assert (reply.status, reply.reason) == (403, "not-own-activity"), reply
    # Control: the follower may undo its own Follow.
    own = dict(undo, id=f"{victim.id}#undo/{uid()}", actor=victim.id)
    await accepted(env, own, victim)
    assert victim.id not in await env.followers()


async def test_update_of_another_actor_is_refused_403(env: Env) -> None:
    sender, other = env.sender(), env.sender("other")
    update = {"@context": AS, "id": f"{sender.id}#updates/{uid()}", "type": "Update",
              "actor": sender.id, "object": dict(other.document, name="Hijacked")}
    reply = await env.peer.signed_post(env.inbox, update, actor=sender)
    assert (reply.status, reply.reason) == (403, "not-self"), reply
    update["object"] = dict(sender.document, name="Renamed")
    await accepted(env, update, sender)


# -- shapes and sizes: never a 500 ------------------------------------------------------


def _without(key: str) -> Callable[[dict[str, Any]], bytes]:
    def build(activity: dict[str, Any]) -> bytes:
        return json.dumps({k: v for k, v in activity.items() if k != key}).encode()

    return build


def _object_id(value: str) -> Callable[[dict[str, Any]], bytes]:
    def build(activity: dict[str, Any]) -> bytes:
        return json.dumps(dict(activity, object=dict(activity["object"], id=value))).encode()

    return build


def _nested(depth: int) -> Callable[[dict[str, Any]], bytes]:
    def build(activity: dict[str, Any]) -> bytes:
        head = json.dumps(activity)[:-1]
        return (head + ', "deep": ' + "[" * depth + "]" * depth + "}").encode()

    return build


def _padded(size: int) -> Callable[[dict[str, Any]], bytes]:
    def build(activity: dict[str, Any]) -> bytes:
        return json.dumps(dict(activity, padding="x" * size)).encode()

    return build


SHAPE_CASES = [
    pytest.param(lambda a: b'{"id": "https://x.example/1", "type": ', 400, "malformed-json",
                 "not JSON", id="malformed-json"),
    pytest.param(lambda a: b"\xff\xfe{}", 400, "malformed-json", "not JSON",
                 id="not-utf8"),
    pytest.param(lambda a: json.dumps([a]).encode(), 400, "malformed-activity",
                 "not a JSON object", id="json-array-body"),
    pytest.param(lambda a: b'"Create"', 400, "malformed-activity", "not a JSON object",
                 id="json-string-body"),
    pytest.param(_without("id"), 400, "malformed-activity", "has no id", id="no-id"),
    pytest.param(_without("type"), 400, "malformed-activity", "has no type", id="no-type"),
    pytest.param(_without("actor"), 400, "malformed-activity", "has no actor", id="no-actor"),
    pytest.param(_object_id("urn:uuid:7b0d1f6e-8d4f-4f38-9f0c-1c2d3e4f5a6b"), 400,
                 "malformed-activity", "not an http(s) URL", id="object-id-not-http"),
    pytest.param(_object_id("javascript:alert(1)"), 400, "malformed-activity",
                 "not an http(s) URL", id="object-id-javascript"),
    pytest.param(_padded(2_000_000), 413, "too-large", "larger than", id="two-megabyte-body"),
    pytest.param(_nested(10_000), 400, "too-deep", "nested", id="json-nested-10000-deep"),
]


@pytest.mark.parametrize(("build", "status", "reason", "says"), SHAPE_CASES)
async def test_malformed_or_oversize_body_gets_4xx_never_500(
    env: Env, build: Callable[[dict[str, Any]], bytes], status: int, reason: str, says: str
) -> None:
    sender = env.sender()
    activity = create_note(sender, env.ana.actor_id)
    before = await env.snapshot()

    reply = await env.peer.signed_post(env.inbox, build(activity), actor=sender)

    assert (reply.status, reply.reason) == (status, reason), reply
    assert says in reply.error
    assert await env.snapshot() == before
    # Control: the well-formed activity, from the same sender, is new and accepted.
    await accepted(env, activity, sender)
    assert activity["object"]["id"] in await env.inbox_object_ids()


# -- keys that do not load -------------------------------------------------------------

GARBAGE_PEM = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"


async def test_actor_whose_key_does_not_load_is_refused_401_and_refetched_later(env: Env) -> None:
    sender = env.sender()
    env.peer.serve(dict(sender.document, publicKey=dict(sender.document["publicKey"],
                                                        publicKeyPem=GARBAGE_PEM)))
    activity = create_note(sender, env.ana.actor_id)
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
    assert (reply.status, reply.reason) == (401, "key-malformed"), reply
    assert await env.snapshot() == before
    # Control: once the actor serves a usable key, the node fetches it again.
    env.peer.serve(sender.document)
    await accepted(env, activity, sender)


async def test_update_with_an_unusable_key_is_refused_400(env: Env) -> None:
    sender = env.sender()
    await accepted(env, follow(sender, env.ana.actor_id), sender)
    broken = dict(sender.document, publicKey=dict(sender.document["publicKey"],
                                                  publicKeyPem=GARBAGE_PEM))
    update = {"@context": AS, "id": f"{sender.id}#updates/{uid()}", "type": "Update",
              "actor": sender.id, "object": broken}
    reply = await env.peer.signed_post(env.inbox, update, actor=sender)
    assert (reply.status, reply.reason) == (400, "key-malformed"), reply
    await accepted(env, create_note(sender, env.ana.actor_id), sender)


async def test_remote_update_of_a_local_post_is_refused_403(env: Env) -> None:
    sender = env.sender()
    note = (await env.ana.post({"type": "Note", "content": "my own words"}))["object"]
    forged = {"@context": AS, "id": f"{sender.id}#updates/{uid()}", "type": "Update",
              "actor": sender.id, "object": dict(note, content="<p>forged words</p>")}
    reply = await env.peer.signed_post(env.inbox, forged, actor=sender)
    assert (reply.status, reply.reason) == (403, "not-author"), reply
    _, served = await env.node.get(note["id"])
    assert "my own words" in served["content"]
    # Control: the sender may edit its own post.
    create = create_note(sender, env.ana.actor_id)
    await accepted(env, create, sender)
    edit = dict(forged, id=f"{sender.id}#updates/{uid()}",
                object=dict(create["object"], content="<p>edited</p>"))
    await accepted(env, edit, sender)
    item = await env.inbox_item(create["id"])
    assert item is not None
    assert item["object"]["content"] == "<p>edited</p>"


@pytest.mark.parametrize("shape", ["embedded", "by-id"])
async def test_update_of_an_unknown_post_on_another_host_is_refused_403(
        env: Env, shape: str) -> None:
    """Found by bench/soak.py: an Update of a post this node never saw is ignored, but it
    was answered 202 and stored, so anyone could plant an "edit" of another host's post
    (addressed to ana, it sat in her inbox with the forged text)."""
    sender = env.sender()
    elsewhere = f"https://elsewhere.example/statuses/{uid()}"
    note = {"id": elsewhere, "type": "Note", "attributedTo": "https://elsewhere.example/users/bo",
            "to": [env.ana.actor_id], "content": "<p>forged words</p>"}
    forged = {"@context": AS, "id": f"{sender.id}#updates/{uid()}", "type": "Update",
              "actor": sender.id, "to": [env.ana.actor_id],
              "object": note if shape == "embedded" else elsewhere}
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, forged, actor=sender)
    assert (reply.status, reply.reason) == (403, "origin-mismatch"), reply
    assert await env.snapshot() == before
    # Control: the same activity about the sender's own unknown post is taken, and as
    # "accepted", not "duplicate": the refused one stored nothing.
    own = f"{sender.id}/statuses/{uid()}"
    forged["object"] = dict(note, id=own, attributedTo=sender.id) if shape == "embedded" else own
    await accepted(env, forged, sender)
