"""Client API: follow, unfollow, block, unblock, mute, unmute, and follow requests.

Following, blocking and answering a follow request federate: they are the same
Follow, Block, Accept, Reject and Undo a C2S client would post, built and published
the C2S way, for accounts here and on other servers alike (a remote follow stays
``requested`` until that server accepts it). Mutes are the member's own and never
leave the node. Every action answers with the Relationship as it now is.
"""

from __future__ import annotations

from aiohttp import web

from node.api.entities import relationship_json
from node.api.http import ApiRoutes, api_json, page_query
from node.api.params import ApiError, read_params
from node.api.posting import send
from node.api.views import account_view, accounts_page, member
from node.context import Node
from node.routes.common import NODE
from storage.api import PutMute
from storage.records import AccountRecord, DeleteFollow

__all__ = ["routes"]

routes = ApiRoutes()


async def _relationship(node: Node, me: str, target: str) -> web.Response:
    found = await node.store.relationships(me, [target])
    if not found:
        raise ApiError(404, "Record not found")
    return api_json(relationship_json(found[0]))


async def _unfollow(node: Node, account: AccountRecord, target: str) -> None:
    follow = await node.store.get_follow(account.actor_id, target)
    if follow is None:
        return
    activity = await node.store.get_activity(follow.activity_id)
    if activity is not None and activity.actor == account.actor_id:
        await send(node, account, {"type": "Undo", "object": follow.activity_id})
    else:  # a follow that never was an activity (a group's owner joins at creation)
        await node.store.apply([DeleteFollow(follower=account.actor_id, followee=target)])


@routes.post("/api/v1/accounts/{id}/follow")
@routes.post("/api/v1/accounts/{id}/unfollow")
async def follow(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:follows")
    target = (await account_view(node, request.match_info["id"])).actor
    if target == account.actor_id:
        raise ApiError(403, "This action is not allowed")
    if request.path.rstrip("/").endswith("/unfollow"):
        await _unfollow(node, account, target)
    elif await node.store.get_follow(account.actor_id, target) is None:
        if await node.store.is_blocked(account.actor_id, target):
            raise ApiError(403, "This action is not allowed")
        await send(node, account, {"type": "Follow", "object": target})
    return await _relationship(node, account.actor_id, target)


@routes.post("/api/v1/accounts/{id}/block")
@routes.post("/api/v1/accounts/{id}/unblock")
async def block(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:blocks")
    me = account.actor_id
    target = (await account_view(node, request.match_info["id"])).actor
    if target == me:
        raise ApiError(403, "This action is not allowed")
    blocked = await node.store.is_blocked(me, target)
    if request.path.rstrip("/").endswith("/unblock"):
        activity = await node.store.find_activity(me, "Block", target) if blocked else None
        if activity is not None:
            await send(node, account, {"type": "Undo", "object": activity})
    elif not blocked:
        await send(node, account, {"type": "Block", "object": target})
    return await _relationship(node, me, target)


@routes.post("/api/v1/accounts/{id}/mute")
@routes.post("/api/v1/accounts/{id}/unmute")
async def mute(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:mutes")
    target = (await account_view(node, request.match_info["id"])).actor
    if target == account.actor_id:
        raise ApiError(403, "This action is not allowed")
    present = request.path.rstrip("/").endswith("/mute")
    await node.store.apply([PutMute(actor=account.actor_id, target=target, present=present,
                                    created_at=node.now())])
    return await _relationship(node, account.actor_id, target)


@routes.get("/api/v1/follow_requests")
async def follow_requests(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "read:follows")
    page = page_query(await read_params(request), default=40, maximum=80)
    found = await node.store.follow_list(followee=account.actor_id, follower=None,
                                         state="pending", page=page)
    return await accounts_page(request, node, found)


@routes.post("/api/v1/follow_requests/{id}/authorize")
@routes.post("/api/v1/follow_requests/{id}/reject")
async def answer_request(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:follows")
    me = account.actor_id
    follower = (await account_view(node, request.match_info["id"])).actor
    pending = await node.store.get_follow(follower, me)
    if pending is None or pending.state != "pending":
        raise ApiError(404, "Record not found")
    kind = "Accept" if request.path.rstrip("/").endswith("/authorize") else "Reject"
    await send(node, account, {"type": kind, "object": pending.activity_id})
    return await _relationship(node, me, follower)
