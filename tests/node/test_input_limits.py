"""Inputs that are too big: a 50 MB body, a poll with ten thousand options, a display
name of a megabyte — and one remote actor sending too fast.

One real node (a subprocess) with a member ana, and a fake remote server whose keys
the test holds. A body is streamed over a raw socket, the way an attacker would send
it, and the node's peak memory (``VmHWM``) is read from ``/proc`` to show that it never
read the body whole. Each refusal is followed by a check that nothing was stored and
by a positive control at the limit.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from protocol.limits import MAX_DISPLAY_NAME, MAX_NOTE, MAX_POLL_OPTIONS
from tests.support.home import Home
from tests.support.nodes import Cluster, MutualNode
from tests.support.peer import Outgoing, Peer, RemoteActor, bad_signature_bytes, key_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
FIFTY_MB = 50 * 1024 * 1024
ACTOR_PER_MINUTE = 3
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


class Env(Home):
    peer: Peer

    def sender(self, prefix: str = "s") -> RemoteActor:
        return self.peer.actor(f"{prefix}-{uid()}", key=key_for("limits-sender"))

    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ana.token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        assert self.node.session is not None
        async with self.node.session.request(method, f"{self.node.url}{path}",
                                             headers=self.api(), **kwargs) as response:
            return response.status, await response.json(content_type=None)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    # A small per-actor budget, a large per-server one: what is seen is the actor's.
    limits = {"MUTUAL_LIMITS_INBOX_ACTOR_PER_MINUTE": str(ACTOR_PER_MINUTE),
              "MUTUAL_LIMITS_INBOX_HOST_PER_MINUTE": "1000"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        cluster = Cluster(tmp_path_factory.mktemp("input-limits"), session)
        try:
            node = await cluster.node("home", env=limits)
            async with Peer() as peer:
                env = Env(node=node, ana=node.member("ana"))
                env.peer = peer
                yield env
        finally:
            cluster.stop_all()


def uid() -> str:
    return uuid.uuid4().hex[:12]


def create(sender: RemoteActor, obj: dict[str, Any], to: str) -> dict[str, Any]:
    obj = {"id": f"{sender.id}/statuses/{uid()}", "attributedTo": sender.id, "to": [to], **obj}
    return {"@context": AS, "id": f"{obj['id']}/activity", "type": "Create",
            "actor": sender.id, "to": [to], "object": obj}


async def accepted(env: Env, activity: dict[str, Any], sender: RemoteActor) -> None:
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
    assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply


# -- 50 MB bodies ---------------------------------------------------------------------


def peak_memory(node: MutualNode) -> int:
    """The node process's peak resident memory (``VmHWM``), in bytes."""
    assert node.process is not None
    status = Path(f"/proc/{node.process.pid}/status")
    if not status.exists():
        pytest.skip("needs /proc to read the node's memory")
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


