"""Actor documents and their collections (outbox, followers, following, liked)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from node.context import Node
from node.documents import AS_CONTEXT
from node.governance.common import is_member
from node.routes.common import NODE, authorised_account, json_response, reader_for, wants_html
from node.urls import INSTANCE_ACTOR
from node.web import actor_page
from storage.records import AccountRecord

__all__ = ["routes"]

routes = web.RouteTableDef()
PAGE_SIZE = 20


async def _account(request: web.Request) -> AccountRecord:
    node = request.app[NODE]
    name = request.match_info.get("name", INSTANCE_ACTOR)
    account = await node.store.get_account(name)
    if account is None:
        raise web.HTTPNotFound(text="no such actor")
    return account


def _cursor(request: web.Request) -> int | None:
    raw = request.query.get("cursor")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text="cursor must be an integer") from exc
    if value <= 0:
        raise web.HTTPBadRequest(text="cursor must be positive")
    return value


def _paged(request: web.Request) -> bool:
    return request.query.get("page") in ("true", "1") or "cursor" in request.query


@routes.get("/actor")
@routes.get("/users/{name}")
async def get_actor(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await _account(request)
    actor = await node.store.get_actor(account.actor_id)
    assert actor is not None
    if wants_html(request):
        await reader_for(request, account.actor_id)
        return web.Response(text=actor_page(node, account), content_type="text/html")
    # The actor document itself stays public, to the blocked too: peers need its key
    # to verify what it signs (Undo, Delete), as on Mastodon.
    return json_response(json.loads(actor.document))


@routes.get("/@{name}")
async def get_profile(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await _account(request)
    if not wants_html(request):
        raise web.HTTPFound(account.actor_id)
    await reader_for(request, account.actor_id)
    return web.Response(text=actor_page(node, account), content_type="text/html")


async def _collection(node: Node, collection_id: str, page: Any, items: list[Any],
                      cursor: int | None, paged: bool) -> web.Response:
    from node.documents import collection_page

    return json_response(collection_page(collection_id=collection_id, page=page, items=items,
                                         cursor=cursor if paged else None))


@routes.get("/users/{name}/outbox")
@routes.get("/actor/outbox")
async def get_outbox(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await _account(request)
    await reader_for(request, account.actor_id)
    viewer = await authorised_account(request, required=False)
    visibilities = ["public", "unlisted"]
    if viewer is not None and viewer.username == account.username:
        visibilities += ["followers", "direct"]
    cursor = _cursor(request)
    page = await node.store.outbox_page(account.actor_id, visibilities, cursor, PAGE_SIZE)
    items = [json.loads(a.document) for a in page.items]
    return await _collection(node, node.urls.outbox(account.actor_id), page, items, cursor,
                             _paged(request))


@routes.get("/users/{name}/followers")
@routes.get("/users/{name}/following")
async def get_follows(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await _account(request)
    reader = await reader_for(request, account.actor_id)
    cursor = _cursor(request)
    if account.kind == "group" and not await _members_may_see(node, account, reader):
        return await _count_only(node, account, request.path.endswith("/followers"))
    if request.path.endswith("/followers"):
        page = await node.store.follows_page(followee=account.actor_id, follower=None,
                                             cursor=cursor, limit=PAGE_SIZE)
        collection = node.urls.followers(account.actor_id)
    else:
        page = await node.store.follows_page(followee=None, follower=account.actor_id,
                                             cursor=cursor, limit=PAGE_SIZE)
        collection = node.urls.following(account.actor_id)
    return await _collection(node, collection, page, list(page.items), cursor, _paged(request))


@routes.get("/users/{name}/liked")
async def get_liked(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await _account(request)
    await reader_for(request, account.actor_id)
    cursor = _cursor(request)
    page = await node.store.liked_page(account.actor_id, cursor, PAGE_SIZE)
    return await _collection(node, node.urls.liked(account.actor_id), page, list(page.items),
                             cursor, _paged(request))


async def _members_may_see(node: Node, group: AccountRecord, reader: str | None) -> bool:
    """A closed group's members are listed to its members only, as its decisions are
    (node/routes/groups.py): the electorate of a proposal is the same list."""
    record = await node.store.get_group(group.actor_id)
    if record is None or not record.closed:
        return True
    return reader is not None and await is_member(node, group.actor_id, reader)


async def _count_only(node: Node, group: AccountRecord, followers: bool) -> web.Response:
    """How many, without who: what Mastodon serves for hidden collections."""
    page = await node.store.follows_page(
        followee=group.actor_id if followers else None,
        follower=None if followers else group.actor_id, cursor=None, limit=1)
    url = (node.urls.followers if followers else node.urls.following)(group.actor_id)
    return json_response({"@context": AS_CONTEXT, "id": url, "type": "OrderedCollection",
                          "totalItems": page.total})
