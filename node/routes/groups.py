"""Group actors and their decisions: proposals, electorates and ballot ledgers.

A public group's decisions are readable by everyone, so anyone can audit them; a closed
group's only by its members (a signed GET from a member's actor).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from aiohttp import web

from node.context import Node
from node.documents import AS_CONTEXT
from node.governance.common import MODERATOR, is_member
from node.routes import actors, boxes
from node.routes.common import NODE, json_response, reader_for
from storage.governance import ProposalRecord

__all__ = ["routes"]

routes = web.RouteTableDef()
LEDGER_PAGE = 1000

# The member-facing routes are the same handlers as for people.
routes.get("/groups/{name}")(actors.get_actor)
routes.get("/groups/{name}/outbox")(actors.get_outbox)
routes.get("/groups/{name}/followers")(actors.get_follows)
routes.get("/groups/{name}/following")(actors.get_follows)
routes.post("/groups/{name}/inbox")(boxes.post_inbox)


@routes.get("/ns/mutual-v1.jsonld")
async def get_context(request: web.Request) -> web.Response:
    text = (resources.files("protocol") / "contexts" / "mutual-v1.jsonld").read_text()
    return web.Response(text=text, content_type="application/ld+json")


@routes.get("/groups/{name}/moderators")
async def get_moderators(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await actors._account(request)
    items = await node.store.group_roles(account.actor_id, MODERATOR)
    return json_response({"@context": AS_CONTEXT, "id": node.urls.moderators(account.actor_id),
                          "type": "OrderedCollection", "totalItems": len(items),
                          "orderedItems": items})


async def _proposal(request: web.Request) -> tuple[Node, ProposalRecord]:
    node = request.app[NODE]
    account = await actors._account(request)
    try:
        number = int(request.match_info["number"])
    except ValueError as exc:
        raise web.HTTPNotFound(text="no such proposal") from exc
    proposal = await node.store.get_proposal(node.urls.proposal(account.actor_id, number))
    if proposal is None:
        raise web.HTTPNotFound(text="no such proposal")
    reader = await reader_for(request, account.actor_id)  # (404 for whom it blocks)
    group = await node.store.get_group(account.actor_id)
    if group is not None and group.closed and (
            reader is None or not await is_member(node, account.actor_id, reader)):
        # A closed group's decisions are for its members: a signed GET from a member's
        # server, or a local member with their token.
        raise web.HTTPNotFound(text="no such proposal")
    return node, proposal


@routes.get("/groups/{name}/proposals/{number}")
async def get_proposal(request: web.Request) -> web.Response:
    _, proposal = await _proposal(request)
    return json_response(json.loads(proposal.document))


@routes.get("/groups/{name}/proposals/{number}/electorate")
async def get_electorate(request: web.Request) -> web.Response:
    node, proposal = await _proposal(request)
    members = await node.store.electorate(proposal.id)
    return json_response({
        "@context": AS_CONTEXT,
        "id": f"{proposal.id}/electorate",
        "type": "OrderedCollection",
        "totalItems": len(members),
        "electorateHash": proposal.electorate_hash,
        "orderedItems": members,
    })


@routes.get("/groups/{name}/proposals/{number}/ballots")
async def get_ballots(request: web.Request) -> web.Response:
    """The ledger in order of acceptance, paged by sequence number."""
    node, proposal = await _proposal(request)
    collection = f"{proposal.id}/ballots"
    size = await node.store.ledger_size(proposal.id)
    raw_after = request.query.get("after")
    if raw_after is None and request.query.get("page") is None:
        return json_response({"@context": AS_CONTEXT, "id": collection,
                              "type": "OrderedCollection", "totalItems": size,
                              "first": f"{collection}?page=true&after=0"})
    try:
        after = int(raw_after or 0)
    except ValueError as exc:
        raise web.HTTPBadRequest(text="after must be an integer") from exc
    rows = await node.store.ledger(proposal.id, after, LEDGER_PAGE)
    page: dict[str, Any] = {
        "@context": AS_CONTEXT,
        "id": f"{collection}?page=true&after={after}",
        "type": "OrderedCollectionPage",
        "partOf": collection,
        "totalItems": size,
    }
    headers = {"Content-Type": "application/activity+json"}
    if rows and rows[-1].seq < size:
        page["next"] = f"{collection}?page=true&after={rows[-1].seq}"
        # Also as a Link header, so an auditor can fetch ahead without parsing the body.
        headers["Link"] = f'<{page["next"]}>; rel="next"'
    # Entries are stored as JSON text: splice them in rather than parse and re-encode
    # a thousand of them per page.
    head = json.dumps(page)[:-1]
    body = f'{head}, "orderedItems": [{", ".join(r.entry for r in rows)}]}}'
    return web.Response(body=body.encode(), headers=headers)