async def stream(node: MutualNode, path: str, headers: dict[str, str], *, size: int,
                 chunked: bool) -> tuple[int, dict[str, Any], int]:
    """POST ``size`` bytes to ``path`` as a client that keeps sending until answered;
    returns (status, JSON answer, bytes sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    lines = [f"POST {path} HTTP/1.1", f"Host: {node.host}", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items()),
             "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    answer = asyncio.create_task(reader.readuntil(b"\r\n\r\n"))
    block, sent = b"x" * 65536, 0
    try:
        while sent < size and not answer.done():
            piece = block[: size - sent]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await asyncio.wait_for(writer.drain(), timeout=10)
            sent += len(piece)
    except (ConnectionError, TimeoutError):
        pass  # the node stopped reading, or hung up, once it had answered
    head = (await asyncio.wait_for(answer, timeout=20)).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length = next(int(line.split(":", 1)[1]) for line in head.split("\r\n")
                  if line.lower().startswith("content-length:"))
    body = json.loads(await asyncio.wait_for(reader.readexactly(length), timeout=20))
    writer.close()
    return status, body, sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("where", ["inbox", "client-api-status", "c2s-outbox"])
async def test_a_50_mb_body_is_refused_413_without_being_read_whole(
        env: Env, where: str, chunked: bool) -> None:
    path, headers = {
        "inbox": (f"/users/{env.ana.name}/inbox", {"Content-Type": "application/activity+json"}),
        "client-api-status": ("/api/v1/statuses", {"Content-Type": "application/json",
                                                   **env.api()}),
        "c2s-outbox": (f"/users/{env.ana.name}/outbox",
                       {"Content-Type": "application/activity+json", **env.api()}),
    }[where]
    before_memory, before = peak_memory(env.node), await env.snapshot()
    status, body, sent = await stream(env.node, path, headers, size=FIFTY_MB, chunked=chunked)
    assert status == 413, (status, body)
    assert body.get("reason") == "too-large" or "too large" in json.dumps(body).lower(), body
    assert sent < FIFTY_MB, "the node answered before the client had sent it all"
    assert peak_memory(env.node) - before_memory < 30 * 1024 * 1024
    assert await env.snapshot() == before
    # The node still serves: a remote post and a client-API call right after.
    sender = env.sender()
    await accepted(env, create(sender, {"type": "Note", "content": "<p>hi</p>"},
                               env.ana.actor_id), sender)
    assert (await env.call("GET", "/api/v1/accounts/verify_credentials"))[0] == 200


# -- polls with ten thousand options ----------------------------------------------------


def question(count: int) -> dict[str, Any]:
    return {"type": "Question", "content": "<p>Which?</p>", "endTime": "2999-01-01T00:00:00Z",
            "oneOf": [{"type": "Note", "name": f"option {n}"} for n in range(count)]}


@pytest.mark.parametrize("count", [10_000, MAX_POLL_OPTIONS + 1])
async def test_a_remote_poll_with_too_many_options_is_refused_and_stores_nothing(
        env: Env, count: int) -> None:
    sender = env.sender()
    activity = create(sender, question(count), env.ana.actor_id)
    before = await env.snapshot()
    reply = await env.peer.signed_post(env.inbox, activity, actor=sender)
    assert (reply.status, reply.reason) == (422, "too-many-options"), reply
    assert str(MAX_POLL_OPTIONS) in reply.error
    assert await env.snapshot() == before
    assert await env.inbox_item(activity["id"]) is None
    # Control: the same poll at the limit is stored whole.
    activity = create(sender, question(MAX_POLL_OPTIONS), env.ana.actor_id)
    await accepted(env, activity, sender)
    item = await env.inbox_item(activity["id"])
    assert item is not None
    assert len(item["object"]["oneOf"]) == MAX_POLL_OPTIONS
    # An edit that would grow it past the limit is refused; the stored poll stays.
    update = {"@context": AS, "id": f"{sender.id}#updates/{uid()}", "type": "Update",
              "actor": sender.id, "object": {**activity["object"], **question(count)}}
    reply = await env.peer.signed_post(env.inbox, update, actor=sender)
    assert (reply.status, reply.reason) == (422, "too-many-options"), reply
    item = await env.inbox_item(activity["id"])
    assert item is not None
    assert len(item["object"]["oneOf"]) == MAX_POLL_OPTIONS


async def test_a_client_api_poll_with_ten_thousand_options_is_refused_and_stores_nothing(
        env: Env) -> None:
    _, me = await env.call("GET", "/api/v1/accounts/verify_credentials")
    _, instance = await env.call("GET", "/api/v2/instance")
    limit = instance["configuration"]["polls"]["max_options"]
    for count in (10_000, limit + 1):
        status, body = await env.call("POST", "/api/v1/statuses", json={
            "status": "Which?", "poll": {"options": [f"o{n}" for n in range(count)],
                                         "expires_in": 3600}})
        assert status == 422, (status, body)
        assert f"2 to {limit} options" in body["error"]
    _, after = await env.call("GET", "/api/v1/accounts/verify_credentials")
    assert after["statuses_count"] == me["statuses_count"]
    # Control: at the advertised limit the poll is posted.
    status, body = await env.call("POST", "/api/v1/statuses", json={
        "status": "Which?", "poll": {"options": [f"o{n}" for n in range(limit)],
                                     "expires_in": 3600}})
    assert status == 200, body
    assert len(body["poll"]["options"]) == limit


# -- a display name of a megabyte --------------------------------------------------------


async def remote_account(env: Env, actor: RemoteActor) -> dict[str, Any]:
    acct = f"{actor.document['preferredUsername']}@{env.peer.host}"
    status, body = await env.call("GET", "/api/v1/accounts/lookup", params={"acct": acct})
    assert status == 200, body
    return dict(body)


async def test_a_megabyte_display_name_from_a_remote_actor_is_clipped_or_refused(
        env: Env) -> None:
    # Fetched: the actor document the node gets when verifying the sender's key.
    sender = env.sender()
    env.peer.serve({**sender.document, "name": "N" * 1_000_000,
                    "summary": "<p>" + "b" * 100_000 + "</p>"})
    follow = {"@context": AS, "id": f"{sender.id}#follows/{uid()}", "type": "Follow",
              "actor": sender.id, "object": env.ana.actor_id}
    await accepted(env, follow, sender)
    account = await remote_account(env, sender)
    assert account["display_name"] == "N" * MAX_DISPLAY_NAME
    assert len(account["note"]) <= MAX_NOTE + len("</p>")
    # Sent in an Update: a body over the inbox limit is refused whole, nothing changes.
    update = {"@context": AS, "id": f"{sender.id}#updates/{uid()}", "type": "Update",
              "actor": sender.id, "object": {**sender.document, "name": "U" * 1_000_000}}
    reply = await env.peer.signed_post(env.inbox, update, actor=sender)
    assert (reply.status, reply.reason) == (413, "too-large"), reply
    assert (await remote_account(env, sender))["display_name"] == "N" * MAX_DISPLAY_NAME
    # Under the body limit, a too-long name is stored clipped to the hard limit.
    update["object"]["name"] = "U" * 600_000
    await accepted(env, update, sender)
    assert (await remote_account(env, sender))["display_name"] == "U" * MAX_DISPLAY_NAME


async def test_a_megabyte_display_name_through_update_credentials_is_refused(
        env: Env) -> None:
    _, before = await env.call("GET", "/api/v1/accounts/verify_credentials")
    status, body = await env.call("PATCH", "/api/v1/accounts/update_credentials",
                                  json={"display_name": "M" * 1_000_000})
    assert status in (413, 422), (status, body)
    status, body = await env.call("PATCH", "/api/v1/accounts/update_credentials",
                                  json={"display_name": "M" * 101})
    assert (status, body["error"]) == (
        422, "Validation failed: display_name is too long (max 100)")
    _, after = await env.call("GET", "/api/v1/accounts/verify_credentials")
    assert after["display_name"] == before["display_name"]
    _, actor = await env.node.get(env.ana.actor_id)
    assert "M" * 101 not in json.dumps(actor), "nor was the actor document changed"
    # Control: at the limit the name is taken.
    status, body = await env.call("PATCH", "/api/v1/accounts/update_credentials",
                                  json={"display_name": "M" * 100})
    assert (status, body["display_name"]) == (200, "M" * 100)


# -- one remote actor sending too fast ---------------------------------------------------


def from_new_address(request: Outgoing) -> None:
    """Each request through the trusted proxy from another client address, so that
    only the actor's own bucket can run out."""
    request.headers["X-Forwarded-For"] = next(_addresses)


