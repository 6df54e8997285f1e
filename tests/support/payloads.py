"""Captured payloads from other servers, replayed against a node under test.

A payload names the sending server's hosts and the recipient's URLs; ``prepare``
rewrites the first to a fake remote server (``tests.support.peer``) that serves the
actors with keys the test holds, and the second to things on the node (the member, a
post or poll she made through C2S, her Follow), so the payload can be POSTed signed and
its effect read back over HTTP.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.home import Home
from tests.support.peer import Peer, RemoteActor, key_for

__all__ = [
    "AS", "FIXTURES", "FOLLOW", "MEMBER", "POLL", "POST", "Case", "Run", "prepare", "same_html",
]

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "payloads"
AS = "https://www.w3.org/ns/activitystreams"
# Placeholders for the recipient's side of a payload, filled per test.
MEMBER, POST, POLL = "<member>", "<post>", "<poll>"
FOLLOW = "http://follow.invalid/placeholder"  # ana's Follow: known only after the setup


@dataclass(frozen=True)
class Case:
    sender: tuple[str, ...]  # hosts of the sending server: served by the fake peer
    check: str  # what "stored correctly" means for this payload (see CHECKS)
    names: Mapping[str, str] = field(default_factory=dict)  # payload URL -> placeholder
    ana_follows: bool = False  # our member follows the sender (it posts to its followers)
    fix: Callable[[dict[str, Any]], None] | None = None  # repairs to a capture, said why


@dataclass
class Run:
    """One payload on its way in: what it became, and the things it refers to."""

    home: Home
    peer: Peer
    case: Case
    doc: dict[str, Any]
    actors: dict[str, RemoteActor]
    post: str = ""

    @property
    def sender(self) -> RemoteActor:
        return self.actors[self.doc["actor"]]

    async def send(self, activity: Mapping[str, Any]) -> None:
        actor = self.actors[str(activity["actor"])]
        reply = await self.peer.signed_post(self.home.shared_inbox, dict(activity), actor=actor)
        assert (reply.status, reply.body) == (202, {"status": "accepted"}), reply

    async def ana_follows(self, actor_id: str, *, accepted: bool) -> str:
        """ana follows ``actor_id`` through C2S; the peer accepts when asked to."""
        follow = await self.home.ana.post({"type": "Follow", "object": actor_id})
        await self.peer.wait_for(lambda r: r.json["id"] == follow["id"])
        if accepted:
            await self.send({"@context": AS, "id": f"{actor_id}#accepts/{uuid.uuid4()}",
                             "type": "Accept", "actor": actor_id, "object": follow})
            assert actor_id in await self.home.following()
        return str(follow["id"])

    async def sender_follows_ana(self) -> None:
        await self.send({"@context": AS, "id": f"{self.sender.id}#follows/{uuid.uuid4()}",
                         "type": "Follow", "actor": self.sender.id,
                         "object": self.home.ana.actor_id})
        assert self.sender.id in await self.home.followers()


class _Tokens(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[object] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append((tag, sorted(attrs, key=lambda a: (a[0], a[1] or ""))))

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(f"/{tag}")

    def handle_data(self, data: str) -> None:
        self.tokens.append(data)


def same_html(a: str, b: str) -> bool:
    """Equal up to attribute order (nh3 adds rel/target in an order that varies between
    processes, so the node's output and ours may list them differently)."""
    parsed = []
    for text in (a, b):
        parser = _Tokens()
        parser.feed(text)
        parser.close()
        parsed.append(parser.tokens)
    return parsed[0] == parsed[1]


def rewrite(text: str, mapping: Mapping[str, str]) -> str:
    """Replace every key of ``mapping`` in one pass, longest first."""
    pattern = "|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True))
    return re.sub(pattern, lambda m: mapping[m.group(0)], text)


def actor_ids(doc: Any, peer: Peer) -> set[str]:
    """Every actor (and author) on the peer that the payload names."""
    found: set[str] = set()
    pending = [doc]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for key in ("actor", "attributedTo"):
                if isinstance(node.get(key), str) and node[key].startswith(peer.url):
                    found.add(node[key])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


async def prepare(home: Home, peer: Peer, name: str, case: Case) -> Run:
    text = (FIXTURES / f"{name}.json").read_text()
    ana = home.ana
    values = {MEMBER: ana.actor_id, FOLLOW: FOLLOW}
    if POST in case.names.values():
        values[POST] = (await ana.post({"type": "Note", "content": "Tea at four?"}))["object"]["id"]
    if POLL in case.names.values():
        poll = await ana.post({"type": "Question", "content": "Fruit?", "oneOf": [
            {"type": "Note", "name": n} for n in ("orange", "tissues", "financial times")]})
        values[POLL] = poll["object"]["id"]
    mapping = {url: values[placeholder] for url, placeholder in case.names.items()}
    for host in case.sender:
        mapping.update({f"http://{host}": peer.url, f"https://{host}": peer.url})
    doc = json.loads(rewrite(text, mapping))
    if case.fix is not None:
        case.fix(doc)
    actors = {}
    for actor_id in sorted(actor_ids(doc, peer)):
        path = urlsplit(actor_id).path
        actors[actor_id] = peer.actor(path=path, type="Group" if "/c/" in path else "Person",
                                      key=key_for("payload-senders"))
    return Run(home=home, peer=peer, case=case, doc=doc, actors=actors, post=values.get(POST, ""))
