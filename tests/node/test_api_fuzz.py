"""No 500 from any parameter (acceptance 3): hypothesis draws the parameters of
posting a status and of reading timelines — as JSON, as forms and as query strings,
with the shapes real clients send and junk besides — and every answer is below 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import ApiHome, api_home

pytestmark = pytest.mark.asyncio(loop_scope="module")

STATUS_KEYS = ["status", "visibility", "spoiler_text", "sensitive", "in_reply_to_id",
               "language", "poll", "poll[options][]", "poll[expires_in]", "poll[multiple]",
               "media_ids[]", "scheduled_at", "idempotency"]
PAGE_KEYS = ["max_id", "since_id", "min_id", "limit", "local", "remote", "only_media",
             "types[]", "exclude_types[]", "account_id", "exclude_replies",
             "exclude_reblogs", "pinned", "tagged", "q", "type", "resolve", "offset",
             "following", "id[]", "acct"]
PATHS = ["/api/v1/timelines/home", "/api/v1/timelines/public", "/api/v1/timelines/tag/x",
         "/api/v1/notifications", "/api/v1/bookmarks", "/api/v1/favourites",
         "/api/v1/accounts/{account}/statuses", "/api/v1/accounts/{account}/followers",
         "/api/v2/search", "/api/v1/accounts/search", "/api/v1/accounts/relationships",
         "/api/v1/accounts/lookup", "/api/v1/statuses/{status}/context",
         "/api/v1/statuses/{status}/favourited_by", "/api/v1/timelines/group/{account}",
         "/api/v1/statuses"]

words = st.sampled_from(["public", "unlisted", "private", "direct", "true", "false", "1",
                         "0", "", "en", "-1", "99999999999999999999999", "1e9", "null",
                         "#tag", "@bo", "@bo@elsewhere.invalid", "http://127.0.0.1:1/x"])
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True) | st.text(max_size=30) | words)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(["options", "expires_in",
                                                          "multiple", "x"]) | st.text(
                                                              max_size=5), inner, max_size=4),
                      max_leaves=12)
texts = st.text(max_size=20) | words | st.integers(-2**70, 2**70).map(str)


@dataclass
class Env:
    home: ApiHome
    status_id: str
    account_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with api_home(tmp_path_factory.mktemp("api-fuzz"), ("ana", "bo")) as home:
        status = await home["bo"].post_status("a status to aim at #x")
        yield Env(home=home, status_id=status["id"], account_id=status["account"]["id"])


def _form(fields: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, "" if item is None else str(item)))
    return pairs


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(STATUS_KEYS), values, max_size=6),
       as_json=st.booleans(), key=st.none() | st.text(max_size=10))
async def test_posting_a_status_never_answers_500(env: Env, fields: dict[str, Any],
                                                  as_json: bool, key: str | None) -> None:
    headers = {"Idempotency-Key": key} if key and key.isprintable() and key.isascii() else {}
    ana = env.home["ana"]
    if as_json:
        reply = await ana.call("POST", "/api/v1/statuses", json=fields, headers=headers)
    else:
        reply = await ana.call("POST", "/api/v1/statuses", data=_form(fields), headers=headers)
    assert reply.status < 500, (fields, reply)
    if reply.status == 200:
        assert isinstance(reply.body["id"], str)
    else:
        assert isinstance(reply.body.get("error"), str), reply.body


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS),
       params=st.dictionaries(st.sampled_from(PAGE_KEYS), texts | st.lists(texts, max_size=3),
                              max_size=6))
async def test_reading_timelines_never_answers_500(env: Env, path: str,
                                                   params: dict[str, Any]) -> None:
    url = path.format(status=env.status_id, account=env.account_id)
    reply = await env.home["ana"].call("GET", url, params=_form(params))
    assert reply.status < 500, (url, params, reply)
