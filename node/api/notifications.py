"""Client API: notifications — list (with ``types[]`` / ``exclude_types[]`` /
``account_id`` and Mastodon's paging, 40 by default and 80 at most), one by id,
dismiss one, clear all.

They are written where activities are received and published (node/api/notify.py);
one about a status the member can no longer see (deleted, or from an account they
have since muted or blocked) is not shown.
"""

from __future__ import annotations

from aiohttp import web

from node.api.entities import notification_json
from node.api.http import ApiRoutes, api_json, link_header, not_found, page_query, parse_id
from node.api.params import read_params
from node.api.views import member
from node.routes.common import NODE
from storage.api import DismissNotifications, PageQuery

__all__ = ["routes"]

routes = ApiRoutes()
TYPES = ("mention", "status", "reblog", "follow", "follow_request", "favourite", "poll",
         "update")


@routes.get("/api/v1/notifications")
async def notifications(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "read:notifications")
    me = account.actor_id
    params = await read_params(request)
    page = page_query(params, default=40, maximum=80)
    target = None
    if params.str("account_id"):
        target = await node.store.api_actor_id(parse_id(params.str("account_id")))
        if target is None:
            return api_json([])
    found, bundle = await node.store.notifications(
        me, page, types=params.list("types")[:20], exclude_types=params.list("exclude_types")[:20],
        account=target)
    rendered = [notification_json(node, n, bundle, me) for n in found]
    return api_json([r for r in rendered if r is not None],
                    headers=link_header(request, node.config.url, [n.id for n in found]))


@routes.get("/api/v1/notifications/{id}")
async def notification(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "read:notifications")
    me = account.actor_id
    found, bundle = await node.store.notifications(
        me, PageQuery(limit=1), notification_id=parse_id(request.match_info["id"]))
    rendered = notification_json(node, found[0], bundle, me) if found else None
    if rendered is None:
        raise not_found()
    return api_json(rendered)


@routes.post("/api/v1/notifications/clear")
async def clear(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:notifications")
    await node.store.apply([DismissNotifications(owner=account.actor_id)])
    return api_json({})


@routes.post("/api/v1/notifications/{id}/dismiss")
async def dismiss(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:notifications")
    await node.store.apply([DismissNotifications(owner=account.actor_id,
                                                 id=parse_id(request.match_info["id"]))])
    return api_json({})
