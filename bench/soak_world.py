"""The soak's world: three real nodes, their members, a group, a fake remote server, and
the ledger of what every node must (and must not) hold at the end.

Members of each node play fixed roles, so that which node should hold a post is known
exactly even while follows churn (a race between a follow and a post would otherwise
make "should have it" a matter of timing):

* regulars (indices ``0 .. M-3``) follow every non-quiet member of the other nodes;
* the churner (``M-2``) has no lasting follows: it follows and unfollows non-quiet
  members during the run, whom regulars on its node already follow, so its churn never
  changes which *nodes* a post must reach;
* the quiet member (``M-1``) is followed only from the next node (a -> b -> c -> a), so
  its followers-only posts must reach that node and must *not* reach the third one.

Members 0 and 1 of every node belong to the group on node ``a``, with remote voters on
the fake peer: Mastodon-shaped ones (HTTP signature only) and ones that sign their
ballots (FEP-8b32), as ``tests/support/voting.py`` builds them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
import aiohttp

from tests.support.nodes import AP, MutualNode
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor
from tests.support.voting import SigningVoter, signing_voter

__all__ = ["PUBLIC", "Ballot", "Expect", "Person", "Post", "World", "build_world", "read_db"]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
NODES = ("a", "b", "c")
GROUP = "commons"
GROUP_NODE = "a"
GROUP_INDICES = (0, 1)


def read_db(db: Path, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
    """A read-only query on a node's sqlite file (WAL lets it run beside the node)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, tuple(params)).fetchall()
    finally:
        conn.close()


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    node: str
    index: int
    name: str
    actor_id: str
    token: str

    @property
    def followers(self) -> str:
        return f"{self.actor_id}/followers"

    @property
    def outbox(self) -> str:
        return f"{self.actor_id}/outbox"


@dataclass(slots=True, kw_only=True)
class Post:
    """A legitimate post: which nodes must hold it, and which must never see it."""

    object_id: str
    activity_id: str
    author: Person
    visibility: str  # public | followers | group
    must: set[str]
    forbidden: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ballot:
    proposal: str
    voter: str
    choice: str


@dataclass(slots=True)
class Expect:
    """Everything the checks compare the stores with, filled in as operations succeed."""

    activities: dict[str, set[str]] = field(default_factory=dict)  # id -> nodes
    posts: dict[str, Post] = field(default_factory=dict)  # object id -> post
    reactions: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    follows: dict[tuple[str, str], bool] = field(default_factory=dict)  # final state
    ballots: dict[str, Ballot] = field(default_factory=dict)  # ballot (Note) id
    proposals: dict[str, float] = field(default_factory=dict)  # id -> end time

    def activity(self, activity_id: str, nodes: Iterable[str]) -> None:
        self.activities.setdefault(activity_id, set()).update(nodes)


@dataclass
class World:
    root: Path
    session: aiohttp.ClientSession
    nodes: dict[str, MutualNode]
    people: list[Person]
    members: int
    peer: Peer
    voters: list[RemoteActor] = field(default_factory=list)
    signers: list[SigningVoter] = field(default_factory=list)
    posters: list[RemoteActor] = field(default_factory=list)
    hostile: list[RemoteActor] = field(default_factory=list)
    audience: dict[str, set[str]] = field(default_factory=dict)  # actor -> node names
    stable: set[tuple[str, str]] = field(default_factory=set)  # (follower, followee)

    @property
    def group(self) -> str:
        return f"{self.nodes[GROUP_NODE].url}/groups/{GROUP}"

    def db(self, node: str) -> Path:
        return Path(self.nodes[node].data) / "mutual.db"

    def node_of(self, actor_or_object: str) -> str | None:
        for name, node in self.nodes.items():
            if actor_or_object.startswith(node.url + "/"):
                return name
        return None

    def quiet(self, person: Person) -> bool:
        return person.index == self.members - 1

    def churner(self, person: Person) -> bool:
        return person.index == self.members - 2

    @property
    def group_people(self) -> list[Person]:
        return [p for p in self.people if p.index in GROUP_INDICES]

    def can_see(self, viewer: Person, post: Post) -> bool:
        """Whether ``viewer`` may see and react to ``post`` (followers-only: followers)."""
        if post.visibility != "followers":
            return True
        return (viewer.actor_id, post.author.actor_id) in self.stable


def _stable_graph(people: list[Person], members: int) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for follower in people:
        for followee in people:
            if follower.node == followee.node:
                continue
            if follower.index < members - 2 and followee.index != members - 1:
                pairs.add((follower.actor_id, followee.actor_id))
            nxt = NODES[(NODES.index(followee.node) + 1) % len(NODES)]
            if followee.index == members - 1 and follower.node == nxt and follower.index == 0:
                pairs.add((follower.actor_id, followee.actor_id))
    return pairs


