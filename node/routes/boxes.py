"""Inboxes (S2S delivery in, a member's own reading) and the C2S outbox."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from node.c2s import build_activity
from node.context import Node
from node.documents import collection_page
from node.inbox.pipeline import InboxError, parse_json, read_body, receive
from node.outbox import publish
from node.routes.actors import PAGE_SIZE, _account, _cursor, _paged
from node.routes.common import NODE, authorised_account, json_response

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.post("/inbox")
@routes.post("/actor/inbox")
@routes.post("/users/{name}/inbox")
async def post_inbox(request: web.Request) -> web.Response:
    node = request.app[NODE]
    if "name" in request.match_info:
        await _account(request)  # 404 for an inbox that does not exist
    return await receive(node, request)


@routes.get("/users/{name}/inbox")
async def get_inbox(request: web.Request) -> web.Response:
    """What the member received, newest first, each with its object's current state."""
    node = request.app[NODE]
    account = await _account(request)
    viewer = await authorised_account(request)
    if viewer is None or viewer.username != account.username:
        raise InboxError(403, "not-owner", "only the owner may read an inbox")
    cursor = _cursor(request)
    page = await node.store.inbox_page(account.actor_id, cursor, PAGE_SIZE)
    items = [await _with_current_object(node, json.loads(r.document)) for r in page.items]
    return json_response(collection_page(
        collection_id=node.urls.inbox(account.username), page=page, items=items,
        cursor=cursor if _paged(request) else None))


async def _with_current_object(node: Node, doc: dict[str, Any], *,
                               relayed: bool = False) -> dict[str, Any]:
    """The activity with its embedded object in its current stored state (edited,
    deleted), one level down too for a relayed activity (FEP-1b12 Announce(Create)):
    there the stored object is the one refetched from its origin, not the relay's copy."""
    embedded = doc.get("object")
    if not isinstance(embedded, dict) or not isinstance(embedded.get("id"), str):
        return doc
    current = await node.store.get_object(embedded["id"])
    if current is not None:
        doc["object"] = json.loads(current.document)
    elif not relayed and isinstance(embedded.get("object"), dict):
        doc["object"] = await _with_current_object(node, embedded, relayed=True)
    return doc


@routes.post("/users/{name}/outbox")
async def post_outbox(request: web.Request) -> web.Response:
    """AP §6: the member posts an activity or a bare object; 201 with Location."""
    node = request.app[NODE]
    account = await _account(request)
    author = await authorised_account(request)
    if author is None or author.username != account.username:
        raise InboxError(403, "not-owner", "you can only post to your own outbox")
    body = await read_body(request, node.config.max_body_bytes)
    doc = await build_activity(node, account, parse_json(body))
    activity = await publish(node, account, doc)
    return json_response(doc, status=201, headers={"Location": activity.id})
