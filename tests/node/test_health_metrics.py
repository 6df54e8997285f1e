"""/healthz and /metrics of a real node process (node/routes/health.py).

One node (a subprocess, role ``all``, with a metrics token) and a fake remote server
whose keys the test holds. Counters are read before and after each action, so the
tests do not depend on their order. Requests come from loopback; a client behind the
reverse proxy is simulated with ``X-Forwarded-For``, as the proxy would send it.
The 503 of an unreachable database is checked in-process, with a store that fails.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from node.metrics import Metrics
from node.routes import health
from node.routes.common import NODE
from tests.support.nodes import Cluster, MutualNode, eventually, free_port
from tests.support.peer import Peer, RemoteActor, bad_signature_bytes, key_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
PUBLIC = f"{AS}#Public"
TOKEN = "scrape-" + uuid.uuid4().hex
BEHIND_PROXY = {"X-Forwarded-For": "198.51.100.7"}


class Env:
    def __init__(self, node: MutualNode, peer: Peer, session: aiohttp.ClientSession) -> None:
        self.node = node
        self.peer = peer
        self.session = session

    def sender(self) -> RemoteActor:
        return self.peer.actor(f"m-{uuid.uuid4().hex[:10]}", key=key_for("metrics-sender"))

    async def metrics(self, headers: dict[str, str] | None = None) -> str:
        async with self.session.get(f"{self.node.url}/metrics", headers=headers) as reply:
            text = await reply.text()
            assert reply.status == 200, (reply.status, text)
            assert reply.headers["Content-Type"].startswith("text/plain")
            return text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    root = tmp_path_factory.mktemp("metrics")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session, \
            Peer() as peer:
        cluster = Cluster(root, session)
        try:
            # Failed deliveries wait a minute: the queue depth stays visible.
            node = await cluster.node("home", env={"MUTUAL_SERVER_METRICS_TOKEN": TOKEN,
                                                   "MUTUAL_DELIVERY_RETRY_SCHEDULE": "60,60"})
            node.member("ana")
            yield Env(node, peer, session)
        finally:
            cluster.stop_all()


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return float(item.value)
    return 0.0


def note(sender: RemoteActor) -> dict[str, Any]:
    note_id = f"{sender.id}/statuses/{uuid.uuid4().hex[:12]}"
    return {"@context": AS, "id": f"{note_id}/activity", "type": "Create",
            "actor": sender.id, "to": [PUBLIC],
            "object": {"id": note_id, "type": "Note", "attributedTo": sender.id,
                       "to": [PUBLIC], "content": "<p>counted</p>"}}


async def test_healthz_answers_ok_with_database_role_and_version(env: Env) -> None:
    async with env.session.get(f"{env.node.url}/healthz", headers=BEHIND_PROXY) as reply:
        assert reply.status == 200
        body = await reply.json()
    assert body == {"status": "ok", "database": "ok", "role": "all", "version": "0.1.0"}


async def test_accepted_and_duplicate_activities_move_their_counters(env: Env) -> None:
    before = await env.metrics()
    sender = env.sender()
    activity = note(sender)
    first = await env.peer.signed_post(f"{env.node.url}/inbox", activity, actor=sender)
    again = await env.peer.signed_post(f"{env.node.url}/inbox", activity, actor=sender)
    assert (first.status, first.body, again.body) == (
        202, {"status": "accepted"}, {"status": "duplicate"})
    after = await env.metrics()
    for result in ("stored", "duplicate"):
        moved = (sample(after, "mutual_inbox_accepted_total", result=result)
                 - sample(before, "mutual_inbox_accepted_total", result=result))
        assert moved == 1, result


async def test_refusals_are_counted_by_the_reason_answered(env: Env) -> None:
    before = await env.metrics()
    sender = env.sender()
    forged = await env.peer.signed_post(f"{env.node.url}/inbox", note(sender), actor=sender,
                                        mutate=bad_signature_bytes)
    unsigned = await env.peer.signed_post(f"{env.node.url}/inbox", note(sender),
                                          actor=sender, scheme="none")
    junk = await env.peer.signed_post(f"{env.node.url}/inbox", b"not json", actor=sender)
    assert [r.reason for r in (forged, unsigned, junk)] == [
        "signature-invalid", "signature-missing", "malformed-json"]
    after = await env.metrics()
    for reason in ("signature-invalid", "signature-missing", "malformed-json"):
        moved = (sample(after, "mutual_inbox_refused_total", reason=reason)
                 - sample(before, "mutual_inbox_refused_total", reason=reason))
        assert moved == 1, reason
    assert (sample(after, "mutual_inbox_accepted_total", result="stored")
            == sample(before, "mutual_inbox_accepted_total", result="stored"))


async def test_a_failing_delivery_shows_in_queue_depth_outcomes_and_host_failures(
        env: Env) -> None:
    # A follower whose inbox is a closed port: the Accept the node owes it cannot go.
    dead = f"127.0.0.1:{free_port()}"
    sender = env.peer.actor(f"f-{uuid.uuid4().hex[:10]}", key=key_for("metrics-sender"),
                            inbox=f"http://{dead}/inbox", endpoints={})
    follow = {"@context": AS, "id": f"{sender.id}#follow", "type": "Follow",
              "actor": sender.id, "object": f"{env.node.url}/users/ana"}
    before = await env.metrics()
    reply = await env.peer.signed_post(f"{env.node.url}/users/ana/inbox", follow, actor=sender)
    assert reply.status == 202, reply

    async def failed_once() -> str | None:
        text = await env.metrics()
        return text if sample(text, "mutual_delivery_host_failures_total", host=dead) else None

    after = await eventually(failed_once)
    assert sample(after, "mutual_queue_jobs", kind="deliver", state="queued") >= 1
    assert (sample(after, "mutual_deliveries_total", outcome="retry")
            > sample(before, "mutual_deliveries_total", outcome="retry"))
    for kind in ("deliver", "close_proposal", "proposal_counts", "poll_expire"):
        assert f'mutual_queue_oldest_due_seconds{{kind="{kind}"}}' in after


async def test_metrics_through_the_proxy_need_the_token(env: Env) -> None:
    url = f"{env.node.url}/metrics"
    for headers in (BEHIND_PROXY, {**BEHIND_PROXY, "Authorization": "Bearer wrong"},
                    {"Forwarded": "for=198.51.100.7"}):
        async with env.session.get(url, headers=headers) as reply:
            assert reply.status == 401, headers
            assert (await reply.json())["reason"] == "metrics-forbidden"
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    text = await env.metrics({**BEHIND_PROXY, "Authorization": f"Bearer {TOKEN}"})
    assert "mutual_inbox_accepted_total" in text
    # A scraper beside the node, straight from loopback, needs nothing.
    assert "mutual_deliveries_total" in await env.metrics()


class _Unreachable:
    async def get_meta(self, key: str) -> str | None:
        raise OSError("connection refused")


async def test_healthz_is_503_when_the_database_does_not_answer() -> None:
    class Stub:
        store = _Unreachable()
        metrics = Metrics()

    app = web.Application()
    app[NODE] = Stub()  # type: ignore[assignment]
    app[health.ROLE] = "web"
    app.add_routes(health.routes)
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/healthz")
        assert reply.status == 503
        assert await reply.json() == {"status": "error", "database": "unreachable",
                                      "role": "web", "version": "0.1.0"}
