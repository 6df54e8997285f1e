"""The client API's accounts, relationships and notifications on one real node:
profiles, follows (open and locked accounts), blocks and mutes, notifications with
their filters, and the errors apps must be able to parse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.api import Api, ApiHome, api_home
from tests.support.oauth import register_app, request, signed_up

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiHome]:
    async with api_home(tmp_path_factory.mktemp("api-accounts"),
                        ("ana", "bo", "cy", "di")) as home:
        yield home


async def test_own_profile_can_be_read_and_edited(home: ApiHome) -> None:
    di = home["di"]
    me = await di.me()
    assert me["acct"] == "di"
    assert me["source"]["follow_requests_count"] == 0
    assert isinstance(me["source"]["note"], str)
    assert me["locked"] is False
    edited = await di.ok("PATCH", "/api/v1/accounts/update_credentials",
                         data={"display_name": "Di Gardener", "note": "Grows #beans"})
    assert edited["display_name"] == "Di Gardener"
    assert "beans" in edited["note"]
    assert edited["source"]["note"] == "Grows #beans"
    seen = await home["ana"].ok("GET", f"/api/v1/accounts/{me['id']}")
    assert seen["display_name"] == "Di Gardener"
    assert "source" not in seen
    assert (await home["ana"].ok("GET", "/api/v1/accounts/lookup",
                                 params={"acct": "di"}))["id"] == me["id"]
    assert (await home["ana"].call("GET", "/api/v1/accounts/lookup",
                                   params={"acct": "nobody"})).status == 404
    found = await home["ana"].ok("GET", "/api/v1/accounts/search", params={"q": "gardener"})
    assert [a["acct"] for a in found] == ["di"]


async def test_follow_unfollow_and_lists(home: ApiHome) -> None:
    ana, bo = home["ana"], home["bo"]
    ana_id = await bo.account_id(ana)
    relation = await bo.ok("POST", f"/api/v1/accounts/{ana_id}/follow")
    assert relation["following"] is True
    assert relation["requested"] is False
    followers = await bo.ok("GET", f"/api/v1/accounts/{ana_id}/followers")
    assert [a["acct"] for a in followers] == ["bo"]
    bo_id = await ana.account_id(bo)
    following = await ana.ok("GET", f"/api/v1/accounts/{bo_id}/following")
    assert [a["acct"] for a in following] == ["ana"]
    relations = await ana.ok("GET", "/api/v1/accounts/relationships",
                             params={"id[]": [bo_id, "999999", "junk"]})
    assert len(relations) == 1
    assert relations[0]["followed_by"] is True
    assert (await ana.ok("GET", f"/api/v1/accounts/{ana_id}"))["followers_count"] == 1
    follows = [n for n in await ana.notifications() if n["type"] == "follow"]
    assert [n["account"]["acct"] for n in follows] == ["bo"]
    undone = await bo.ok("POST", f"/api/v1/accounts/{ana_id}/unfollow")
    assert undone["following"] is False
    assert await bo.ok("GET", f"/api/v1/accounts/{ana_id}/followers") == []


async def test_a_locked_account_answers_follow_requests(home: ApiHome) -> None:
    cy, bo, ana = home["cy"], home["bo"], home["ana"]
    await cy.ok("PATCH", "/api/v1/accounts/update_credentials", json={"locked": True})
    cy_id = await bo.account_id(cy)
    requested = await bo.ok("POST", f"/api/v1/accounts/{cy_id}/follow")
    assert requested["following"] is False
    assert requested["requested"] is True
    await ana.ok("POST", f"/api/v1/accounts/{cy_id}/follow")
    assert (await cy.me())["source"]["follow_requests_count"] == 2
    waiting = await cy.ok("GET", "/api/v1/follow_requests")
    assert {a["acct"] for a in waiting} == {"bo", "ana"}
    kinds = {(n["type"], n["account"]["acct"]) for n in await cy.notifications()}
    assert kinds >= {("follow_request", "bo"), ("follow_request", "ana")}
    bo_id = await cy.account_id(bo)
    accepted = await cy.ok("POST", f"/api/v1/follow_requests/{bo_id}/authorize")
    assert accepted["followed_by"] is True
    ana_id = await cy.account_id(ana)
    rejected = await cy.ok("POST", f"/api/v1/follow_requests/{ana_id}/reject")
    assert rejected["followed_by"] is False
    assert rejected["requested_by"] is False
    assert (await bo.ok("GET", "/api/v1/accounts/relationships",
                        params={"id[]": cy_id}))[0]["following"] is True
    assert await cy.ok("GET", "/api/v1/follow_requests") == []
    again = await cy.call("POST", f"/api/v1/follow_requests/{ana_id}/authorize")
    assert again.status == 404
    assert again.body == {"error": "Record not found"}


async def test_blocks_and_mutes_hide_and_show_in_relationships(home: ApiHome) -> None:
    ana, di = home["ana"], home["di"]
    di_id = await ana.account_id(di)
    post = await di.post_status("Anyone for @ana?")
    muted = await ana.ok("POST", f"/api/v1/accounts/{di_id}/mute")
    assert muted["muting"] is True
    public = await ana.ok("GET", "/api/v1/timelines/public")
    assert post["id"] not in [s["id"] for s in public]
    assert post["id"] not in [n["status"]["id"] for n in await ana.notifications()
                              if n["status"]]
    await ana.ok("POST", f"/api/v1/accounts/{di_id}/unmute")
    assert post["id"] in [n["status"]["id"] for n in await ana.notifications() if n["status"]]
    blocked = await ana.ok("POST", f"/api/v1/accounts/{di_id}/block")
    assert blocked["blocking"] is True
    assert blocked["following"] is False
    assert (await di.call("GET", f"/api/v1/statuses/{post['id']}")).status == 200
    assert (await ana.call("GET", f"/api/v1/statuses/{post['id']}")).status == 404
    ana_id = await di.account_id(ana)
    assert (await di.ok("GET", "/api/v1/accounts/relationships",
                        params={"id[]": ana_id}))[0]["blocked_by"] is True
    unblocked = await ana.ok("POST", f"/api/v1/accounts/{di_id}/unblock")
    assert unblocked["blocking"] is False
    assert (await ana.call("GET", f"/api/v1/statuses/{post['id']}")).status == 200


async def test_notifications_filter_page_dismiss_and_clear(home: ApiHome) -> None:
    ana, bo = home["ana"], home["bo"]
    status = await ana.post_status("Notice me")
    for _ in range(3):
        await bo.post_status("Hey @ana")
    await bo.ok("POST", f"/api/v1/statuses/{status['id']}/favourite")
    everything = await ana.notifications()
    mentions = await ana.notifications(**{"types[]": "mention"})
    assert mentions
    assert {n["type"] for n in mentions} == {"mention"}
    others = await ana.notifications(**{"exclude_types[]": "mention"})
    assert "mention" not in {n["type"] for n in others}
    assert len(mentions) + len(others) == len(everything)
    bo_id = await ana.account_id(bo)
    from_bo = await ana.notifications(account_id=bo_id)
    assert {n["account"]["acct"] for n in from_bo} == {"bo"}
    pages = await ana.walk("/api/v1/notifications", {"limit": "2"})
    assert [len(p.body) for p in pages[:-1]] == [2] * (len(pages) - 2) + [len(pages[-2].body)]
    assert [n["id"] for p in pages for n in p.body] == [n["id"] for n in everything]
    one = everything[0]
    assert await ana.ok("GET", f"/api/v1/notifications/{one['id']}") == one
    assert (await bo.call("GET", f"/api/v1/notifications/{one['id']}")).status == 404
    await ana.ok("POST", f"/api/v1/notifications/{one['id']}/dismiss")
    assert one["id"] not in [n["id"] for n in await ana.notifications()]
    await ana.ok("POST", "/api/v1/notifications/clear")
    assert await ana.notifications() == []


async def test_errors_are_mastodons(home: ApiHome) -> None:
    ana = home["ana"]
    anonymous = Api(node=home.node, name="nobody", token=None)
    forged = Api(node=home.node, name="nobody", token="not-a-token")
    for api in (anonymous, forged):
        reply = await api.call("GET", "/api/v1/timelines/home")
        assert reply.status == 401
        assert isinstance(reply.body["error"], str)
        assert (await api.call("POST", "/api/v1/statuses",
                               json={"status": "x"})).status == 401
    for path in ("/api/v1/statuses/999999", "/api/v1/statuses/abc",
                 "/api/v1/accounts/999999", "/api/v1/polls/999999",
                 "/api/v1/statuses/99999999999999999999999999"):
        reply = await ana.call("GET", path)
        assert (reply.status, reply.body) == (404, {"error": "Record not found"}), path
    for fields in ({"status": "x", "visibility": "everyone"}, {"status": ""},
                   {"status": "x" * 6000}, {"status": "x", "poll": {"options": ["one"]}},
                   {"status": "x", "media_ids": ["1"]}):
        reply = await ana.call("POST", "/api/v1/statuses", json=fields)
        assert reply.status == 422, (fields, reply)
        assert reply.body["error"].startswith("Validation failed"), reply.body
    slash = await ana.call("GET", "/api/v1/timelines/home/")
    assert slash.status == 200


async def test_a_token_without_the_scope_is_refused_with_403(home: ApiHome) -> None:
    node = home.node
    assert node.session is not None
    password = signed_up(node, "reader")
    app = await register_app(node.session, node, scopes="read")
    token = await request(node.session, "POST", f"{node.url}/oauth/token", data={
        "grant_type": "password", "username": "reader", "password": password,
        "client_id": app.client_id, "client_secret": app.client_secret, "scope": "read"})
    assert token.status == 200, token
    reader = Api(node=node, name="reader", token=token.body["access_token"])
    assert (await reader.call("GET", "/api/v1/timelines/home")).status == 200
    refused: dict[str, Any] = {"status": "not allowed"}
    reply = await reader.call("POST", "/api/v1/statuses", json=refused)
    assert reply.status == 403
    assert "error" in reply.body
    ana_id = await reader.account_id(home["ana"])
    assert (await reader.call("POST", f"/api/v1/accounts/{ana_id}/follow")).status == 403


async def test_what_apps_fetch_at_start_up_answers_even_where_we_have_nothing(
        home: ApiHome) -> None:
    ana = home["ana"]
    for path in ("/api/v1/filters", "/api/v2/filters", "/api/v1/lists",
                 "/api/v1/custom_emojis", "/api/v1/announcements", "/api/v1/followed_tags"):
        assert await ana.ok("GET", path) == [], path
    assert await ana.ok("GET", "/api/v1/markers", params={"timeline[]": "home"}) == {}
    preferences = await ana.ok("GET", "/api/v1/preferences")
    assert preferences["posting:default:visibility"] == "public"
    missing = await ana.call("GET", (await ana.me())["avatar"])
    assert missing.status == 200
