"""Authorized fetch (secure mode, ``federation.authorized_fetch``) end to end, both ways.

On: reads of actors, objects, activities, collections and group decisions need a
valid signed GET (401 unsigned or badly signed) from a non-blocked domain (403); the
instance actor, WebFinger, NodeInfo and host-meta stay public, since peers need them to
sign and verify; visibility still applies to a signed reader; a member's own app (a
bearer token) and browsers asking for pages are let through as before.
Off (the default): the same reads answer unsigned.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio

from tests.support.nodes import Cluster, Member, MutualNode
from tests.support.peer import Peer, bad_signature_bytes, key_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

AS = "https://www.w3.org/ns/activitystreams"
AP = "application/activity+json"


@dataclass
class Site:
    secure: MutualNode
    open: MutualNode
    ana: Member
    bea: Member
    public: dict[str, str]  # read path -> URL on the secure node
    private_note: str
    peer: Peer
    blocked: Peer


async def _populate(node: MutualNode) -> tuple[Member, dict[str, str], str]:
    ana = node.member("ana")
    node.cli("group", "create", "team", "--owner", "ana")
    create = await ana.post({"type": "Note", "content": "hello", "to": [f"{AS}#Public"]})
    private = await ana.post({"type": "Note", "content": "for followers only",
                              "to": [f"{ana.actor_id}/followers"]})
    paths = {
        "actor": ana.actor_id,
        "outbox": f"{ana.actor_id}/outbox",
        "followers": f"{ana.actor_id}/followers",
        "following": f"{ana.actor_id}/following",
        "liked": f"{ana.actor_id}/liked",
        "object": create["object"]["id"],
        "activity": create["id"],
        "group": f"{node.url}/groups/team",
        "group outbox": f"{node.url}/groups/team/outbox",
        "group moderators": f"{node.url}/groups/team/moderators",
    }
    return ana, paths, private["object"]["id"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
                Peer() as peer, Peer() as blocked):
        cluster = Cluster(tmp_path_factory.mktemp("secure"), session)
        try:
            secure = await cluster.node("secure",
                                        env={"MUTUAL_FEDERATION_AUTHORIZED_FETCH": "true"})
            plain = await cluster.node("open")
            ana, paths, private = await _populate(secure)
            bea = plain.member("bea")
            plain.cli("group", "create", "team", "--owner", "bea")
            secure.cli("domain", "block", blocked.host)
            yield Site(secure=secure, open=plain, ana=ana, bea=bea, public=paths,
                       private_note=private, peer=peer, blocked=blocked)
        finally:
            cluster.stop_all()


READS = ["actor", "outbox", "followers", "following", "liked", "object", "activity",
         "group", "group outbox", "group moderators"]


@pytest.mark.parametrize("what", READS)
async def test_unsigned_reads_are_refused_401(site: Site, what: str) -> None:
    status, body = await site.secure.get(site.public[what])
    assert status == 401, (what, body)
    assert body["reason"] == "signature-required"


@pytest.mark.parametrize("what", READS)
async def test_signed_reads_from_a_peer_are_served(site: Site, what: str) -> None:
    reader = site.peer.actor("reader", key=key_for("secure-reader"))
    reply = await site.peer.signed_get(site.public[what], actor=reader)
    assert reply.status == 200, (what, reply)


async def test_a_bad_signature_is_refused_401(site: Site) -> None:
    reader = site.peer.actor("forger", key=key_for("secure-reader"))
    reply = await site.peer.signed_get(site.public["object"], actor=reader,
                                       mutate=bad_signature_bytes)
    assert reply.status == 401, reply


async def test_a_signed_read_from_a_blocked_domain_is_refused_403(site: Site) -> None:
    reader = site.blocked.actor("blocked", key=key_for("secure-reader"))
    for what in ("actor", "object", "outbox"):
        reply = await site.blocked.signed_get(site.public[what], actor=reader)
        assert (reply.status, reply.reason) == (403, "domain-blocked"), (what, reply)


async def test_visibility_still_applies_to_a_signed_reader(site: Site) -> None:
    stranger = site.peer.actor("stranger", key=key_for("secure-reader"))
    reply = await site.peer.signed_get(site.private_note, actor=stranger)
    assert reply.status == 404, reply


async def test_instance_actor_and_discovery_stay_public(site: Site) -> None:
    node = site.secure
    for url in (f"{node.url}/actor", f"{node.url}/.well-known/nodeinfo",
                f"{node.url}/nodeinfo/2.0", f"{node.url}/.well-known/host-meta",
                f"{node.url}/.well-known/webfinger?resource=acct:ana@{node.host}"):
        status, body = await node.get(url)
        assert status == 200, (url, body)


async def test_members_app_and_browser_pages_still_work(site: Site) -> None:
    node = site.secure
    status, _ = await node.get(site.public["outbox"],
                               headers={"Authorization": f"Bearer {site.ana.token}"})
    assert status == 200
    status, body = await node.get(site.public["object"],
                                  headers={"Authorization": "Bearer not-a-token"})
    assert status == 401, body
    status, page = await node.get(site.public["actor"], headers={"Accept": "text/html"})
    assert status == 200
    assert "<html" in page.lower()


async def test_federation_between_a_secure_and_an_open_node_works(site: Site) -> None:
    """The secure node signs its own fetches, and the open node fetches it signed."""
    follow = await site.bea.post({"type": "Follow", "object": site.ana.actor_id})
    assert follow["type"] == "Follow"
    status, doc = await site.open.get(
        f"{site.open.url}/api/v1/accounts/lookup?acct={site.ana.acct}",
        headers={"Authorization": f"Bearer {site.bea.token}"})
    assert status == 200, doc
    assert doc["username"] == "ana"


@pytest.mark.parametrize("what", READS)
async def test_with_authorized_fetch_off_unsigned_reads_answer(site: Site, what: str) -> None:
    node = site.open
    url = site.public[what].replace(site.secure.url, node.url)
    if "/users/ana" in url:
        url = url.replace("/users/ana", "/users/bea")
    if what in ("object", "activity"):
        post = await site.bea.post({"type": "Note", "content": "open", "to": [f"{AS}#Public"]})
        url = post["object"]["id"] if what == "object" else post["id"]
    status, body = await node.get(url)
    assert status == 200, (what, body)
