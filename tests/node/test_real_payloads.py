"""Acceptance item 5: activities as Mastodon, GoToSocial, Misskey (Sharkey), Akkoma and
Lemmy actually send them are accepted and stored correctly.

Each file in ``tests/fixtures/payloads`` (sources in its SOURCES.md) is one test. The
sending server's hosts are rewritten to a fake remote server that serves the actors
with keys the test holds, and the recipient's URLs to things on the node under test
(our member, a post or poll she made through C2S, her Follow). The payload is then
POSTed to the shared inbox, signed as Mastodon signs, and its effect checked through
public HTTP only: a post in the member's inbox with sanitised content, a follower
listed and answered with an Accept, counts on the member's post, a Tombstone, ...
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from protocol.html import sanitize
from tests.support.home import Home, home_node
from tests.support.payloads import (
    AS,
    FIXTURES,
    FOLLOW,
    MEMBER,
    POLL,
    POST,
    Case,
    Run,
    prepare,
    same_html,
)
from tests.support.peer import Peer

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _gts_runtime_id(doc: dict[str, Any]) -> None:
    # The upstream test builds this id at run time ("`+createID.String()+`" is left
    # from its Go string concatenation); GoToSocial sends an http id there.
    doc["id"] = f"{doc['actor']}#updates/01HEN2R65468ZG657C4ZPHJ4EX"


AS2_BLUEB_ANA = {"https://as2.blueb.me/users/690d0271-4147-4302-ac50-7806f3ad8f87": MEMBER}
AS2_BLUEB_NOTE = "https://as2.blueb.me/notes/b50ef536-a063-41a7-85df-8aca36d877e1"
GTS = ("localhost:8080",)
CASES: dict[str, Case] = {
    "mastodon__lemmyassets_create_note": Case(("mastodon.madrid",), "create", {
        "https://mamot.fr/users/retiolus/statuses/107224244380204526": POST,
        "https://mamot.fr/users/retiolus": MEMBER}),
    "mastodon__lemmyassets_like_page": Case(("mastodon.madrid",), "like",
                                            {"https://ds9.lemmy.ml/post/147": POST}),
    "mastodon__lemmyassets_undo_like_page": Case(("mastodon.madrid",), "undo-like",
                                                 {"https://ds9.lemmy.ml/post/147": POST}),
    "mastodon__fedidevs_follow": Case(("example.com",), "follow",
                                      {"https://other.example/users/456": MEMBER}),
    "mastodon__fedidevs_accept": Case(("other.example",), "accept", {
        "https://example.com/fce205fc-fced-4d81-9a7d-5485eec038a3": FOLLOW,
        "https://example.com/users/123": MEMBER}),
    "mastodon__hideout_undo_follow": Case(
        ("kb.usbharu.dev",), "undo-follow",
        {"https://test-hideout.usbharu.dev/users/testuser15": MEMBER}),
    "mastodon__aster_delete_status_tombstone": Case(("mastodon.social",), "delete-object"),
    "mastodon__aster_delete_actor_self": Case(("mastodon.social",), "delete-actor"),
    "mastodon__docs_block": Case(("mastodon.example",), "block",
                                 {"https://example.com/~mallory": MEMBER}),
    "mastodon__docs_flag": Case(("mastodon.example",), "flag", {
        "https://example.com/users/1": MEMBER, "https://example.com/posts/380590": POST,
        "https://example.com/posts/380591": POST}),
    "mastodon__docs_move": Case(("mastodon.example",), "accepted"),
    "mastodon__docs_poll_vote_orange": Case(("mastodon.example",), "accepted", {
        "https://mastodon.example/users/alice/statuses/1009947848598745": POLL,
        "https://mastodon.example/users/alice": MEMBER}),
    "gotosocial__create_note_wrapped": Case(GTS, "create", ana_follows=True),
    "gotosocial__announce_self_boost_followers_only": Case(GTS, "announce", {
        "http://localhost:8080/users/the_mighty_zork/statuses/01FCTA44PW9H1TB328S9AQXKDS":
            POST}),
    "gotosocial__update_person_wrapped": Case(GTS, "accepted", fix=_gts_runtime_id),
    "gotosocial__delete_public_status": Case(GTS, "delete-object"),
    "gotosocial__docs_create_multi_poll_vote": Case(("sample.com",), "accepted", {
        "https://example.org/users/bobby_tables/statuses/123456": POLL,
        "https://example.org/users/bobby_tables": MEMBER}),
    "gotosocial__create_poll_vote_0": Case(GTS, "accepted", {
        "http://fossbros-anonymous.io/users/foss_satan/statuses/01HEN2QRFA8H3C6QPN7RD4KSR6":
            POLL,
        "http://fossbros-anonymous.io/users/foss_satan": MEMBER}),
    "misskey__hideout_undo_follow": Case(("misskey.usbharu.dev",), "undo-follow",
                                         {"https://test-hideout.usbharu.dev/users/test": MEMBER}),
    "sharkey__aster_create_note_dm": Case(("eepy.zone",), "create", AS2_BLUEB_ANA),
    "sharkey__aster_announce": Case(("grimgreenfo.rest",), "announce", {
        "https://as2.blueb.me/notes/72e8c7e6-4ef6-43e5-8d3e-09b926862f81": POST}),
    "sharkey__aster_like_with_misskey_reaction": Case(("grimgreenfo.rest",), "like",
                                                      {AS2_BLUEB_NOTE: POST}),
    "akkoma__aster_create_note_public": Case(("akko.eepy.zone",), "create", AS2_BLUEB_ANA),
    "akkoma__aster_create_note_followers_with_cw": Case(("akko.eepy.zone",), "create",
                                                        AS2_BLUEB_ANA),
    "akkoma__aster_create_note_direct": Case(("akko.eepy.zone",), "create", AS2_BLUEB_ANA),
    "akkoma__aster_like": Case(("akko.eepy.zone",), "like",
                               {**AS2_BLUEB_ANA, AS2_BLUEB_NOTE: POST}),
    "akkoma__aster_undo_like": Case(("akko.eepy.zone",), "undo-like",
                                    {**AS2_BLUEB_ANA, AS2_BLUEB_NOTE: POST}),
    "lemmy__create_or_update_create_comment": Case(("ds9.lemmy.ml",), "create",
                                                   ana_follows=True),
    "lemmy__community_announce_create_page": Case(("enterprise.lemmy.ml",), "relay",
                                                  ana_follows=True),
    "lemmy__following_follow": Case(("ds9.lemmy.ml",), "follow",
                                    {"http://enterprise.lemmy.ml/c/main": MEMBER}),
    "lemmy__following_accept": Case(("enterprise.lemmy.ml",), "accept", {
        "http://ds9.lemmy.ml/activities/follow/6abcd50b-b8ca-4952-86b0-a6dd8cc12866": FOLLOW,
        "http://ds9.lemmy.ml/u/lemmy_alpha": MEMBER}),
    "lemmy__following_undo_follow": Case(("ds9.lemmy.ml",), "undo-follow",
                                         {"http://enterprise.lemmy.ml/c/main": MEMBER}),
    "lemmy__voting_like_note": Case(("ds9.lemmy.ml",), "like",
                                    {"http://ds9.lemmy.ml/comment/1": POST}),
    "lemmy__voting_undo_like_note": Case(("ds9.lemmy.ml",), "undo-like",
                                         {"http://ds9.lemmy.ml/comment/1": POST}),
    "lemmy__block_block_user": Case(("enterprise.lemmy.ml",), "ban",
                                    {"http://ds9.lemmy.ml/u/lemmy_alpha": MEMBER}),
    "lemmy__deletion_delete_user": Case(("ds9.lemmy.ml",), "delete-actor"),
    **{f"fediverse-pasture-inputs__create_{name}_0": Case(
        ("pasture-one-actor",), "create", {"http://mastodon.example/users/alice": MEMBER})
       for name in ("hashtags", "mentions", "object_type")},
}


# -- the node, its member, and one fake sending server per test ----------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Home]:
    async with home_node(tmp_path_factory.mktemp("payloads")) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def peer() -> AsyncIterator[Peer]:
    """A server of its own per test: a host of its own, so effects never mix."""
    async with Peer() as server:
        yield server


# -- what "stored correctly" means, per kind of payload --------------------------------

Check = Callable[[Run], Awaitable[Callable[[], Awaitable[None]]]]
CHECKS: dict[str, Check] = {}


def check(name: str) -> Callable[[Check], Check]:
    def register(func: Check) -> Check:
        CHECKS[name] = func
        return func

    return register


@check("accepted")
async def _accepted(run: Run) -> Callable[[], Awaitable[None]]:
    """Votes, Move, Update(Person): kept without error (their effects are elsewhere)."""

    async def after() -> None:
        status, _ = await run.home.node.get(f"{run.home.node.url}/.well-known/nodeinfo")
        assert status == 200

    return after


@check("create")
async def _create(run: Run) -> Callable[[], Awaitable[None]]:
    if run.case.ana_follows:
        await run.ana_follows(run.doc["actor"], accepted=True)
    sent = run.doc["object"]

    async def after() -> None:
        item = await run.home.inbox_item(run.doc["id"])
        assert item is not None, "the post is not in the addressed member's inbox"
        stored = item["object"]
        assert (stored["id"], stored["type"]) == (sent["id"], sent["type"])
        assert stored["attributedTo"] == run.doc["actor"]
        for key in ("content", "summary"):
            if isinstance(sent.get(key), str):
                assert same_html(stored[key], sanitize(sent[key])), (stored[key], sent[key])
        for text in (stored.get("content") or "", *(stored.get("contentMap") or {}).values()):
            assert "<script" not in text
            assert "data-user" not in text  # attributes outside the allow-list are gone
        if sent.get("inReplyTo") == run.post:
            _, parent = await run.home.node.get(run.post)
            assert sent["id"] in parent["replies"]["items"]

    return after


@check("follow")
async def _follow(run: Run) -> Callable[[], Awaitable[None]]:
    async def after() -> None:
        assert run.sender.id in await run.home.followers()
        answer = await run.peer.wait_for(lambda r: r.json["type"] == "Accept")
        assert answer.json["object"]["id"] == run.doc["id"]
        assert answer.json["actor"] == run.home.ana.actor_id

    return after


@check("accept")
async def _accept(run: Run) -> Callable[[], Awaitable[None]]:
    follow = await run.ana_follows(run.doc["actor"], accepted=False)
    run.doc = json.loads(json.dumps(run.doc).replace(FOLLOW, follow))

    async def after() -> None:
        assert run.sender.id in await run.home.following()

    return after


@check("like")
@check("announce")
async def _reaction(run: Run) -> Callable[[], Awaitable[None]]:
    assert await run.home.counts(run.post) == (0, 0)
    expected = (1, 0) if run.doc["type"] == "Like" else (0, 1)

    async def after() -> None:
        assert await run.home.counts(run.post) == expected

    return after


@check("undo-like")
async def _undo_like(run: Run) -> Callable[[], Awaitable[None]]:
    await run.send(run.doc["object"])
    assert await run.home.counts(run.post) == (1, 0)

    async def after() -> None:
        assert await run.home.counts(run.post) == (0, 0)

    return after


@check("undo-follow")
async def _undo_follow(run: Run) -> Callable[[], Awaitable[None]]:
    await run.send(run.doc["object"])
    assert run.sender.id in await run.home.followers()

    async def after() -> None:
        assert run.sender.id not in await run.home.followers()

    return after


@check("delete-object")
async def _delete_object(run: Run) -> Callable[[], Awaitable[None]]:
    target = run.doc["object"] if isinstance(run.doc["object"], str) else run.doc["object"]["id"]
    ana = run.home.ana.actor_id
    create = {"@context": AS, "id": f"{target}/activity", "type": "Create", "actor": run.sender.id,
              "to": [ana], "object": {"id": target, "type": "Note", "to": [ana],
                                      "attributedTo": run.sender.id, "content": "<p>soon</p>"}}
    await run.send(create)

    async def after() -> None:
        item = await run.home.inbox_item(create["id"])
        assert item is not None
        assert item["object"]["type"] == "Tombstone", item

    return after


@check("delete-actor")
@check("block")
async def _unfollowed(run: Run) -> Callable[[], Awaitable[None]]:
    await run.sender_follows_ana()

    async def after() -> None:
        assert run.sender.id not in await run.home.followers()

    return after


@check("ban")
async def _ban(run: Run) -> Callable[[], Awaitable[None]]:
    """Lemmy's Block with a ``target`` bans from a community: no personal block."""
    await run.sender_follows_ana()

    async def after() -> None:
        assert run.sender.id in await run.home.followers()

    return after


