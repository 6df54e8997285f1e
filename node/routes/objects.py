"""Objects and activities by URL, with visibility enforced on every read."""

from __future__ import annotations

import json

from aiohttp import web

from node.documents import object_document
from node.routes.common import NODE, can_read, json_response, reader_for, wants_html
from node.web import object_page

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/objects/{uuid}")
async def get_object(request: web.Request) -> web.Response:
    node = request.app[NODE]
    object_id = f"{node.config.url}/objects/{request.match_info['uuid']}"
    record = await node.store.get_object(object_id)
    if record is None or not record.local:
        raise web.HTTPNotFound(text="no such object")
    reader = await reader_for(request, record.attributed_to)
    if not await can_read(node, record, reader):
        # 404, not 403: a stranger must not learn that a private post exists, nor that
        # it existed (a deleted one keeps its visibility, so its Tombstone is as private).
        raise web.HTTPNotFound(text="no such object")
    if record.deleted_at is not None:
        return json_response(json.loads(record.document), status=410)
    replies = [r.id for r in await node.store.replies(object_id, 100)
               if r.visibility in ("public", "unlisted")]
    doc = object_document(
        record,
        likes=await node.store.count_reactions(object_id, "like"),
        shares=await node.store.count_reactions(object_id, "announce"),
        replies=replies,
    )
    if wants_html(request):
        return web.Response(text=object_page(node, doc), content_type="text/html")
    return json_response(doc)


@routes.get("/activities/{uuid}")
async def get_activity(request: web.Request) -> web.Response:
    node = request.app[NODE]
    activity_id = f"{node.config.url}/activities/{request.match_info['uuid']}"
    record = await node.store.get_activity(activity_id)
    if record is None or not record.local:
        raise web.HTTPNotFound(text="no such activity")
    reader = await reader_for(request, record.actor)
    if not await can_read(node, record, reader):
        raise web.HTTPNotFound(text="no such activity")
    return json_response(json.loads(record.document))
