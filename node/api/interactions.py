"""Client API: favourites, boosts and bookmarks of statuses, and who did them.

Favourites and boosts federate (a Like, an Announce and their Undo, built and
published the C2S way); bookmarks are the member's own. Each action answers with the
status as it now is, as Mastodon does, and acting twice changes nothing.
"""

from __future__ import annotations

from aiohttp import web

from node.api.entities import statuses_json
from node.api.http import ApiRoutes, api_json, link_header, page_query
from node.api.params import ApiError, read_params
from node.api.posting import send
from node.api.views import (
    accounts_page,
    load_status,
    member,
    reader,
    render_loaded,
    render_status,
)
from node.routes.common import NODE
from storage.api import PutBookmark, TimelineQuery

__all__ = ["routes"]

routes = ApiRoutes()


@routes.post("/api/v1/statuses/{id}/favourite")
@routes.post("/api/v1/statuses/{id}/unfavourite")
async def favourite(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:favourites")
    me = account.actor_id
    _, status = await load_status(node, request.match_info["id"], me)
    post = status.post
    if request.path.rstrip("/").endswith("/favourite"):
        if not post.favourited:
            await send(node, account, {"type": "Like", "object": post.object_id})
    else:
        like = await node.store.find_reaction_activity("like", me, post.object_id)
        if like is not None:
            await send(node, account, {"type": "Undo", "object": like})
    return api_json(await render_status(node, post.status_id, me))


@routes.post("/api/v1/statuses/{id}/reblog")
async def reblog(request: web.Request) -> web.Response:
    """Boost; the answer is the boost, wrapping the boosted status."""
    node = request.app[NODE]
    account = await member(request, "write:statuses")
    me = account.actor_id
    _, status = await load_status(node, request.match_info["id"], me)
    post = status.post
    if post.visibility not in ("public", "unlisted"):
        raise ApiError(403, "This action is not allowed")
    found = await node.store.reblog_of(me, post.object_id)
    if found is None:
        await send(node, account, {"type": "Announce", "object": post.object_id})
        found = await node.store.reblog_of(me, post.object_id)
    if found is None:
        raise ApiError(422, "Validation failed: the boost was not accepted")
    return api_json(await render_status(node, found, me))


@routes.post("/api/v1/statuses/{id}/unreblog")
async def unreblog(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:statuses")
    me = account.actor_id
    _, status = await load_status(node, request.match_info["id"], me)
    post = status.post
    boost = await node.store.find_reaction_activity("announce", me, post.object_id)
    if boost is not None:
        await send(node, account, {"type": "Undo", "object": boost})
    return api_json(await render_status(node, post.status_id, me))


@routes.post("/api/v1/statuses/{id}/bookmark")
@routes.post("/api/v1/statuses/{id}/unbookmark")
async def bookmark(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:bookmarks")
    me = account.actor_id
    bundle, status = await load_status(node, request.match_info["id"], me)
    present = request.path.rstrip("/").endswith("/bookmark")
    if status.post.bookmarked != present:
        await node.store.apply([PutBookmark(owner=me, status_id=status.post.status_id,
                                            present=present, created_at=node.now())])
        return api_json(await render_status(node, status.post.status_id, me))
    return api_json(render_loaded(node, bundle, status, me))


@routes.get("/api/v1/statuses/{id}/favourited_by")
@routes.get("/api/v1/statuses/{id}/reblogged_by")
async def reactors(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:accounts")
    _, status = await load_status(node, request.match_info["id"], viewer)
    kind = "like" if request.path.rstrip("/").endswith("favourited_by") else "announce"
    page = page_query(await read_params(request), default=40, maximum=80)
    found = await node.store.reactors(status.post.object_id, kind, page)
    return await accounts_page(request, node, found)


@routes.get("/api/v1/bookmarks")
@routes.get("/api/v1/favourites")
async def own_lists(request: web.Request) -> web.Response:
    """The member's bookmarks or favourites, paged by when they were made."""
    node = request.app[NODE]
    kind = "bookmarks" if request.path.rstrip("/").endswith("bookmarks") else "favourites"
    account = await member(request, f"read:{kind}")
    me = account.actor_id
    page = page_query(await read_params(request))
    bundle = await node.store.timeline(TimelineQuery(kind=kind), page, me)
    return api_json(statuses_json(node, bundle, me), headers=link_header(
        request, node.config.url, [s.key for s in bundle.statuses]))
