"""Paging exactly as Mastodon pages: 500 statuses walked through Link headers come back
each exactly once and in order, forwards (``max_id``) and backwards (``min_id``), and
``since_id`` answers the newest above it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.support.api import Api, ApiHome, api_home, next_link

pytestmark = pytest.mark.asyncio(loop_scope="module")

COUNT = 500


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def home(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiHome]:
    async with api_home(tmp_path_factory.mktemp("api-pages"), ("ana", "bo")) as home:
        yield home


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def posted(home: ApiHome) -> list[str]:
    """ids of 500 statuses ana posted, concurrently through the API, newest first."""
    ana, bo = home["ana"], home["bo"]
    await bo.ok("POST", f"/api/v1/accounts/{await bo.account_id(ana)}/follow")
    gate = asyncio.Semaphore(32)

    async def post(n: int) -> str:
        async with gate:
            return str((await ana.post_status(f"status number {n} #many"))["id"])

    ids = await asyncio.gather(*(post(n) for n in range(COUNT)))
    return sorted(ids, key=int, reverse=True)


async def walk_ids(api: Api, path: str, params: dict[str, str]) -> list[str]:
    pages = await api.walk(path, params)
    for page in pages[:-1]:
        for url in page.links.values():
            assert url.startswith(f"{api.node.url}{path}?"), url
    assert pages[-1].body == []
    assert "Link" not in pages[-1].headers
    return [s["id"] for page in pages for s in page.body]


@pytest.mark.parametrize(("who", "path", "params"), [
    ("ana", "/api/v1/timelines/home", {"limit": "40"}),
    ("bo", "/api/v1/timelines/home", {"limit": "40"}),
    ("bo", "/api/v1/timelines/public", {"local": "true", "limit": "33"}),
    ("bo", "/api/v1/timelines/tag/many", {}),
])
async def test_walking_500_statuses_returns_each_once_in_order(
        home: ApiHome, posted: list[str], who: str, path: str, params: dict[str, str]) -> None:
    walked = await walk_ids(home[who], path, params)
    assert walked == posted


async def test_an_accounts_statuses_walk_the_same_way(home: ApiHome, posted: list[str]
                                                      ) -> None:
    bo = home["bo"]
    ana_id = await bo.account_id(home["ana"])
    walked = await walk_ids(bo, f"/api/v1/accounts/{ana_id}/statuses", {"limit": "40"})
    assert walked == posted


async def test_walking_back_with_min_id_returns_the_newer_pages(home: ApiHome,
                                                                 posted: list[str]) -> None:
    bo = home["bo"]
    oldest = await bo.call("GET", "/api/v1/timelines/home",
                           params={"max_id": posted[-20], "limit": "40"})
    assert [s["id"] for s in oldest.body] == posted[-19:]
    collected = [s["id"] for s in oldest.body]
    url = next_link(oldest, "prev")
    while url is not None:
        page = await bo.call("GET", url)
        assert page.status == 200
        if not page.body:
            break
        ids = [s["id"] for s in page.body]
        assert ids == sorted(ids, key=int, reverse=True)  # newest first, as Mastodon
        collected = ids + collected
        url = next_link(page, "prev")
    assert collected == posted


async def test_since_id_answers_the_newest_and_min_id_the_next_ones(
        home: ApiHome, posted: list[str]) -> None:
    bo = home["bo"]
    pivot = posted[100]
    since = await bo.ok("GET", "/api/v1/timelines/home",
                        params={"since_id": pivot, "limit": "5"})
    assert [s["id"] for s in since] == posted[:5]
    after = await bo.ok("GET", "/api/v1/timelines/home", params={"min_id": pivot, "limit": "5"})
    assert [s["id"] for s in after] == posted[95:100]
    between = await bo.ok("GET", "/api/v1/timelines/home",
                          params={"max_id": posted[10], "since_id": posted[15]})
    assert [s["id"] for s in between] == posted[11:15]
    big = await bo.ok("GET", "/api/v1/timelines/home", params={"limit": "1000"})
    assert len(big) == 40
