"""The soak's legitimate social traffic, its statistics, and the paced op loop.

Every operation goes through public HTTP only: members post through their C2S outbox
with their bearer token, the fake peer's actors through signed inbox POSTs. An
operation updates the expectation ledger (``Expect``) only once its answer says it was
accepted, so the checks compare the stores with what the nodes actually took in.

Replies, likes and boosts address their audience explicitly (as a Mastodon client
does) instead of letting the node look up the author, so the audience does not depend
on whether a delivery has already arrived; and they only touch posts the member could
see (followers-only posts: only the author's followers).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
from soak_world import NODES, PUBLIC, Expect, Person, Post, World, c2s

if TYPE_CHECKING:  # they build on this module
    from soak_junk import Junk
    from soak_votes import Votes

__all__ = ["WEIGHTS", "Op", "Stats", "Traffic", "run_paced"]

#: Operations per 100: the mix of a busy community hour (see bench/soak.py).
WEIGHTS: dict[str, int] = {
    "post public": 15, "post followers-only": 8, "reply": 10, "like": 14, "boost": 5,
    "group post": 6, "follow/unfollow": 5, "vote (Mutual ballot, C2S)": 5,
    "vote (Mastodon-shaped)": 5, "vote (signed ballot, S2S)": 3, "remote post": 4,
    "junk": 20,
}
CHURN_GAP = 10.0  # seconds between two changes of the same follow (a person's pace)
RECENT = 400  # posts kept as candidates for replies, likes and boosts

Op = Callable[[], Awaitable[tuple[str, bool]]]  # -> (answer label, legitimately ok)


@dataclass
class KindStats:
    sent: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)


@dataclass
class Stats:
    kinds: dict[str, KindStats] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # legitimate ops that were refused
    retries: int = 0  # C2S votes retried because the proposal had not arrived yet

    async def timed(self, kind: str, op: Op, *, legit: bool) -> None:
        entry = self.kinds.setdefault(kind, KindStats())
        entry.sent += 1
        started = time.perf_counter()
        try:
            answer, ok = await op()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            answer, ok = f"error {type(exc).__name__}", False
        except Exception as exc:  # the op loop's outermost level: a bug here must be loud
            answer, ok = f"soak error {exc!r}"[:120], False
            legit = True
        entry.latencies.append(time.perf_counter() - started)
        entry.answers[answer] += 1
        if legit and not ok and len(self.failures) < 50:
            self.failures.append(f"{kind}: {answer}")


def label(status: int, body: Any) -> str:
    """The answer as the table shows it: the status, and ``dup`` for a 202 duplicate."""
    if status == 202 and isinstance(body, dict) and body.get("status") == "duplicate":
        return "202 dup"
    return str(status)


class Traffic:
    """Picks the next operation of the mix and runs it; owns the social state."""

    def __init__(self, world: World, expect: Expect, stats: Stats, *, seed: int) -> None:
        self.world, self.expect, self.stats = world, expect, stats
        self.rng = random.Random(seed)
        self.counter = itertools.count(1)
        self.posts: deque[Post] = deque(maxlen=RECENT)
        self.reacted: set[tuple[str, str, str]] = set()
        # (churner, target) -> (following?, its Follow's id, when it last changed)
        self.churn: dict[tuple[str, str], tuple[bool, str | None, float]] = {}
        self.busy: set[tuple[str, str]] = set()
        self.votes: Votes  # attached by the caller, as they need this object first
        self.junk: Junk
        self.kinds = list(WEIGHTS)
        self.weights = [WEIGHTS[k] for k in self.kinds]

    # -- picking --------------------------------------------------------------------

    def pick(self) -> tuple[str, Op, bool]:
        """(kind, operation, legitimate?) for the next slot of the mix. State that two
        concurrent operations must not both use (a vote, a follow) is reserved here."""
        kind = self.rng.choices(self.kinds, self.weights)[0]
        if kind == "junk":
            junk_kind, op = self.junk.pick()
            return f"junk: {junk_kind}", op, False
        made = self._make(kind)
        if made is None:
            kind, made = "post public", self._post(self._person(), "public")
        return kind, made, True

    def _make(self, kind: str) -> Op | None:
        if kind == "post public":
            return self._post(self._person(), "public")
        if kind == "post followers-only":
            return self._post(self._person(), "followers")
        if kind == "group post":
            return self._post(self.rng.choice(self.world.group_people), "group")
        if kind == "reply":
            return self._reply()
        if kind in ("like", "boost"):
            return self._react(kind)
        if kind == "follow/unfollow":
            return self._churn()
        if kind == "remote post":
            return self._remote_post()
        return self.votes.make(kind)

    def _person(self) -> Person:
        return self.rng.choice(self.world.people)

    def _visible(self, viewer: Person, *, public_only: bool = False) -> Post | None:
        for _ in range(10):
            if not self.posts:
                return None
            post = self.rng.choice(self.posts)
            if post.author == viewer or not self.world.can_see(viewer, post):
                continue
            if public_only and post.visibility != "public":
                continue
            return post
        return None

    # -- posts ----------------------------------------------------------------------

    def _post(self, author: Person, visibility: str) -> Op:
        n = next(self.counter)
        doc: dict[str, Any] = {"type": "Note", "content": f"Soak post {n} by {author.name} #soak"}
        if visibility == "followers":
            doc.update(to=[author.followers], cc=[])
        elif visibility == "group":
            doc.update(to=[self.world.group], cc=[PUBLIC], audience=self.world.group)
        must = set(NODES) if visibility == "group" else set(self.world.audience[author.actor_id])
        forbidden = set(NODES) - must if visibility == "followers" else set()
        return self._publish(author, doc, visibility, must, forbidden)

    def _reply(self) -> Op | None:
        replier = self._person()
        parent = self._visible(replier)
        if parent is None:
            return None
        n = next(self.counter)
        doc = {"type": "Note", "content": f"Soak reply {n} by {replier.name}",
               "inReplyTo": parent.object_id, "to": [PUBLIC],
               "cc": [replier.followers, parent.author.actor_id]}
        must = self.world.audience[replier.actor_id] | {parent.author.node}
        return self._publish(replier, doc, "public", must, set())

    def _publish(self, author: Person, doc: dict[str, Any], visibility: str,
                 must: set[str], forbidden: set[str]) -> Op:
        async def op() -> tuple[str, bool]:
            status, body = await c2s(self.world.session, author, doc)
            if status != 201:
                return str(status), False
            post = Post(object_id=str(body["object"]["id"]), activity_id=str(body["id"]),
                        author=author, visibility=visibility, must=set(must),
                        forbidden=forbidden)
            self.expect.posts[post.object_id] = post
            self.expect.activity(post.activity_id, must)
            self.posts.append(post)
            return "201", True

        return op

    # -- reactions ------------------------------------------------------------------

    def _react(self, kind: str) -> Op | None:
        actor = self._person()
        post = self._visible(actor, public_only=kind == "boost")
        if post is None:
            return None
        key = (kind, actor.actor_id, post.object_id)
        if key in self.reacted:
            return None
        self.reacted.add(key)
        author = post.author.actor_id
        if kind == "like":
            doc = {"type": "Like", "object": post.object_id, "to": [author]}
            nodes = {actor.node, post.author.node}
        else:
            doc = {"type": "Announce", "object": post.object_id, "to": [PUBLIC],
                   "cc": [actor.followers, author]}
            nodes = self.world.audience[actor.actor_id] | {post.author.node}

        async def op() -> tuple[str, bool]:
            status, body = await c2s(self.world.session, actor, doc)
            if status != 201:
                return str(status), False
            self.expect.activity(str(body["id"]), nodes)
            reaction = ("like" if kind == "like" else "announce", actor.actor_id,
                        post.object_id)
            self.expect.reactions[reaction] = set(nodes)
            if kind == "boost":
                post.must |= nodes  # receivers fetch the boosted post from its origin
            return "201", True

        return op

    # -- follows --------------------------------------------------------------------

    def _churn(self) -> Op | None:
        churners = [p for p in self.world.people if self.world.churner(p)]
        now = time.monotonic()
        for _ in range(5):
            churner = self.rng.choice(churners)
            target = self.rng.choice([p for p in self.world.people if p.node != churner.node
                                      and not self.world.quiet(p)])
            pair = (churner.actor_id, target.actor_id)
            following, follow_id, changed = self.churn.get(pair, (False, None, -CHURN_GAP))
            if pair not in self.busy and now - changed >= CHURN_GAP:
                self.busy.add(pair)
                return self._follow_op(churner, target, following, follow_id)
        return None

    def _follow_op(self, churner: Person, target: Person, following: bool,
                   follow_id: str | None) -> Op:
        pair = (churner.actor_id, target.actor_id)
        doc = ({"type": "Undo", "object": follow_id} if following
               else {"type": "Follow", "object": target.actor_id})

        async def op() -> tuple[str, bool]:
            try:
                status, body = await c2s(self.world.session, churner, doc)
            finally:
                self.busy.discard(pair)
            if status != 201:
                return str(status), False
            self.churn[pair] = (not following, None if following else str(body["id"]),
                                time.monotonic())
            self.expect.activity(str(body["id"]), {churner.node, target.node})
            self.expect.follows[pair] = not following
            return "201", True

        return op

    # -- a remote server's legitimate post --------------------------------------------

    def _remote_post(self) -> Op:
        world, n = self.world, next(self.counter)
        actor = self.rng.choice(world.posters)
        person = self._person()
        doc = {"@context": "https://www.w3.org/ns/activitystreams",
               "id": f"{actor.id}/notes/{n}/activity", "type": "Create", "actor": actor.id,
               "to": [PUBLIC], "cc": [person.actor_id],
               "object": {"id": f"{actor.id}/notes/{n}", "type": "Note",
                          "attributedTo": actor.id, "content": f"Remote post {n}",
                          "to": [PUBLIC], "cc": [person.actor_id]}}

        async def op() -> tuple[str, bool]:
            sent: list[Any] = []
            reply = await world.peer.signed_post(f"{person.actor_id}/inbox", doc, actor=actor,
                                                 mutate=sent.append)
            answer = label(reply.status, reply.body)
            if answer != "202":
                return answer, False
            self.junk.remember(sent)
            self.expect.activity(doc["id"], {person.node})
            return answer, True

        return op


async def run_paced(pick: Callable[[], tuple[str, Op, bool]], stats: Stats, *, ops: int,
                    seconds: float, rate: float, concurrency: int,
                    at: Callable[[int], None]) -> int:
    """Start op ``i`` at ``i / rate`` seconds (open loop, a steady rate), at most
    ``concurrency`` in flight, stopping at ``ops`` or after ``seconds``; ``at(i)`` is
    called as op ``i`` starts. Returns how many were started."""
    gate = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()

    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        gate.release()

    started = time.monotonic()
    deadline = started + seconds
    count = 0
    for i in range(ops):
        wait = started + i / rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if time.monotonic() >= deadline:
            break
        await gate.acquire()
        at(i)
        kind, op, legit = pick()
        task = asyncio.create_task(stats.timed(kind, op, legit=legit))
        tasks.add(task)
        task.add_done_callback(done)
        count += 1
    if tasks:
        await asyncio.wait(tasks, timeout=60)
    return count
