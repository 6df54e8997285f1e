"""Hostile HTML is checked on every output (issue 6, "Input"): posted by a remote peer
and by a member through the client API and C2S, then read back through everything
that shows it — ActivityPub documents, the outbox and inbox collections, the
deliveries to other servers, the web pages, the client API's statuses, timelines,
notifications and accounts, and the streaming API.

The payload carries script, style, iframe, svg, object and form elements, event
handlers and ``javascript:`` links in every field a post or a profile has: content,
summary (content warning), display name, bio, profile fields, poll options, hashtag
names and attachment descriptions. HTML fields (AS2 ``content``/``summary`` and their
maps, a profile's ``summary`` and field values; the API's ``content``, ``note`` and
field values) must hold no such markup, and every web page none in its body. Plain-text
fields (AS2 ``name``, the API's ``display_name``, ``spoiler_text``, poll option titles,
media descriptions) are text by contract, as on Mastodon: they may say "<script>", and
are checked where the node itself puts them into HTML, the web pages, which escape
them. Each output must also show the payload's harmless marker, so that none passes
for want of having shown the post at all.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.support.nodes import AP, Cluster, Member, MutualNode
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor
from tests.support.streams import open_ws

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
MARKER = "PAYLOAD-7"
HOSTILE = (f'<p>{MARKER} <b>kept</b></p><script>alert("xss")</script>'
           "<style>p{background:url(javascript:alert(1))}</style>"
           '<iframe src="https://evil.example/"></iframe><img src="x" onerror="alert(2)">'
           '<a href="javascript:alert(3)" onclick="alert(4)">link</a>'
           '<a href=" JaVaScRiPt:alert(8)">spaced</a><svg onload="alert(5)"></svg>'
           '<object data="x"></object><form action="javascript:alert(6)"><input></form>'
           '<p style="position:fixed" onmouseover="alert(7)">styled</p>')
SHORT = f'{MARKER}<script>alert(1)</script><img src=x onerror=alert(2)>'  # <= 100 chars
DANGEROUS_TAGS = {"script", "style", "iframe", "object", "embed", "svg", "math", "form",
                  "input", "button", "textarea", "link", "meta", "base", "frame",
                  "frameset", "applet", "img", "video", "audio", "source", "template"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster"}
HTML_KEYS = {"content", "summary", "note"}
HASHTAG = re.compile(r"\w*[^\W\d_]\w*")


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DANGEROUS_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc"):
                self.found.append(f"{tag} {name}=")
            plain = re.sub(r"[\x00-\x20]", "", value or "").lower()
            if name in URL_ATTRIBUTES and plain.startswith(("javascript:", "vbscript:",
                                                             "data:")):
                self.found.append(f"{tag} {name}={value}")

    handle_startendtag = handle_starttag


def dangerous(html: str) -> list[str]:
    parser = _Markup()
    parser.feed(html)
    parser.close()
    return parser.found


def html_fields(doc: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every field of a JSON document that holds HTML, with where it is."""
    if isinstance(doc, list):
        for n, item in enumerate(doc):
            yield from html_fields(item, f"{path}[{n}]")
        return
    if not isinstance(doc, dict):
        return
    for key, value in doc.items():
        where = f"{path}.{key}"
        if key == "source":
            continue  # what the author typed, plain text or Markdown: never shown as HTML
        if key in HTML_KEYS and isinstance(value, str):
            yield where, value
        elif key in ("contentMap", "summaryMap") and isinstance(value, dict):
            yield from ((f"{where}.{k}", v) for k, v in value.items() if isinstance(v, str))
        elif key in ("fields", "attachment") and isinstance(value, list):
            for n, item in enumerate(value):
                if isinstance(item, dict) and isinstance(item.get("value"), str):
                    yield f"{where}[{n}].value", item["value"]
        yield from html_fields(value, where)


def api_tags(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, list):
        for item in doc:
            yield from api_tags(item)
    elif isinstance(doc, dict):
        if isinstance(doc.get("tags"), list):
            yield from (t for t in doc["tags"] if isinstance(t, dict))
        for value in doc.values():
            yield from api_tags(value)