def _make_node(root: Path, session: aiohttp.ClientSession, name: str, members: int,
               env: dict[str, str]) -> tuple[MutualNode, list[Person]]:
    """Initialise one node's data folder and its members through the CLI (blocking)."""
    node = MutualNode(name=name, root=root, session=session, env=dict(env))
    node.init()
    people = []
    for index in range(members):
        member = node.member(f"{name}{index}")
        people.append(Person(node=name, index=index, name=member.name,
                             actor_id=member.actor_id, token=member.token))
    if name == GROUP_NODE:
        node.cli("group", "create", GROUP, "--owner", f"{name}0")
    return node, people


async def c2s(session: aiohttp.ClientSession, person: Person, doc: dict[str, Any]
              ) -> tuple[int, dict[str, Any]]:
    """POST to a member's outbox with their bearer token (AP §6); status and body."""
    headers = {"Authorization": f"Bearer {person.token}", "Content-Type": AP, "Accept": AP}
    async with session.post(person.outbox, json=doc, headers=headers) as response:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
        return response.status, body if isinstance(body, dict) else {}


async def build_world(root: Path, session: aiohttp.ClientSession, *, members: int,
                      voters: int, signers: int, env: dict[str, str]) -> World:
    """Three started nodes with their members and group, and the peer's actors."""
    made = await asyncio.gather(*(asyncio.to_thread(_make_node, root, session, name, members,
                                                    env) for name in NODES))
    nodes = {node.name: node for node, _ in made}
    people = [p for _, group in made for p in group]
    peer = Peer()
    try:
        await asyncio.gather(*(node.start() for node in nodes.values()))
        await peer.start()
    except BaseException:
        for node in nodes.values():
            node.stop()
        await peer.close()
        raise
    world = World(root=root, session=session, nodes=nodes, people=people, members=members,
                  peer=peer)
    world.voters = [peer.actor(f"mv{i:02d}") for i in range(voters)]
    world.signers = [signing_voter(peer, f"sv{i:02d}") for i in range(signers)]
    world.posters = [peer.actor(f"pat{i}") for i in range(2)]
    world.hostile = [peer.actor(f"mallory{i}") for i in range(2)]
    world.stable = _stable_graph(people, members)
    for person in people:
        followers = {f for f, e in world.stable if e == person.actor_id}
        world.audience[person.actor_id] = {person.node} | {
            n for n in (world.node_of(f) for f in followers) if n is not None}
    return world


async def settle(world: World, expect: Expect, *, within: float = 120.0) -> None:
    """Stable follows and group joins, each sent once; waits until both ends agree."""
    gate = asyncio.Semaphore(8)
    by_id = {p.actor_id: p for p in world.people}

    async def follow(follower: Person, target: str) -> None:
        async with gate:
            status, body = await c2s(world.session, follower,
                                     {"type": "Follow", "object": target})
        if status != 201:
            raise RuntimeError(f"setup follow {follower.name} -> {target}: {status} {body}")
        nodes = {follower.node, world.node_of(target) or follower.node}
        expect.activity(str(body["id"]), nodes)
        expect.follows[(follower.actor_id, target)] = True

    async def join(actor: RemoteActor) -> None:
        doc = {"@context": AS_CONTEXT, "id": f"{actor.id}#join", "type": "Follow",
               "actor": actor.id, "object": world.group}
        async with gate:
            reply = await world.peer.signed_post(f"{world.group}/inbox", doc, actor=actor)
        if reply.status != 202:
            raise RuntimeError(f"setup join of {actor.id}: {reply.status} {reply.body}")
        expect.activity(doc["id"], {GROUP_NODE})

    jobs = [follow(by_id[f], e) for f, e in sorted(world.stable)]
    jobs += [follow(p, world.group) for p in world.group_people  # the owner is in already
             if (p.node, p.index) != (GROUP_NODE, 0)]
    jobs += [join(a) for a in (*world.voters, *(s.actor for s in world.signers))]
    await asyncio.gather(*jobs)
    wanted = set(world.stable) | {(p.actor_id, world.group) for p in world.group_people}
    wanted |= {(a.id, world.group) for a in (*world.voters, *(s.actor for s in world.signers))}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        missing = []
        for name in world.nodes:
            rows = set(read_db(world.db(name), "SELECT follower, followee FROM follows"
                               " WHERE state = 'accepted'"))
            missing += [f"{name}: {f} -> {e}" for f, e in sorted(wanted)
                        if name in (world.node_of(f), world.node_of(e)) and (f, e) not in rows]
        if not missing:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"setup follows not settled within {within}s: {missing[:5]}")


def rss_kib(node: MutualNode) -> int:
    """Resident set size of the node's process (VmRSS in /proc/PID/status), KiB."""
    assert node.process is not None
    for line in Path(f"/proc/{node.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS line")
