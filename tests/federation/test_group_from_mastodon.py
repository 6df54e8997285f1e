"""A group as a Mastodon server sees it: followable, its members' posts Announced
unmodified, its proposals polls that Mastodon's parser reads, with live and final counts.

One Mutual node holds the group; a Peer plays the Mastodon server of its followers.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocol import httpsig
from protocol.keys import load_public_pem
from protocol.vocab import PUBLIC
from tests.federation.test_decisions import iso_in, join_from_peer, mastodon_vote
from tests.support.nodes import Cluster, MutualNode, eventually
from tests.support.peer import AS_CONTEXT, Peer, Received, RemoteActor
from tests.support.voting import mastodon_poll

pytestmark = pytest.mark.federation

OPTIONS = ["Agree", "Abstain", "Disagree"]


async def _verify_from(node: MutualNode, actor_id: str, received: Received, peer: Peer
                       ) -> None:
    """The POST is HTTP-signed by ``actor_id``'s key, as a Mastodon inbox requires."""
    _, actor = await node.get(actor_id)
    headers = {k.lower(): v for k, v in received.headers.items()}
    sig = httpsig.parse_signature(method="POST", url=peer.url + received.path,
                                  headers=headers)
    assert sig.key_id == actor["publicKey"]["id"]
    httpsig.check_digest(headers, received.body)
    httpsig.verify_signature(sig, load_public_pem(actor["publicKey"]["publicKeyPem"]))


async def test_group_is_followable_and_its_proposal_is_a_mastodon_poll(
        cluster: Cluster) -> None:
    a = await cluster.node("a")
    ana = a.member("ana")
    group = a.cli("group", "create", "garden", "--owner", "ana")
    async with Peer() as peer:
        mia, zed = peer.actor("mia"), peer.actor("zed")
        follow = {"@context": AS_CONTEXT, "id": f"{mia.id}#follows/garden",
                  "type": "Follow", "actor": mia.id, "object": group}
        reply = await peer.signed_post(f"{group}/inbox", follow, actor=mia)
        assert reply.status == 202, reply
        accept = await peer.wait_for(lambda r: r.json["type"] == "Accept")
        assert accept.json["actor"] == group
        assert accept.json["object"]["id"] == follow["id"]

        # Members' posts, local and remote, come back as the group's Announce of the
        # author's own, unmodified Create; a non-member's post is refused.
        local = await ana.post({"type": "Note", "content": "Seedlings on Saturday",
                                "to": [group], "cc": [PUBLIC], "audience": group})
        remote = _post(mia, group, 1)
        reply = await peer.signed_post(f"{group}/inbox", remote, actor=mia)
        assert reply.status == 202, reply
        for create in (local, remote):
            announce = await peer.wait_for(lambda r, c=create: r.json["type"] == "Announce"
                                           and r.json["object"]["id"] == c["id"])
            assert announce.json["actor"] == group
            assert announce.json["object"] == create
            assert f"{group}/followers" in announce.json["to"]
            await _verify_from(a, group, announce, peer)
        refused = await peer.signed_post(f"{group}/inbox", _post(zed, group, 2), actor=zed)
        assert (refused.status, refused.reason) == (403, "not-a-member")

        # Proposals reach the follower as polls Mastodon's PollParser reads.
        end = iso_in(7)
        for key, title in (("oneOf", "Which day?"), ("anyOf", "Which seeds?")):
            await ana.post({"type": "Question", "name": title, "endTime": end,
                            key: [{"type": "Note", "name": n} for n in OPTIONS],
                            "decisionRule": "approval" if key == "anyOf" else "majority",
                            "to": [group], "audience": group})
        polls = {}
        for key, title in (("oneOf", "Which day?"), ("anyOf", "Which seeds?")):
            create = await peer.wait_for(lambda r, t=title: r.json["type"] == "Create"
                                         and r.json["object"]["name"] == t)
            question = create.json["object"]
            assert (create.json["actor"], question["attributedTo"]) == (group, group)
            assert all(option["type"] == "Note" for option in question[key])
            assert mastodon_poll(question) == {
                "multiple": key == "anyOf", "options": OPTIONS, "cached_tallies": [0, 0, 0],
                "voters_count": 0, "expires_at": end}
            polls[key] = question["id"]
        for n, (key, choice) in enumerate((("oneOf", "Agree"), ("anyOf", "Agree"),
                                           ("anyOf", "Disagree")), start=1):
            vote = mastodon_vote(mia, polls[key], group, choice, n)
            assert (await peer.signed_post(f"{group}/inbox", vote, actor=mia)).status == 202
        await ana.post({"type": "Note", "name": "Disagree", "inReplyTo": polls["oneOf"]})

        expected = {"oneOf": [1, 0, 1], "anyOf": [1, 0, 1]}
        voters = {"oneOf": 2, "anyOf": 1}
        for key, proposal in polls.items():  # live counts while the poll is open
            live = await peer.wait_for(lambda r, p=proposal, k=key: r.json["type"] == "Update"
                                       and r.json["object"]["id"] == p
                                       and r.json["object"].get("closed") is None
                                       and r.json["object"]["votersCount"] == voters[k])
            assert mastodon_poll(live.json["object"])["cached_tallies"] == expected[key]
        for key, proposal in polls.items():
            update = await peer.wait_for(lambda r, p=proposal: r.json["type"] == "Update"
                                         and r.json["object"]["id"] == p
                                         and r.json["object"].get("closed") is not None,
                                         within=30)
            question = update.json["object"]
            poll = mastodon_poll(question)
            assert poll["cached_tallies"] == expected[key], (key, question)
            assert poll["voters_count"] == voters[key]
            assert poll["expires_at"] == question["closed"]
            assert question["result"]["closedAt"] == question["closed"]
            await _verify_from(a, group, update, peer)


