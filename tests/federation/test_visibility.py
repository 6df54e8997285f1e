"""Followers-only and direct posts reach their audience only, and nobody else can fetch
them (DESIGN §2 "Addressing", §5 "Visibility is enforced on every path").

bo@B is followed by ana@A and by "fan", an actor on a fake Mastodon-like peer whose
keys the test holds; cy@C and dan@C do not follow bo. bo posts once to his followers
and once directly to cy. Delivery is checked in every inbox; fetching is checked with
unsigned GETs, GETs signed by a stranger on the peer and GETs signed by fan: a private
post a reader may not see is a 404 (never a 403), so a stranger cannot learn that it
exists.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.nodes import Cluster, Member, MutualNode, eventually
from tests.support.peer import Peer, Received, RemoteActor, bad_signature_bytes

pytestmark = pytest.mark.federation

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
FOLLOWERS_SECRET = "Followers only: the greenhouse key is under the blue pot"
DIRECT_SECRET = "Just for you, cy: the gate code is 4711"
HTML = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"  # what a browser sends


@dataclass(frozen=True, slots=True, kw_only=True)
class Scene:
    b: MutualNode
    ana: Member
    bo: Member
    cy: Member
    dan: Member
    peer: Peer
    fan: RemoteActor
    stranger: RemoteActor
    followers_only: dict[str, Any]  # the Create activities, as bo's node returned them
    direct: dict[str, Any]


def object_of(activity: dict[str, Any]) -> str:
    return str(activity["object"]["id"])


async def inbox_has(member: Member, object_id: str) -> bool:
    return any(isinstance(i.get("object"), dict) and i["object"].get("id") == object_id
               for i in await member.inbox())


def creates_of(peer: Peer, object_id: str) -> list[Received]:
    return [r for r in peer.received
            if r.json.get("type") == "Create" and isinstance(r.json.get("object"), dict)
            and r.json["object"].get("id") == object_id]


def leaks(doc: object) -> bool:
    """Whether ``doc`` (a JSON value or a page) shows either secret."""
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return "greenhouse key" in text or "gate code" in text


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    async with Peer() as server:
        yield server


@pytest.fixture
async def scene(cluster: Cluster, peer: Peer) -> Scene:
    a = await cluster.node("a")
    b = await cluster.node("b")
    c = await cluster.node("c")
    ana, bo, cy, dan = a.member("ana"), b.member("bo"), c.member("cy"), c.member("dan")
    fan, stranger = peer.actor("fan"), peer.actor("stranger")

    # ana@A follows through her node; fan follows with a signed Follow to bo's inbox.
    await ana.post({"type": "Follow", "object": bo.actor_id})
    follow = {"@context": "https://www.w3.org/ns/activitystreams",
              "id": f"{fan.id}/follows/1", "type": "Follow", "actor": fan.id,
              "object": bo.actor_id}
    reply = await peer.signed_post(f"{bo.actor_id}/inbox", follow, actor=fan)
    assert reply.status == 202, reply
    accept = await peer.wait_for(lambda r: r.json["type"] == "Accept"
                                 and r.json["object"]["id"] == follow["id"])
    assert accept.path == "/users/fan/inbox"

    async def both_follow() -> bool:
        followers = await b.collection(f"{bo.actor_id}/followers")
        following = await a.collection(f"{ana.actor_id}/following")
        return set(followers) == {ana.actor_id, fan.id} and following == [bo.actor_id]

    await eventually(both_follow)

    followers_only = await bo.post({"type": "Note", "content": FOLLOWERS_SECRET,
                                    "to": [f"{bo.actor_id}/followers"], "cc": []})
    direct = await bo.post({"type": "Note", "content": DIRECT_SECRET,
                            "to": [cy.actor_id], "cc": []})
    return Scene(b=b, ana=ana, bo=bo, cy=cy, dan=dan, peer=peer, fan=fan,
                 stranger=stranger, followers_only=followers_only, direct=direct)


async def test_private_posts_are_delivered_only_to_their_audience(scene: Scene) -> None:
    s = scene
    followers_note, direct_note = object_of(s.followers_only), object_of(s.direct)
    assert s.followers_only["object"]["to"] == [f"{s.bo.actor_id}/followers"]
    assert s.direct["object"]["to"] == [s.cy.actor_id]

    # Each reaches its audience ...
    await eventually(lambda: inbox_has(s.ana, followers_note))
    await s.peer.wait_for(lambda r: r.json["object"]["id"] == followers_note)
    await eventually(lambda: inbox_has(s.cy, direct_note))

    # ... and once a later post has reached every host B talks to (ana and fan as
    # followers, dan@C as addressed), no delivery of the private ones is still due.
    later = await s.bo.post({"type": "Note", "content": "Seed swap on Saturday",
                             "to": [PUBLIC], "cc": [f"{s.bo.actor_id}/followers",
                                                    s.dan.actor_id]})
    await eventually(lambda: inbox_has(s.dan, object_of(later)))
    await eventually(lambda: inbox_has(s.ana, object_of(later)))
    await s.peer.wait_for(lambda r: r.json["object"]["id"] == object_of(later))

    ana_inbox, cy_inbox, dan_inbox = [json.dumps(await m.inbox())
                                      for m in (s.ana, s.cy, s.dan)]
    assert FOLLOWERS_SECRET in ana_inbox
    assert DIRECT_SECRET not in ana_inbox
    assert DIRECT_SECRET in cy_inbox
    assert FOLLOWERS_SECRET not in cy_inbox
    assert FOLLOWERS_SECRET not in dan_inbox
    assert DIRECT_SECRET not in dan_inbox

    # The peer got the followers-only post exactly once (one shared inbox for the host)
    # and never the direct one, nor anything that names it.
    [delivered] = creates_of(s.peer, followers_note)
    assert delivered.path == "/inbox"
    assert delivered.json["object"]["content"].count("greenhouse key") == 1
    assert not creates_of(s.peer, direct_note)
    assert not [r for r in s.peer.received
                if direct_note in r.body.decode() or "gate code" in r.body.decode()]


async def test_private_posts_and_their_tombstones_cannot_be_fetched_by_strangers(
        scene: Scene) -> None:
    s = scene
    b, peer, fan, stranger = s.b, s.peer, s.fan, s.stranger
    public = await s.bo.post({"type": "Note", "content": "Seed swap on Saturday"})
    followers_urls = [object_of(s.followers_only), s.followers_only["id"]]
    direct_urls = [object_of(s.direct), s.direct["id"]]

    # Controls: the public post and its Create are readable by anyone.
    for url in (object_of(public), public["id"]):
        assert (await b.get(url))[0] == 200
        assert (await peer.signed_get(url, actor=stranger)).status == 200

    for url in followers_urls + direct_urls:
        # Unsigned and signed-by-a-stranger: 404, exactly as for an id never minted.
        never_minted = await b.get(f"{url.rsplit('/', 1)[0]}/{uuid.uuid4()}")
        assert never_minted[0] == 404
        status, body = await b.get(url)
        assert (status, body) == never_minted, url
        assert not leaks(body)
        reply = await peer.signed_get(url, actor=stranger)
        assert (reply.status, reply.body) == never_minted, url
        # A browser (unsigned) sees no page either.
        status, page = await b.get(url, headers={"Accept": HTML})
        assert status == 404, (url, status)
        assert not leaks(page)

    # fan follows bo: the followers-only post and its Create are readable when fan signs.
    for url in followers_urls:
        reply = await peer.signed_get(url, actor=fan)
        assert reply.status == 200, (url, reply)
        assert "greenhouse key" in json.dumps(reply.body)
    page = await peer.signed_get(object_of(s.followers_only), actor=fan, accept=HTML)
    assert page.status == 200, page
    assert "greenhouse key" in str(page.body)
    # ... but not a direct post addressed to someone else.
    for url in direct_urls:
        reply = await peer.signed_get(url, actor=fan)
        assert reply.status == 404, (url, reply)

    # A signature that does not verify is an error, not anonymity.
    for url in (object_of(s.followers_only), object_of(public)):
        reply = await peer.signed_get(url, actor=fan, mutate=bad_signature_bytes)
        assert reply.status == 401, (url, reply)

    # bo's outbox: the public view lists neither private post; his own view lists both.
    outbox = f"{s.bo.actor_id}/outbox"
    private_ids = {s.followers_only["id"], s.direct["id"]}
    signed = await peer.signed_get(outbox, actor=stranger)
    assert signed.status == 200, signed
    for view in (await b.collection(outbox), signed.body["first"]["orderedItems"]):
        ids = {item["id"] for item in view}
        assert public["id"] in ids
        assert not ids & private_ids
        assert not leaks(view)
    owner_view = await b.collection(outbox,
                                    headers={"Authorization": f"Bearer {s.bo.token}"})
    assert private_ids <= {item["id"] for item in owner_view}

    # Deleted, a private post stays unknown to strangers: a 404, not a 410 Tombstone
    # that would tell them it existed. Its audience gets the Tombstone.
    for activity in (s.followers_only, s.direct):
        await s.bo.post({"type": "Delete", "object": object_of(activity)})
    for url in (object_of(s.followers_only), object_of(s.direct)):
        status, body = await b.get(url)
        assert status == 404, (url, status, body)
        assert (await peer.signed_get(url, actor=stranger)).status == 404
    tombstone = await peer.signed_get(object_of(s.followers_only), actor=fan)
    assert tombstone.status == 410, tombstone
    assert tombstone.body["type"] == "Tombstone"
    assert (await peer.signed_get(object_of(s.direct), actor=fan)).status == 404

    # Once fan unfollows, fan is a stranger too.
    undo = {"@context": "https://www.w3.org/ns/activitystreams", "id": f"{fan.id}/undo/1",
            "type": "Undo", "actor": fan.id, "object": f"{fan.id}/follows/1"}
    assert (await peer.signed_post(f"{s.bo.actor_id}/inbox", undo, actor=fan)).status == 202
    assert await b.collection(f"{s.bo.actor_id}/followers") == [s.ana.actor_id]
    for url in followers_urls:
        reply = await peer.signed_get(url, actor=fan)
        assert reply.status == 404, (url, reply)

