"""Client API: statuses — post, read, delete, and a status's thread.

Reads are open to anonymous callers for what is public, as on Mastodon; a status the
caller may not see, a deleted one, and an unknown id all answer 404 alike.
"""

from __future__ import annotations

import json

from aiohttp import web

from node.api.entities import status_json
from node.api.http import ApiRoutes, api_json, not_found, parse_id
from node.api.params import ApiError, read_params
from node.api.posting import create_status, send
from node.api.views import load_status, member, reader, render_loaded, render_status
from node.routes.common import NODE
from protocol.html import to_plain_text

__all__ = ["routes"]

routes = ApiRoutes()
_MANY = 40


@routes.post("/api/v1/statuses")
async def post_status(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:statuses")
    params = await read_params(request)
    status_id = await create_status(node, account, params,
                                    request.headers.get("Idempotency-Key"))
    return api_json(await render_status(node, status_id, account.actor_id))


@routes.get("/api/v1/statuses")
async def get_statuses(request: web.Request) -> web.Response:
    """Several statuses at once (``id[]=``), those the caller may see."""
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    params = await read_params(request)
    ids = []
    for raw in params.list("id")[:_MANY]:
        try:
            ids.append(parse_id(raw))
        except ApiError:
            continue
    bundle = await node.store.api_statuses(ids, viewer)
    rendered = [status_json(node, bundle, s, viewer) for s in bundle.statuses]
    return api_json([r for r in rendered if r is not None])


@routes.get("/api/v1/statuses/{id}")
async def get_status(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    bundle, status = await load_status(node, request.match_info["id"], viewer)
    return api_json(render_loaded(node, bundle, status, viewer))


@routes.delete("/api/v1/statuses/{id}")
async def delete_status(request: web.Request) -> web.Response:
    """Delete one's own status; the answer is the status as it was, with its source
    ``text`` so that apps can offer "delete and redraft"."""
    node = request.app[NODE]
    account = await member(request, "write:statuses")
    me = account.actor_id
    record = await node.store.get_status(parse_id(request.match_info["id"]))
    if record is None or record.account != me:
        raise not_found()
    bundle, status = await load_status(node, request.match_info["id"], me)
    rendered = render_loaded(node, bundle, status, me)
    if record.reblog_activity is not None:
        await send(node, account, {"type": "Undo", "object": record.reblog_activity})
        return api_json(rendered)
    doc = json.loads(status.post.document)
    source = doc.get("source")
    text = source.get("content") if isinstance(source, dict) else None
    await send(node, account, {"type": "Delete", "object": record.object_id})
    rendered["text"] = text if isinstance(text, str) else to_plain_text(rendered["content"])
    return api_json(rendered)


@routes.get("/api/v1/statuses/{id}/context")
async def get_context(request: web.Request) -> web.Response:
    """Ancestors (oldest first) and descendants (depth first), as the caller may see."""
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    _, status = await load_status(node, request.match_info["id"], viewer)
    ancestors, descendants, bundle = await node.store.thread(status.post.object_id, viewer)
    shown = {s.id: s for s in bundle.statuses}

    def render(ids: list[int]) -> list[object]:
        out = []
        for status_id in ids:
            found = shown.get(status_id)
            rendered = status_json(node, bundle, found, viewer) if found else None
            if rendered is not None:
                out.append(rendered)
        return out

    return api_json({"ancestors": render(ancestors), "descendants": render(descendants)})