async def test_inbox_is_limited_per_remote_actor_and_forgers_cannot_spend_its_budget(
        env: Env) -> None:
    busy, neighbour = env.sender("busy"), env.sender("neighbour")
    for _ in range(5):  # forged: refused 401, and the actor's budget is untouched
        reply = await env.peer.signed_post(
            env.inbox, create(busy, {"type": "Note"}, env.ana.actor_id), actor=busy,
            mutate=[bad_signature_bytes, from_new_address])
        assert reply.status == 401, reply
    for _ in range(ACTOR_PER_MINUTE):
        reply = await env.peer.signed_post(
            env.inbox, create(busy, {"type": "Note"}, env.ana.actor_id), actor=busy,
            mutate=from_new_address)
        assert reply.status == 202, reply
    refused = create(busy, {"type": "Note"}, env.ana.actor_id)
    reply = await env.peer.signed_post(env.inbox, refused, actor=busy,
                                       mutate=from_new_address)
    assert (reply.status, reply.reason) == (429, "rate-limited"), reply
    assert int(reply.headers["Retry-After"]) >= 1
    assert await env.inbox_item(refused["id"]) is None
    # Another actor of the same server has its own budget (the server's is large).
    reply = await env.peer.signed_post(
        env.inbox, create(neighbour, {"type": "Note"}, env.ana.actor_id), actor=neighbour,
        mutate=from_new_address)
    assert reply.status == 202, reply
    # The same actor unthrottled over loopback itself (never limited), as a control.
    await accepted(env, refused, busy)
