"""The client API's statuses on one real node: posting with each visibility, the
Status entity as apps read it, threads, favourites, boosts, bookmarks, deleting, and
the idempotency key — driven over HTTP with tokens from ``mutual token create``."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.api import Api, ApiHome, api_home
from tests.support.nodes import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiHome]:
    async with api_home(tmp_path_factory.mktemp("api-statuses")) as home:
        # bo follows ana; cy follows no one.
        ana_id = await home["bo"].account_id(home["ana"])
        relation = await home["bo"].ok("POST", f"/api/v1/accounts/{ana_id}/follow")
        assert relation["following"] is True
        yield home


async def visible(api: Api, status_id: str) -> bool:
    reply = await api.get(f"/api/v1/statuses/{status_id}")
    assert reply.status in (200, 404), reply
    return reply.status == 200


async def test_each_visibility_is_addressed_and_shown_only_to_its_audience(
        home: ApiHome) -> None:
    ana, bo, cy = home["ana"], home["bo"], home["cy"]
    anonymous = Api(node=home.node, name="nobody", token=None)
    posted = {v: await ana.post_status(f"a {v} post", visibility=v)
              for v in ("public", "unlisted", "private")}
    posted["direct"] = await ana.post_status("a direct post for @bo", visibility="direct")
    for visibility, status in posted.items():
        assert status["visibility"] == visibility
    expected = {  # who may read it: bo follows ana and is mentioned in the direct post
        "public": (True, True, True), "unlisted": (True, True, True),
        "private": (True, False, False), "direct": (True, False, False)}
    for visibility, (for_bo, for_cy, for_anyone) in expected.items():
        status_id = posted[visibility]["id"]
        assert await visible(ana, status_id)
        assert (await visible(bo, status_id)) is for_bo, visibility
        assert (await visible(cy, status_id)) is for_cy, visibility
        assert (await visible(anonymous, status_id)) is for_anyone, visibility
    public_ids = {s["id"] for s in await anonymous.ok("GET", "/api/v1/timelines/public")}
    assert posted["public"]["id"] in public_ids
    assert not {posted[v]["id"] for v in ("unlisted", "private", "direct")} & public_ids
    home_ids = {s["id"] for s in await bo.ok("GET", "/api/v1/timelines/home")}
    assert {s["id"] for s in posted.values()} <= home_ids
    cy_home = {s["id"] for s in await cy.ok("GET", "/api/v1/timelines/home")}
    assert not {s["id"] for s in posted.values()} & cy_home


def assert_status_shape(status: dict[str, Any]) -> None:
    for key in ("id", "uri", "url", "content", "visibility", "spoiler_text"):
        assert isinstance(status[key], str), key
    for key in ("media_attachments", "mentions", "tags", "emojis", "filtered"):
        assert isinstance(status[key], list), key
    for key in ("reblogs_count", "favourites_count", "replies_count"):
        assert isinstance(status[key], int), key
    for key in ("sensitive", "favourited", "reblogged", "muted", "bookmarked", "pinned"):
        assert isinstance(status[key], bool), key
    assert ISO_MS.match(status["created_at"]), status["created_at"]
    assert status["card"] is None
    assert "application" in status
    assert "edited_at" in status
    account = status["account"]
    for key in ("id", "username", "acct", "display_name", "note", "url", "avatar", "header"):
        assert isinstance(account[key], str), key
    assert isinstance(account["emojis"], list)
    assert isinstance(account["fields"], list)
    assert ISO_MS.match(account["created_at"])
    assert account["group"] is False
    assert account["bot"] is False


async def test_the_status_entity_has_what_apps_read(home: ApiHome) -> None:
    ana = home["ana"]
    status = await ana.post_status("Hello #Garden friends, @bo!", spoiler_text="greetings",
                                   language="en")
    assert_status_shape(status)
    assert status["account"]["acct"] == "ana"
    assert status["account"]["username"] == "ana"
    assert status["spoiler_text"] == "greetings"
    assert status["sensitive"] is True
    assert status["language"] == "en"
    assert status["tags"] == [{"name": "garden", "url": f"{home.node.url}/tags/garden"}]
    bo_id = await ana.account_id(home["bo"])
    assert status["mentions"] == [{"id": bo_id, "username": "bo", "acct": "bo",
                                   "url": f"{home.node.url}/@bo"}]
    again = await ana.ok("GET", f"/api/v1/statuses/{status['id']}")
    assert again == status
    tagged = await ana.ok("GET", "/api/v1/timelines/tag/garden")
    assert [s["id"] for s in tagged] == [status["id"]]


async def test_a_reply_joins_its_thread_and_context_shows_both_ways(home: ApiHome) -> None:
    ana, bo, cy = home["ana"], home["bo"], home["cy"]
    root = await ana.post_status("What should we plant?")
    middle = await bo.post_status("@ana Tomatoes.", in_reply_to_id=root["id"])
    leaf = await cy.post_status("@bo and basil", in_reply_to_id=middle["id"])
    assert middle["in_reply_to_id"] == root["id"]
    assert middle["in_reply_to_account_id"] == root["account"]["id"]
    context = await ana.ok("GET", f"/api/v1/statuses/{middle['id']}/context")
    assert [s["id"] for s in context["ancestors"]] == [root["id"]]
    assert [s["id"] for s in context["descendants"]] == [leaf["id"]]
    from_root = await cy.ok("GET", f"/api/v1/statuses/{root['id']}/context")
    assert [s["id"] for s in from_root["descendants"]] == [middle["id"], leaf["id"]]
    assert (await ana.ok("GET", f"/api/v1/statuses/{root['id']}"))["replies_count"] == 1
    own_thread = await bo.post_status("and peppers", in_reply_to_id=middle["id"])
    bo_id = await ana.account_id(bo)
    kept = [s["id"] for s in await ana.ok("GET", f"/api/v1/accounts/{bo_id}/statuses",
                                          params={"exclude_replies": "1"})]
    assert own_thread["id"] in kept  # a reply to oneself stays, as on Mastodon
    assert middle["id"] not in kept
    mentions = await ana.notifications(**{"types[]": "mention"})
    assert middle["id"] in {n["status"]["id"] for n in mentions}


async def test_favourite_boost_and_bookmark_count_and_show_the_viewers_flags(
        home: ApiHome) -> None:
    ana, bo, cy = home["ana"], home["bo"], home["cy"]
    status = await ana.post_status("Seeds are in.")
    sid = status["id"]
    faved = await bo.ok("POST", f"/api/v1/statuses/{sid}/favourite")
    assert faved["favourited"] is True
    assert faved["favourites_count"] == 1
    again = await bo.ok("POST", f"/api/v1/statuses/{sid}/favourite")
    assert again["favourites_count"] == 1  # twice is once
    seen_by_cy = await cy.ok("GET", f"/api/v1/statuses/{sid}")
    assert seen_by_cy["favourited"] is False
    assert seen_by_cy["favourites_count"] == 1
    by = await cy.ok("GET", f"/api/v1/statuses/{sid}/favourited_by")
    assert [a["acct"] for a in by] == ["bo"]
    favourites = await bo.ok("GET", "/api/v1/favourites")
    assert sid in [s["id"] for s in favourites]

    boost = await cy.ok("POST", f"/api/v1/statuses/{sid}/reblog")
    assert boost["id"] != sid
    assert boost["reblog"]["id"] == sid
    assert boost["account"]["acct"] == "cy"
    assert boost["reblog"]["reblogged"] is True
    assert boost["reblog"]["reblogs_count"] == 1
    assert (await cy.ok("POST", f"/api/v1/statuses/{sid}/reblog"))["id"] == boost["id"]
    assert [a["acct"] for a in await ana.ok(
        "GET", f"/api/v1/statuses/{sid}/reblogged_by")] == ["cy"]
    cy_id = await ana.account_id(cy)
    cy_statuses = await ana.ok("GET", f"/api/v1/accounts/{cy_id}/statuses")
    assert cy_statuses[0]["id"] == boost["id"]
    no_boosts = await ana.ok("GET", f"/api/v1/accounts/{cy_id}/statuses",
                             params={"exclude_reblogs": "true"})
    assert boost["id"] not in [s["id"] for s in no_boosts]
    fetched_boost = await ana.ok("GET", f"/api/v1/statuses/{boost['id']}")
    assert fetched_boost["reblog"]["id"] == sid

    marked = await bo.ok("POST", f"/api/v1/statuses/{sid}/bookmark")
    assert marked["bookmarked"] is True
    assert (await cy.ok("GET", f"/api/v1/statuses/{sid}"))["bookmarked"] is False
    bookmarks = await bo.call("GET", "/api/v1/bookmarks")
    assert [s["id"] for s in bookmarks.body] == [sid]
    assert "Link" in bookmarks.headers

    kinds = {(n["type"], n["account"]["acct"]) for n in await ana.notifications()
             if n["status"] and n["status"]["id"] == sid}
    assert kinds == {("favourite", "bo"), ("reblog", "cy")}

    undone = await bo.ok("POST", f"/api/v1/statuses/{sid}/unfavourite")
    assert undone["favourited"] is False
    assert undone["favourites_count"] == 0
    unboosted = await cy.ok("POST", f"/api/v1/statuses/{sid}/unreblog")
    assert unboosted["id"] == sid
    assert unboosted["reblogs_count"] == 0
    assert (await ana.call("GET", f"/api/v1/statuses/{boost['id']}")).status == 404
    unmarked = await bo.ok("POST", f"/api/v1/statuses/{sid}/unbookmark")
    assert unmarked["bookmarked"] is False
    assert await bo.ok("GET", "/api/v1/bookmarks") == []


async def test_deleting_answers_the_source_text_then_the_status_is_gone(
        home: ApiHome) -> None:
    ana, bo = home["ana"], home["bo"]
    status = await ana.post_status("Oops, wrong #thread")
    assert (await bo.call("DELETE", f"/api/v1/statuses/{status['id']}")).status == 404
    deleted = await ana.ok("DELETE", f"/api/v1/statuses/{status['id']}")
    assert deleted["id"] == status["id"]
    assert deleted["text"] == "Oops, wrong #thread"
    for api in (ana, bo):
        assert (await api.call("GET", f"/api/v1/statuses/{status['id']}")).status == 404
        timeline = await api.ok("GET", "/api/v1/timelines/home")
        assert status["id"] not in [s["id"] for s in timeline]
    assert await ana.ok("GET", "/api/v1/timelines/tag/thread") == []


async def test_the_same_idempotency_key_posts_once(home: ApiHome) -> None:
    ana = home["ana"]
    headers = {"Idempotency-Key": "key-1"}
    replies = await asyncio.gather(*(
        ana.call("POST", "/api/v1/statuses", json={"status": "only once"}, headers=headers)
        for _ in range(3)))
    assert {r.status for r in replies} == {200}
    assert len({r.body["id"] for r in replies}) == 1
    later = await ana.call("POST", "/api/v1/statuses", json={"status": "only once"},
                           headers=headers)
    assert later.body["id"] == replies[0].body["id"]


async def test_a_poll_counts_votes_and_notifies_when_it_closes(home: ApiHome) -> None:
    ana, bo, cy = home["ana"], home["bo"], home["cy"]
    status = await ana.call("POST", "/api/v1/statuses", data={
        "status": "Which day?", "poll[options][]": ["Saturday", "Sunday"],
        "poll[expires_in]": "5"})
    assert status.status == 200, status.body
    poll = status.body["poll"]
    assert [o["title"] for o in poll["options"]] == ["Saturday", "Sunday"]
    assert poll["multiple"] is False
    assert poll["expired"] is False
    assert poll["voted"] is True
    voted = await bo.ok("POST", f"/api/v1/polls/{poll['id']}/votes",
                        json={"choices": ["1"]})
    assert voted["voted"] is True
    assert voted["own_votes"] == [1]
    assert voted["votes_count"] == 1
    assert voted["options"][1]["votes_count"] == 1
    twice = await bo.call("POST", f"/api/v1/polls/{poll['id']}/votes", json={"choices": [0]})
    assert twice.status == 422
    assert "error" in twice.body
    own = await ana.call("POST", f"/api/v1/polls/{poll['id']}/votes", json={"choices": [0]})
    assert own.status == 422
    bad = await cy.call("POST", f"/api/v1/polls/{poll['id']}/votes", json={"choices": [7]})
    assert bad.status == 422
    seen = await cy.ok("GET", f"/api/v1/polls/{poll['id']}")
    assert seen["voted"] is False
    assert seen["votes_count"] == 1

    async def closed_for(api: Api) -> dict[str, Any] | None:
        found = [n for n in await api.notifications(**{"types[]": "poll"})
                 if n["status"]["id"] == status.body["id"]]
        return found[0] if found else None

    for api in (bo, ana):
        notification = await eventually(lambda api=api: closed_for(api), within=30)
        assert notification["status"]["poll"]["expired"] is True
        assert notification["account"]["acct"] == "ana"
    assert await closed_for(cy) is None
    late = await cy.call("POST", f"/api/v1/polls/{poll['id']}/votes", json={"choices": [0]})
    assert late.status == 422