@dataclass
class World:
    node: MutualNode
    peer: Peer
    ana: Member
    bo: Member
    mallory: RemoteActor
    group: str = ""  # an open group mallory belongs to; it relays her posts
    ana_objects: list[str] = field(default_factory=list)
    ana_activities: list[str] = field(default_factory=list)
    mallory_objects: list[str] = field(default_factory=list)

    def auth(self, member: Member) -> dict[str, str]:
        return {"Authorization": f"Bearer {member.token}"}

    async def api(self, path: str, member: Member | None = None) -> Any:
        status, doc = await self.node.get(f"{self.node.url}{path}",
                                          headers=self.auth(member or self.ana)
                                          | {"Accept": "application/json"})
        assert status == 200, (path, status, doc)
        return doc

    async def page(self, url: str) -> str:
        assert self.node.session is not None
        async with self.node.session.get(url, headers={"Accept": "text/html"}) as response:
            assert response.status == 200, (url, response.status)
            assert response.content_type == "text/html"
            return await response.text()

    async def mallory_posts(self, obj: dict[str, Any]) -> str:
        note_id = f"{self.mallory.id}/statuses/{uuid.uuid4().hex[:10]}"
        to, cc = [PUBLIC], [self.mallory.followers, self.ana.actor_id]
        activity = {"@context": AS_CONTEXT, "id": f"{note_id}/activity", "type": "Create",
                    "actor": self.mallory.id, "to": to, "cc": cc,
                    "object": {"id": note_id, "attributedTo": self.mallory.id, "to": to,
                               "cc": cc, **obj}}
        reply = await self.peer.signed_post(f"{self.node.url}/inbox", activity,
                                            actor=self.mallory)
        assert reply.status == 202, reply
        self.mallory_objects.append(note_id)
        return note_id


