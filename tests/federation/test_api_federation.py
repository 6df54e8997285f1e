"""The client API across two real nodes: what a member does through an app on A
federates, and what arrives from A shows up in the app of a member on B — follows by
acct, posts, favourites, boosts, mentions, a Mastodon-style poll, a status found by URL,
and a group decision voted from a stock app."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api, member_api
from tests.support.nodes import Cluster, MutualNode, eventually

pytestmark = pytest.mark.federation


async def resolve_account(api: Api, acct: str) -> dict[str, Any]:
    found = await api.ok("GET", "/api/v2/search",
                         params={"q": acct, "resolve": "true", "type": "accounts"})
    assert [a["acct"] for a in found["accounts"]][:1] == [acct], found
    account: dict[str, Any] = found["accounts"][0]
    return account


async def follow_remote(api: Api, acct: str) -> dict[str, Any]:
    """Follow by acct the way toot does: resolve with search, then follow the id."""
    account = await resolve_account(api, acct)
    await api.ok("POST", f"/api/v1/accounts/{account['id']}/follow")

    async def following() -> bool:
        relation = await api.ok("GET", "/api/v1/accounts/relationships",
                                params={"id[]": account["id"]})
        return bool(relation[0]["following"])

    await eventually(following)
    return account


async def in_home(api: Api, uri: str) -> dict[str, Any] | None:
    for status in await api.ok("GET", "/api/v1/timelines/home"):
        if status["uri"] == uri or (status["reblog"] and status["reblog"]["uri"] == uri):
            found: dict[str, Any] = status
            return found
    return None


async def notified(api: Api, kind: str, uri: str | None = None) -> dict[str, Any] | None:
    for notification in await api.notifications(**{"types[]": kind}):
        status = notification["status"]
        if uri is None or (status is not None and status["uri"] == uri):
            found: dict[str, Any] = notification
            return found
    return None


async def two_nodes(cluster: Cluster) -> tuple[MutualNode, MutualNode, Api, Api]:
    a = await cluster.node("a")
    b = await cluster.node("b")
    return a, b, member_api(a, "ana"), member_api(b, "bo")


async def test_posts_and_reactions_federate_both_ways_through_the_api(
        cluster: Cluster) -> None:
    a, b, ana, bo = await two_nodes(cluster)
    cy = member_api(a, "cy")
    remote_ana = await follow_remote(bo, ana.acct)
    assert remote_ana["acct"] == f"ana@{a.host}"
    assert remote_ana["url"]

    posted = await ana.post_status("Fresh eggs at the co-op today #market")
    arrived = await eventually(lambda: in_home(bo, posted["uri"]))
    assert arrived["account"]["acct"] == f"ana@{a.host}"
    assert "Fresh eggs at the co-op today" in arrived["content"]
    assert [t["name"] for t in arrived["tags"]] == ["market"]

    faved = await bo.ok("POST", f"/api/v1/statuses/{arrived['id']}/favourite")
    assert faved["favourited"] is True
    await bo.ok("POST", f"/api/v1/statuses/{arrived['id']}/reblog")
    like = await eventually(lambda: notified(ana, "favourite", posted["uri"]))
    assert like["account"]["acct"] == f"bo@{b.host}"
    await eventually(lambda: notified(ana, "reblog", posted["uri"]))

    async def counted() -> bool:
        status = await ana.ok("GET", f"/api/v1/statuses/{posted['id']}")
        return bool(status["favourites_count"] == 1 and status["reblogs_count"] == 1)

    await eventually(counted)

    reply = await ana.post_status(f"@{bo.acct} thanks!", in_reply_to_id=posted["id"])
    mention = await eventually(lambda: notified(bo, "mention", reply["uri"]))
    assert mention["status"]["in_reply_to_id"] == arrived["id"]
    context = await bo.ok("GET", f"/api/v1/statuses/{mention['status']['id']}/context")
    assert [s["id"] for s in context["ancestors"]] == [arrived["id"]]

    # A post bo's node never received, found by its URL and then answered.
    stranger = await cy.post_status("Anyone lost a blue scarf?")
    assert await in_home(bo, stranger["uri"]) is None
    found = await bo.ok("GET", "/api/v2/search",
                        params={"q": stranger["uri"], "resolve": "true"})
    assert [s["uri"] for s in found["statuses"]] == [stranger["uri"]]
    await bo.ok("POST", f"/api/v1/statuses/{found['statuses'][0]['id']}/favourite")
    await eventually(lambda: notified(cy, "favourite", stranger["uri"]))


async def test_a_remote_poll_is_voted_mastodon_style_and_its_end_notifies(
        cluster: Cluster) -> None:
    _, _, ana, bo = await two_nodes(cluster)
    await follow_remote(bo, ana.acct)
    poll = await ana.post_status("Bake sale on which day?", poll={
        "options": ["Saturday", "Sunday", "Monday"], "expires_in": 6, "multiple": True})
    arrived = await eventually(lambda: in_home(bo, poll["uri"]))
    assert arrived["poll"]["multiple"] is True
    assert arrived["poll"]["voted"] is False
    voted = await bo.ok("POST", f"/api/v1/polls/{arrived['poll']['id']}/votes",
                        data=[("choices[]", "0"), ("choices[]", "2")])
    assert voted["voted"] is True
    assert voted["own_votes"] == [0, 2]

    async def counted_on_a() -> dict[str, Any] | None:
        found = await ana.ok("GET", f"/api/v1/polls/{poll['poll']['id']}")
        return found if found["votes_count"] == 2 else None

    counts = await eventually(counted_on_a)
    assert [o["votes_count"] for o in counts["options"]] == [1, 0, 1]
    assert counts["voters_count"] == 1

    ended = await eventually(lambda: notified(bo, "poll", poll["uri"]), within=30)
    assert ended["status"]["poll"]["expired"] is True
    assert [o["votes_count"] for o in ended["status"]["poll"]["options"]] == [1, 0, 1]
    await eventually(lambda: notified(ana, "poll", poll["uri"]))


async def test_a_group_decision_from_stock_apps_on_two_nodes(cluster: Cluster) -> None:
    a, _, ana, bo = await two_nodes(cluster)
    group_id = a.cli("group", "create", "garden", "--owner", "ana")
    group = await follow_remote(bo, f"garden@{a.host}")
    assert group["group"] is True

    # ana proposes from her app: a poll that mentions the group becomes its proposal.
    proposal = await ana.post_status("@garden Buy a shared greenhouse?", poll={
        "options": ["Agree", "Disagree"], "expires_in": 8})
    assert proposal["account"]["group"] is True
    assert proposal["uri"].startswith(f"{group_id}/proposals/")
    assert [o["title"] for o in proposal["poll"]["options"]] == ["Agree", "Disagree"]
    in_group = await ana.ok("GET", f"/api/v1/timelines/group/{proposal['account']['id']}")
    assert proposal["id"] in [s["id"] for s in in_group]

    arrived = await eventually(lambda: in_home(bo, proposal["uri"]))
    assert arrived["account"]["acct"] == f"garden@{a.host}"
    assert arrived["poll"]["voted"] is False
    voted = await bo.ok("POST", f"/api/v1/polls/{arrived['poll']['id']}/votes",
                        json={"choices": [0]})
    assert voted["own_votes"] == [0]
    await ana.ok("POST", f"/api/v1/polls/{proposal['poll']['id']}/votes",
                 json={"choices": ["0"]})

    async def ledger() -> list[dict[str, Any]] | None:
        _, page = await a.get(f"{proposal['uri']}/ballots?page=true&after=0")
        items: list[dict[str, Any]] = page.get("orderedItems", [])
        return items if len(items) == 2 else None

    entries = await eventually(ledger)
    assert {e["voter"] for e in entries} == {ana.actor_id, bo.actor_id}
    assert {e["assurance"] for e in entries} == {"voter-signed"}

    for api in (bo, ana):
        ended = await eventually(lambda api=api: notified(api, "poll", proposal["uri"]),
                                 within=30)
        result = ended["status"]["poll"]
        assert result["expired"] is True
        assert [o["votes_count"] for o in result["options"]] == [2, 0]
        assert ended["account"]["group"] is True
