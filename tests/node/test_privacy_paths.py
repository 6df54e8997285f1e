"""Blocks, domain blocks and a closed group's privacy, on every path, both directions.

One real node; three fake servers: ``lone`` hosts mia, whom ana blocks; ``far`` is a
domain the admin blocks (``mutual domain block``), with dom; ``near`` hosts kim, who is
blocked by no one and is the positive control of every refusal. bo and cy are local
members; ana blocks bo. A closed group, board, has ana as its only member.

What is tried: a blocked actor, and an actor of a blocked domain, read ana's things
with signed GETs (object, its web page, a reply, the activity, outbox, followers,
following, liked, profile page) and deliver to her (a post, a like, a follow, a boost);
ana's node must not deliver to them either; a member ana blocks reads nothing of hers
through the client API; and nobody outside board reads its content by any path.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.federation.test_decisions import iso_in
from tests.federation.test_governance_actions import question_named
from tests.support.nodes import AP, Cluster, Member, MutualNode
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@dataclass
class World:
    node: MutualNode
    ana: Member
    bo: Member  # blocked by ana
    cy: Member  # blocked by no one
    lone: Peer
    near: Peer
    far: Peer  # its domain is blocked
    mia: RemoteActor  # blocked by ana
    kim: RemoteActor  # the control
    dom: RemoteActor  # on the blocked domain
    post: str  # ana's public post
    reply: str  # ana's reply to it
    create: str  # the activity that published the post
    board: str
    board_note: str  # ana's post to the closed group
    board_announce: str  # the group's relay of it to its members
    proposal: str

    def peer_of(self, actor: RemoteActor) -> Peer:
        return {self.mia.id: self.lone, self.kim.id: self.near, self.dom.id: self.far}[actor.id]

    async def api(self, member: Member, path: str) -> tuple[int, Any]:
        return await self.node.get(f"{self.node.url}{path}",
                                   headers={"Authorization": f"Bearer {member.token}",
                                            "Accept": "application/json"})


async def _follow_ana(peer: Peer, actor: RemoteActor, ana: Member) -> None:
    reply = await peer.signed_post(f"{ana.actor_id}/inbox", {
        "@context": AS_CONTEXT, "id": f"{actor.id}#follows/{uuid.uuid4().hex[:8]}",
        "type": "Follow", "actor": actor.id, "object": ana.actor_id}, actor=actor)
    assert reply.status == 202, reply


async def _block(node: MutualNode, ana: Member, acct: str) -> None:
    assert node.session is not None
    auth = {"Authorization": f"Bearer {ana.token}"}
    async with node.session.get(f"{node.url}/api/v1/accounts/lookup", params={"acct": acct},
                                headers=auth) as response:
        account = await response.json()
    async with node.session.post(f"{node.url}/api/v1/accounts/{account['id']}/block",
                                 headers=auth) as response:
        assert (await response.json())["blocking"] is True


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
                Peer() as lone, Peer() as near, Peer() as far):
        cluster = Cluster(tmp_path_factory.mktemp("privacy"), session)
        try:
            node = await cluster.node("home", start=False)
            node.cli("domain", "block", far.host)
            await node.start()
            ana, bo, cy = node.member("ana"), node.member("bo"), node.member("cy")
            mia, kim, dom = lone.actor("mia"), near.actor("kim"), far.actor("dom")
            await _follow_ana(lone, mia, ana)
            await _follow_ana(near, kim, ana)
            follow = await ana.post({"type": "Follow", "object": kim.id})
            await near.wait_for(lambda r: r.json["id"] == follow["id"])
            assert (await near.signed_post(f"{node.url}/inbox", {
                "@context": AS_CONTEXT, "id": f"{kim.id}#accepts/1", "type": "Accept",
                "actor": kim.id, "object": follow}, actor=kim)).status == 202
            create = await ana.post({"type": "Note", "content": "public words"})
            post = create["object"]["id"]
            reply = await ana.post({"type": "Note", "content": "my reply", "inReplyTo": post})
            await ana.post({"type": "Like", "object": post})
            await _block(node, ana, f"mia@{lone.host}")
            await _block(node, ana, "bo")
            board = node.cli("group", "create", "board", "--owner", "ana", "--closed")
            note = await ana.post({"type": "Note", "content": "board only words",
                                   "to": [board], "audience": board})
            await ana.post({"type": "Question", "name": "Board secret?",
                            "oneOf": [{"type": "Note", "name": n} for n in ("Yes", "No")],
                            "endTime": iso_in(3600), "to": [board], "audience": board})
            question = await question_named(ana, "Board secret?")
            assert question is not None
            announce = next(i["id"] for i in await ana.inbox() if i["type"] == "Announce"
                            and i["actor"] == board)
            yield World(node=node, ana=ana, bo=bo, cy=cy, lone=lone, near=near, far=far,
                        mia=mia, kim=kim, dom=dom, post=post, reply=reply["object"]["id"],
                        create=create["id"], board=board,
                        board_note=note["object"]["id"], board_announce=announce,
                        proposal=question["id"])
        finally:
            cluster.stop_all()


# -- reading ana's things -----------------------------------------------------------------

PATHS: dict[str, tuple[str, str]] = {  # name: (which URL, Accept)
    "object": ("post", AP), "object-page": ("post", "text/html"), "reply": ("reply", AP),
    "activity": ("create", AP), "outbox": ("outbox", AP), "followers": ("followers", AP),
    "following": ("following", AP), "liked": ("liked", AP),
    "profile-page": ("profile", "text/html"), "actor-page": ("actor", "text/html"),
}


def url_of(w: World, which: str) -> str:
    ana = w.ana.actor_id
    return {"post": w.post, "reply": w.reply, "create": w.create,
            "outbox": f"{ana}/outbox?page=true", "followers": f"{ana}/followers?page=true",
            "following": f"{ana}/following?page=true", "liked": f"{ana}/liked?page=true",
            "profile": f"{w.node.url}/@ana", "actor": ana}[which]


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize(("who", "refused"), [("blocked-actor", (404, None)),
                                              ("blocked-domain", (403, "domain-blocked"))])
async def test_a_blocked_reader_is_refused_on_every_path(
        world: World, who: str, refused: tuple[int, str | None], path: str) -> None:
    which, accept = PATHS[path]
    url = url_of(world, which)
    actor = world.mia if who == "blocked-actor" else world.dom
    reply = await world.peer_of(actor).signed_get(url, actor=actor, accept=accept)
    assert reply.status == refused[0], (url, reply)
    if refused[1] is not None:
        assert reply.reason == refused[1], reply
    assert "public words" not in str(reply.body)
    # Control: the same signed GET by someone nobody blocks.
    control = await world.near.signed_get(url, actor=world.kim, accept=accept)
    assert control.status == 200, (url, control)


# -- delivering to ana ---------------------------------------------------------------------


def activity(actor: RemoteActor, kind: str, w: World) -> dict[str, Any]:
    base = {"@context": AS_CONTEXT, "id": f"{actor.id}#{kind}/{uuid.uuid4().hex[:10]}",
            "type": kind, "actor": actor.id}
    if kind == "Create":
        note = f"{actor.id}/statuses/{uuid.uuid4().hex[:10]}"
        return {**base, "to": [w.ana.actor_id], "object": {
            "id": note, "type": "Note", "attributedTo": actor.id, "to": [w.ana.actor_id],
            "content": "<p>hello</p>"}}
    if kind == "Follow":
        return {**base, "object": w.ana.actor_id}
    return {**base, "object": w.post, "to": [w.ana.actor_id]}  # Like, Announce


@pytest.mark.parametrize("kind", ["Create", "Like", "Announce", "Follow"])
@pytest.mark.parametrize(("who", "reason"), [("blocked-actor", "blocked"),
                                             ("blocked-domain", "domain-blocked")])
async def test_a_blocked_sender_cannot_deliver(world: World, who: str, reason: str,
                                               kind: str) -> None:
    actor = world.mia if who == "blocked-actor" else world.dom
    before = await _ana_state(world)
    sent = activity(actor, kind, world)
    if (kind, who) == ("Follow", "blocked-actor"):
        # As on Mastodon: the follow is refused with a Reject, not left pending.
        reply = await world.peer_of(actor).signed_post(f"{world.ana.actor_id}/inbox", sent,
                                                       actor=actor)
        assert reply.status == 202, reply
        rejected = await world.peer_of(actor).wait_for(
            lambda r: r.json.get("type") == "Reject"
            and (r.json.get("object") or {}).get("id") == sent["id"])
        assert rejected.json["actor"] == world.ana.actor_id
    else:
        for inbox in (f"{world.ana.actor_id}/inbox", f"{world.node.url}/inbox"):
            reply = await world.peer_of(actor).signed_post(inbox, sent, actor=actor)
            assert (reply.status, reply.reason) == (403, reason), (inbox, reply)
    assert await _ana_state(world) == before
    # Control: kim may (and the same activity, from kim, is new to the node).
    sent = activity(world.kim, kind, world)
    reply = await world.near.signed_post(f"{world.ana.actor_id}/inbox", sent,
                                         actor=world.kim)
    assert reply.status == 202, reply


async def _ana_state(w: World) -> tuple[Any, ...]:
    inbox = [i["id"] for i in await w.ana.inbox()]
    followers = await w.node.collection(f"{w.ana.actor_id}/followers")
    _, doc = await w.node.get(w.post)
    return inbox, sorted(followers), doc["likes"]["totalItems"], doc["shares"]["totalItems"]


async def test_nothing_is_delivered_to_the_blocked(world: World) -> None:
    w = world
    followers = f"{w.ana.actor_id}/followers"
    post = await w.ana.post({"type": "Note", "content": "to everyone I may reach",
                             "to": [PUBLIC], "cc": [followers, w.mia.id, w.dom.id, w.kim.id]})
    object_id = post["object"]["id"]
    await w.near.wait_for(lambda r: r.json["object"]["id"] == object_id)  # the control
    await asyncio.sleep(1.0)  # every delivery of this post has had its turn
    for peer in (w.lone, w.far):
        got = [r for r in peer.received if isinstance(r.json.get("object"), dict)
               and r.json["object"].get("id") == object_id]
        assert got == [], peer
    assert w.mia.id not in await w.node.collection(followers)  # the block ended it


async def test_a_member_blocked_by_another_reads_nothing_of_theirs_in_the_api(
        world: World) -> None:
    w = world
    _, found = await w.api(w.cy, "/api/v1/accounts/lookup?acct=ana")
    ana_id = found["id"]
    statuses = (await w.api(w.cy, f"/api/v1/accounts/{ana_id}/statuses"))[1]
    post_id = next(s["id"] for s in statuses if s["uri"] == w.post)
    for path in (f"/api/v1/statuses/{post_id}", f"/api/v1/statuses/{post_id}/context"):
        status, _ = await w.api(w.bo, path)
        assert status == 404, path
        assert (await w.api(w.cy, path))[0] == 200, path  # the control
    for path in (f"/api/v1/accounts/{ana_id}/statuses", "/api/v1/timelines/public"):
        status, seen = await w.api(w.bo, path)
        assert status == 200, seen
        assert w.post not in {s["uri"] for s in seen}, path
        assert w.post in {s["uri"] for s in (await w.api(w.cy, path))[1]}, path


# -- a closed group's content ------------------------------------------------------------

GROUP_PATHS = ["proposal", "electorate", "ballots", "announce", "note", "note-page",
               "members"]


def group_url(w: World, path: str) -> tuple[str, str]:
    return {"proposal": (w.proposal, AP), "electorate": (f"{w.proposal}/electorate", AP),
            "ballots": (f"{w.proposal}/ballots", AP), "announce": (w.board_announce, AP),
            "note": (w.board_note, AP), "note-page": (w.board_note, "text/html"),
            "members": (f"{w.board}/followers?page=true", AP)}[path]


@pytest.mark.parametrize("path", GROUP_PATHS)
async def test_a_closed_groups_content_is_served_to_its_members_only(world: World,
                                                                     path: str) -> None:
    w = world
    url, accept = group_url(w, path)
    outsiders = [
        await w.node.get(url, headers={"Accept": accept}),
        await w.node.get(url, headers={"Accept": accept,
                                       "Authorization": f"Bearer {w.cy.token}"}),
    ]
    signed = await w.near.signed_get(url, actor=w.kim, accept=accept)
    outsiders.append((signed.status, signed.body))
    for status, body in outsiders:
        text = str(body)
        assert "board only words" not in text
        if path in ("members", "electorate"):
            assert w.ana.actor_id not in text
        if path == "members":
            assert status == 200, body  # how many, not who
            assert body["totalItems"] == 1
            assert "orderedItems" not in body
            assert "first" not in body
        else:
            assert status == 404, (path, status, body)
    # A member reads it (ana, with her token).
    status, body = await w.node.get(url, headers={"Accept": accept,
                                                  "Authorization": f"Bearer {w.ana.token}"})
    assert status == 200, (path, body)
    if path == "members":
        assert body["first"]["orderedItems"] == [w.ana.actor_id]


async def test_a_closed_groups_posts_stay_out_of_outsiders_api_views(world: World) -> None:
    w = world
    _, group = await w.api(w.ana, "/api/v1/accounts/lookup?acct=board")
    for member, sees in ((w.cy, False), (w.ana, True)):
        status, timeline = await w.api(member, f"/api/v1/timelines/group/{group['id']}")
        assert status in (200, 404), timeline
        shown = {s["uri"] for s in timeline} if status == 200 else set()
        assert (w.board_note in shown) is sees, (member.name, shown)
    _, outbox = await w.node.get(f"{w.board}/outbox?page=true")
    assert "board only words" not in str(outbox)