def _post(actor: RemoteActor, group: str, n: int) -> dict[str, Any]:
    note = f"{actor.id}/statuses/{n}"
    return {"@context": AS_CONTEXT, "id": f"{note}/activity", "type": "Create",
            "actor": actor.id, "to": [group], "cc": [PUBLIC], "audience": group,
            "object": {"id": note, "type": "Note", "attributedTo": actor.id,
                       "content": f"<p>post {n}</p>", "to": [group], "cc": [PUBLIC],
                       "audience": group}}


async def test_former_member_may_still_retract_their_post_in_the_group(
        cluster: Cluster) -> None:
    # Regression: a Delete addressed to the group by someone no longer a member was
    # refused 403 not-a-member, so the group kept relaying a post its author retracted.
    a = await cluster.node("a")
    a.member("ana")
    group = a.cli("group", "create", "garden", "--owner", "ana")
    async with Peer() as peer:
        mia, lou = peer.actor("mia"), peer.actor("lou")
        for actor in (mia, lou):
            await join_from_peer(peer, actor, group, a)
        post = _post(lou, group, 1)
        assert (await peer.signed_post(f"{group}/inbox", post, actor=lou)).status == 202
        await peer.wait_for(lambda r: r.json["type"] == "Announce"
                            and r.json["object"]["id"] == post["id"])
        leave = {"@context": AS_CONTEXT, "id": f"{lou.id}#undo/1", "type": "Undo",
                 "actor": lou.id, "object": {"id": f"{lou.id}#follows/1", "type": "Follow",
                                             "actor": lou.id, "object": group}}
        assert (await peer.signed_post(f"{group}/inbox", leave, actor=lou)).status == 202

        async def left() -> bool:
            return lou.id not in await a.collection(f"{group}/followers")

        await eventually(left)
        note = post["object"]["id"]
        delete = {"@context": AS_CONTEXT, "id": f"{note}#delete", "type": "Delete",
                  "actor": lou.id, "to": [group], "cc": [PUBLIC], "audience": group,
                  "object": note}
        reply = await peer.signed_post(f"{group}/inbox", delete, actor=lou)
        assert reply.status == 202, reply
        relayed = await peer.wait_for(lambda r: r.json["type"] == "Announce"
                                      and r.json["object"]["id"] == delete["id"])
        assert relayed.json["object"] == delete
        # Deleting what was never posted in the group is not the group's to relay.
        other = {**delete, "id": f"{lou.id}/statuses/9#delete",
                 "object": f"{lou.id}/statuses/9"}
        assert (await peer.signed_post(f"{group}/inbox", other, actor=lou)).status == 202
        # A non-member still cannot post.
        refused = await peer.signed_post(f"{group}/inbox", _post(lou, group, 2), actor=lou)
        assert (refused.status, refused.reason) == (403, "not-a-member")
    assert not [r for r in peer.received if r.json.get("type") == "Announce"
                and r.json["object"]["id"] == other["id"]]
