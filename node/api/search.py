"""Client API: search v2 — accounts, statuses and hashtags.

With ``resolve=true`` (a member's token only, as on Mastodon) an acct such as
``name@host:port`` is looked up with WebFinger and a post's URL is fetched from its
server, so both can be followed, favourited or answered right away. Statuses are
found by URL only: there is no full-text index (Mastodon without Elasticsearch
behaves alike for posts one has not interacted with).
"""

from __future__ import annotations

import re

from aiohttp import web

from node.api.entities import account_json, statuses_json, tag_json
from node.api.http import ApiRoutes, api_json
from node.api.params import ApiError, read_params
from node.api.resolve import search_accounts, status_by_url
from node.api.views import reader
from node.routes.common import NODE

__all__ = ["routes"]

routes = ApiRoutes()
_TYPES = ("accounts", "statuses", "hashtags")
_HASHTAG = re.compile(r"^\w*[^\W\d_]\w*$")


@routes.get("/api/v2/search")
async def search(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:search")
    params = await read_params(request)
    query = (params.str("q", "", max_length=1000) or "").strip()
    kind = params.str("type")
    if kind is not None and kind not in _TYPES:
        raise ApiError(422, f"Validation failed: type must be one of {', '.join(_TYPES)}")
    limit = params.int("limit", 20, minimum=1, maximum=40) or 20
    offset = params.int("offset", 0, minimum=0, maximum=10_000) or 0
    resolve = params.bool("resolve") and viewer is not None
    found: dict[str, list[object]] = {"accounts": [], "statuses": [], "hashtags": []}
    if not query:
        return api_json(found)
    if kind in (None, "accounts"):
        views = await search_accounts(node, viewer, query, resolve=resolve,
                                      following=params.bool("following") and bool(viewer),
                                      limit=limit, offset=offset)
        found["accounts"] = [account_json(node, v) for v in views]
    if kind in (None, "statuses") and query.startswith(("https://", "http://")) \
            and offset == 0:
        status_id = await status_by_url(node, query, resolve=resolve)
        if status_id is not None:
            bundle = await node.store.api_statuses([status_id], viewer)
            found["statuses"] = list(statuses_json(node, bundle, viewer))
    if kind in (None, "hashtags") and not query.startswith(("https://", "http://", "@")):
        name = query.lstrip("#").lower()
        if _HASHTAG.match(name):
            names = await node.store.api_search_tags(name, limit, offset)
            if offset == 0 and name not in names:
                names = [name, *names][:limit]
            found["hashtags"] = [tag_json(node, n) for n in names]
    return api_json(found)