@check("flag")
async def _flag(run: Run) -> Callable[[], Awaitable[None]]:
    async def after() -> None:
        assert await run.home.inbox_item(run.doc["id"]) is None, "a report reached the reported"

    return after


@check("relay")
async def _relay(run: Run) -> Callable[[], Awaitable[None]]:
    """FEP-1b12: the group's copy of the post is a claim; the origin's is what counts."""
    await run.ana_follows(run.doc["actor"], accepted=True)
    claimed = run.doc["object"]["object"]
    origin = dict(claimed, name="post 4, as its origin serves it")
    run.peer.serve(origin)

    async def after() -> None:
        assert urlsplit(origin["id"]).path in run.peer.fetched
        item = await run.home.inbox_item(run.doc["id"])
        assert item is not None
        stored = item["object"]["object"]
        assert (stored["id"], stored["type"], stored["name"]) == (
            origin["id"], "Page", origin["name"])

    return after


@pytest.mark.parametrize("name", sorted(CASES))
async def test_real_payload_is_accepted_and_stored(home: Home, peer: Peer, name: str) -> None:
    case = CASES[name]
    run = await prepare(home, peer, name, case)
    after = await CHECKS[case.check](run)

    await run.send(run.doc)

    await after()


HOSTILE = '<p onclick="steal()">hi<script>alert(1)</script><img src=x onerror=alert(2)></p>'


