"""The soak's junk: hostile or broken deliveries mixed into the traffic at a steady rate.

One kind after the other, round-robin, each aimed at a random node and inbox (shared,
a member's, the group's). Hostile-but-signed requests come from actors on the fake peer
whose keys the soak holds (``tests/support/peer.py``), so each breaks exactly one thing:

* no signature; a signature of random bytes; a body changed after signing (digest);
* a body that is not JSON; a body over ``inbox.max_body_bytes``;
* an activity about an object on another host (a Create of an object whose id is on a
  member's node, an Update or a Delete of a member's real post);
* an activity signed by one actor in the name of another (a member of another node);
* a vote from an actor who is not a member of the group;
* a replay, byte for byte, of a request the node accepted earlier.

Every junk id and text carries ``JUNK`` so the checks can look for it in every store;
a replay carries a legitimate activity, which must stay stored exactly once.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from typing import Any

from soak_traffic import Op, Traffic, label
from soak_votes import OPTIONS, mastodon_vote
from soak_world import GROUP_NODE, NODES, PUBLIC, Person

from tests.support.peer import (
    AS_CONTEXT,
    Outgoing,
    RemoteActor,
    bad_signature_bytes,
    tamper_body,
)

__all__ = ["JUNK", "KINDS", "Junk"]

JUNK = "soakjunk"
KINDS = ("unsigned", "bad signature", "digest mismatch", "malformed JSON", "oversized body",
         "object on another host", "signed as someone else", "vote from a non-member",
         "replay of an accepted request")


class Junk:
    def __init__(self, traffic: Traffic, *, max_body: int) -> None:
        self.traffic = traffic
        self.max_body = max_body
        self.kinds = itertools.cycle(KINDS)
        self.variants = itertools.cycle(("create", "update", "delete"))
        self.accepted: deque[Outgoing] = deque(maxlen=500)

    def remember(self, requests: list[Outgoing]) -> None:
        """Keep an accepted legitimate request (as sent) for a later replay."""
        self.accepted.extend(requests)

    def pick(self) -> tuple[str, Op]:
        kind = next(self.kinds)
        return kind, self._op(kind)

    # -- building -----------------------------------------------------------------------

    def _target(self) -> tuple[str, Person]:
        """An inbox URL on a random node, and a member of that node to address."""
        rng, world = self.traffic.rng, self.traffic.world
        node = rng.choice(NODES)
        person = rng.choice([p for p in world.people if p.node == node])
        inboxes = [f"{world.nodes[node].url}/inbox", f"{person.actor_id}/inbox"]
        if node == GROUP_NODE:
            inboxes.append(f"{world.group}/inbox")
        return rng.choice(inboxes), person

    def _create(self, actor: str, n: int, person: Person, *, object_id: str | None = None,
                content: str = "") -> dict[str, Any]:
        oid = object_id or f"{actor}/{JUNK}/{n}"
        return {"@context": AS_CONTEXT, "id": f"{actor}/{JUNK}/{n}/activity",
                "type": "Create", "actor": actor, "to": [PUBLIC], "cc": [person.actor_id],
                "object": {"id": oid, "type": "Note", "attributedTo": actor,
                           "content": f"{JUNK} {n} {content}", "to": [PUBLIC],
                           "cc": [person.actor_id]}}

    def _foreign(self, actor: RemoteActor, n: int, person: Person) -> dict[str, Any]:
        """An activity of ``actor`` about an object that lives on a member's node."""
        variant = next(self.variants)
        posts = self.traffic.posts
        if variant == "create" or not posts:
            victim = self.traffic.world.nodes[person.node].url
            return self._create(actor.id, n, person, object_id=f"{victim}/objects/{JUNK}-{n}")
        post = self.traffic.rng.choice(posts)
        doc: dict[str, Any] = {"@context": AS_CONTEXT, "id": f"{actor.id}/{JUNK}/{n}/activity",
                               "type": "Update" if variant == "update" else "Delete",
                               "actor": actor.id, "to": [PUBLIC], "object": post.object_id}
        if variant == "update":
            doc["object"] = {"id": post.object_id, "type": "Note", "content": f"{JUNK} {n}",
                             "attributedTo": post.author.actor_id}
        return doc

    def _op(self, kind: str) -> Op:
        traffic = self.traffic
        peer, rng = traffic.world.peer, traffic.rng
        actor = rng.choice(traffic.world.hostile)
        n = next(traffic.counter)
        inbox, person = self._target()
        doc = self._create(actor.id, n, person)
        body: bytes | None = None
        hooks: list[Any] = []
        scheme = "cavage"
        if kind == "replay of an accepted request" and self.accepted:
            request = rng.choice(self.accepted)
            replayed = Outgoing(url=request.url, headers=dict(request.headers),
                                body=request.body)

            async def replay() -> tuple[str, bool]:
                reply = await peer.send(replayed)
                return label(reply.status, reply.body), True

            return replay
        if kind in ("unsigned", "replay of an accepted request"):
            scheme = "none"
        elif kind == "bad signature":
            hooks.append(bad_signature_bytes)
        elif kind == "digest mismatch":
            hooks.append(tamper_body)
        elif kind == "malformed JSON":
            body = json.dumps(doc).encode()[:-9]
        elif kind == "oversized body":
            doc = self._create(actor.id, n, person, content="x" * (self.max_body + 4096))
        elif kind == "object on another host":
            doc = self._foreign(actor, n, person)
        elif kind == "signed as someone else":
            victim = rng.choice([p for p in traffic.world.people if p.node != person.node])
            doc = self._create(victim.actor_id, n, person, object_id=(
                f"{traffic.world.nodes[victim.node].url}/objects/{JUNK}-{n}"))
        elif kind == "vote from a non-member":
            inbox = f"{traffic.world.group}/inbox"
            known = [p.id for p in traffic.votes.proposals if p.id is not None]
            proposal = rng.choice(known) if known else f"{traffic.world.group}/proposals/1"
            doc = mastodon_vote(actor.id, proposal, traffic.world.group, rng.choice(OPTIONS),
                                n)
            doc["id"] = f"{actor.id}#votes/{JUNK}-{n}/activity"
            doc["object"]["id"] = f"{actor.id}#votes/{JUNK}-{n}"

        async def op() -> tuple[str, bool]:
            reply = await peer.signed_post(inbox, body if body is not None else doc,
                                           actor=actor, scheme=scheme, mutate=hooks)
            return label(reply.status, reply.body), True

        return op
