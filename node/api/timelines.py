"""Client API: timelines — home, public (local / remote / federated), a hashtag, and a
group's.

A group's timeline (``GET /api/v1/timelines/group/:account_id``, our addition) is
every post in that group: the group's own (its proposals and results) and its
members' posts addressed to it (FEP-1b12 ``audience``). Stock apps get the same
through the group account's statuses, which are the group's own publications.

Home needs a token; the public and hashtag timelines are open, as Mastodon's are by
default. Paging and Link headers are Mastodon's (node/api/http.py).
"""

from __future__ import annotations

from aiohttp import web

from node.api.entities import statuses_json
from node.api.http import ApiRoutes, api_json, link_header, page_query
from node.api.params import Params, read_params
from node.api.views import account_view, member, reader
from node.context import Node
from node.routes.common import NODE
from storage.api import StatusBundle, TimelineQuery

__all__ = ["routes"]

routes = ApiRoutes()


def _answer(request: web.Request, node: Node, bundle: StatusBundle, viewer: str | None
            ) -> web.Response:
    return api_json(statuses_json(node, bundle, viewer), headers=link_header(
        request, node.config.url, [s.key for s in bundle.statuses]))


def _filters(params: Params) -> dict[str, bool]:
    return {"local": params.bool("local"), "remote": params.bool("remote"),
            "only_media": params.bool("only_media")}


@routes.get("/api/v1/timelines/home")
async def home(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "read:statuses")
    me = account.actor_id
    params = await read_params(request)
    bundle = await node.store.timeline(TimelineQuery(kind="home", target=me),
                                       page_query(params), me)
    return _answer(request, node, bundle, me)


@routes.get("/api/v1/timelines/public")
async def public(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    params = await read_params(request)
    bundle = await node.store.timeline(TimelineQuery(kind="public", **_filters(params)),
                                       page_query(params), viewer)
    return _answer(request, node, bundle, viewer)


@routes.get("/api/v1/timelines/tag/{hashtag}")
async def tag(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    params = await read_params(request)
    name = request.match_info["hashtag"].lstrip("#").lower()[:100]
    bundle = await node.store.timeline(
        TimelineQuery(kind="tag", target=name, **_filters(params)), page_query(params), viewer)
    return _answer(request, node, bundle, viewer)


@routes.get("/api/v1/timelines/group/{id}")
async def group(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    params = await read_params(request)
    target = await account_view(node, request.match_info["id"])
    bundle = await node.store.timeline(
        TimelineQuery(kind="group", target=target.actor, only_media=params.bool("only_media")),
        page_query(params), viewer)
    return _answer(request, node, bundle, viewer)