async def test_hostile_html_is_sanitised_even_where_no_post_is_stored(home: Home,
                                                                      peer: Peer) -> None:
    """An Update of a post the node never saw is kept only as the activity, which ana's
    inbox shows as sent: its HTML must have been sanitised before it was stored."""
    name = "akkoma__aster_create_note_direct"
    run = await prepare(home, peer, name, CASES[name])
    hostile = dict(run.doc["object"], content=HOSTILE, summary=HOSTILE,
                   contentMap={"en": HOSTILE})
    update = dict(run.doc, id=f"{run.doc['id']}/update", type="Update", object=hostile)
    await run.send(update)
    item = await home.inbox_item(update["id"])
    assert item is not None
    shown = json.dumps(item)
    assert "hi" in item["object"]["content"]
    for bad in ("<script", "onclick", "onerror", "alert("):
        assert bad not in shown


async def test_every_payload_fixture_has_a_case_and_a_source() -> None:
    files = {p.stem for p in FIXTURES.glob("*.json")}
    assert files == set(CASES)
    sources = (FIXTURES / "SOURCES.md").read_text()
    assert all(f"`{name}.json`" in sources for name in files)
    families = {name.split("__")[0] for name in files}
    assert {"mastodon", "gotosocial", "akkoma", "lemmy"} <= families
    assert families & {"misskey", "sharkey"}
    assert len(files) >= 15