def mallorys_note(world: World) -> dict[str, Any]:
    return {"type": "Note", "content": HOSTILE, "summary": HOSTILE, "sensitive": True,
            "tag": [{"type": "Mention", "href": world.ana.actor_id,
                     "name": f"@ana@{world.node.host}"},
                    {"type": "Hashtag", "href": "https://evil.example/tags/x",
                     "name": '#<script>alert("tag")</script>'},
                    {"type": "Hashtag", "href": "https://evil.example/tags/fine",
                     "name": "#fine"}],
            "attachment": [{"type": "Document", "mediaType": "image/png",
                            "url": "https://evil.example/cat.png", "name": HOSTILE}]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        cluster = Cluster(tmp_path_factory.mktemp("html-outputs"), session)
        try:
            node = await cluster.node("home")
            async with Peer() as peer:
                mallory = peer.actor("mallory")
                peer.serve({**mallory.document, "name": SHORT, "summary": HOSTILE,
                            "attachment": [{"type": "PropertyValue", "name": SHORT,
                                            "value": HOSTILE}]})
                world = World(node=node, peer=peer, ana=node.member("ana"),
                              bo=node.member("bo"), mallory=mallory)
                await _build(world)
                yield world
        finally:
            cluster.stop_all()


async def _build(w: World) -> None:
    """Each hostile input, once, through each way in."""
    follow = {"@context": AS_CONTEXT, "id": f"{w.mallory.id}#follows/ana", "type": "Follow",
              "actor": w.mallory.id, "object": w.ana.actor_id}
    assert (await w.peer.signed_post(w.ana.actor_id + "/inbox", follow,
                                     actor=w.mallory)).status == 202
    ours = await w.ana.post({"type": "Follow", "object": w.mallory.id})
    await w.peer.wait_for(lambda r: r.json["id"] == ours["id"])
    accept = {"@context": AS_CONTEXT, "id": f"{w.mallory.id}#accepts/ana", "type": "Accept",
              "actor": w.mallory.id, "object": ours}
    assert (await w.peer.signed_post(f"{w.node.url}/inbox", accept,
                                     actor=w.mallory)).status == 202
    await w.mallory_posts(mallorys_note(w))
    w.group = w.node.cli("group", "create", "garden", "--owner", "ana")
    join = {"@context": AS_CONTEXT, "id": f"{w.mallory.id}#follows/garden", "type": "Follow",
            "actor": w.mallory.id, "object": w.group}
    assert (await w.peer.signed_post(f"{w.group}/inbox", join, actor=w.mallory)).status == 202
    await w.mallory_posts({**mallorys_note(w), "audience": w.group, "cc": [w.group]})
    await w.mallory_posts({"type": "Question", "content": HOSTILE, "name": SHORT,
                           "endTime": "2999-01-01T00:00:00Z",
                           "oneOf": [{"type": "Note", "name": SHORT},
                                     {"type": "Note", "name": HOSTILE[:150]}]})
    assert w.node.session is not None
    for body in ({"status": f"{HOSTILE} @bo", "spoiler_text": HOSTILE},
                 {"status": HOSTILE, "poll": {"options": [SHORT, HOSTILE[:150]],
                                               "expires_in": 86400}}):
        async with w.node.session.post(f"{w.node.url}/api/v1/statuses", json=body,
                                       headers=w.auth(w.ana)) as response:
            status = await response.json()
            assert response.status == 200, status
            w.ana_objects.append(status["uri"])
    c2s = await w.ana.post({"type": "Note", "content": HOSTILE, "summary": HOSTILE})
    w.ana_objects.append(c2s["object"]["id"])
    async with w.node.session.patch(f"{w.node.url}/api/v1/accounts/update_credentials",
                                    json={"display_name": SHORT, "note": HOSTILE},
                                    headers=w.auth(w.ana)) as response:
        assert response.status == 200, await response.text()
    for item in await w.node.collection(f"{w.ana.actor_id}/outbox",
                                        headers={"Accept": AP}):
        w.ana_activities.append(item["id"])


# -- every output -------------------------------------------------------------------------

Output = Callable[[World], Awaitable[list[tuple[str, Any]]]]


async def ap_documents(w: World) -> list[tuple[str, Any]]:
    urls = [w.ana.actor_id, *w.ana_objects, *w.ana_activities]
    return [(url, (await w.node.get(url))[1]) for url in urls]


async def ap_collections(w: World) -> list[tuple[str, Any]]:
    inbox = await w.ana.inbox()
    outbox = await w.node.collection(f"{w.ana.actor_id}/outbox")
    return [("ana's inbox", inbox), ("ana's outbox", outbox)]


async def group_relays(w: World) -> list[tuple[str, Any]]:
    """The group's Announce of mallory's post (FEP-1b12), by URL and in its outbox."""
    outbox = await w.node.collection(f"{w.group}/outbox")
    relays = [item for item in outbox if item["type"] == "Announce"]
    assert relays, outbox
    return [("the group's outbox", outbox),
            *[(item["id"], (await w.node.get(item["id"]))[1]) for item in relays]]


async def deliveries(w: World) -> list[tuple[str, Any]]:
    """What other servers were sent: the Creates of ana's posts, her profile's Update."""
    for object_id in w.ana_objects:
        await w.peer.wait_for(lambda r, o=object_id: r.json["object"]["id"] == o)
    await w.peer.wait_for(lambda r: r.json["type"] == "Update")
    return [(f"POST {r.path} {r.json['type']}", r.json) for r in w.peer.received
            if r.json["type"] in ("Create", "Update")]


async def web_pages(w: World) -> list[tuple[str, Any]]:
    urls = [*w.ana_objects, w.ana.actor_id, f"{w.node.url}/@ana"]
    return [(url, await w.page(url)) for url in urls]


async def api_statuses(w: World) -> list[tuple[str, Any]]:
    found = await w.api("/api/v1/timelines/home?limit=40")
    ids = [s["id"] for s in found]
    return [(f"status {i}", await w.api(f"/api/v1/statuses/{i}")) for i in ids]


async def api_timelines(w: World) -> list[tuple[str, Any]]:
    mallory = (await w.api(f"/api/v1/accounts/lookup?acct=mallory@{w.peer.host}"))["id"]
    paths = ["/api/v1/timelines/home", "/api/v1/timelines/public",
             "/api/v1/timelines/public?local=true", "/api/v1/timelines/tag/fine",
             f"/api/v1/accounts/{mallory}/statuses"]
    return [(path, await w.api(path)) for path in paths]


async def api_notifications(w: World) -> list[tuple[str, Any]]:
    return [("ana's", await w.api("/api/v1/notifications")),
            ("bo's", await w.api("/api/v1/notifications", w.bo))]


async def api_accounts(w: World) -> list[tuple[str, Any]]:
    me = await w.api("/api/v1/accounts/verify_credentials")
    mallory = await w.api(f"/api/v1/accounts/lookup?acct=mallory@{w.peer.host}")
    followers = await w.api(f"/api/v1/accounts/{me['id']}/followers")
    return [("verify_credentials", me), ("mallory", mallory), ("followers", followers)]


async def streaming(w: World) -> list[tuple[str, Any]]:
    assert w.node.session is not None
    async with open_ws(w.node.session, w.node.url, token=w.ana.token,
                       query={"stream": "user"}) as stream:
        note_id = await w.mallory_posts(mallorys_note(w))
        update, _ = await stream.until(lambda e: e.event == "update"
                                       and e.payload["uri"] == note_id)
        mention, _ = await stream.until(lambda e: e.event == "notification")
    return [("update", update.payload), ("notification", mention.payload)]


OUTPUTS: dict[str, Output] = {
    "activitypub-documents": ap_documents, "activitypub-collections": ap_collections,
    "group-relays": group_relays, "deliveries": deliveries, "web-pages": web_pages,
    "api-statuses": api_statuses, "api-timelines": api_timelines,
    "api-notifications": api_notifications, "api-accounts": api_accounts,
    "streaming": streaming,
}


@pytest.mark.parametrize("output", list(OUTPUTS))
async def test_hostile_html_never_reaches_an_output_as_markup(world: World,
                                                              output: str) -> None:
    shown = await OUTPUTS[output](world)
    assert shown, output
    for label, payload in shown:
        if isinstance(payload, str):  # a web page: the node's own markup, then ours
            head, _, body = payload.partition("<body>")
            assert body, label
            assert dangerous(body) == [], (label, dangerous(body))
            assert "<script" not in head.lower(), label
            assert MARKER in body, label
            continue
        text = json.dumps(payload)
        assert MARKER in text, f"{label} does not show the hostile post at all"
        for where, html in html_fields(payload):
            assert dangerous(html) == [], (label, where, dangerous(html), html)
        for tag in api_tags(payload):
            assert HASHTAG.fullmatch(tag["name"]), (label, tag)
            assert "<" not in tag["url"], (label, tag)
