"""Client API: accounts — the member's own, anyone's by id or acct, their statuses,
followers and following, relationships, and search.

An account's API id is its actor's row id here, for members, groups and remote
actors alike; ``acct`` is ``name`` for ours and ``name@host[:port]`` for others.
Static paths are registered before ``/api/v1/accounts/{id}`` so they are not taken
for ids.
"""

from __future__ import annotations

import struct
import zlib

from aiohttp import web

from node.accounts import AccountError
from node.api.entities import account_json, relationship_json, statuses_json
from node.api.http import ApiRoutes, api_json, link_header, page_query, parse_id
from node.api.params import ApiError, read_params
from node.api.profile import update_profile
from node.api.resolve import search_accounts
from node.api.views import account_view, accounts_page, member, reader
from node.routes.common import NODE
from storage.api import TimelineQuery

__all__ = ["routes"]

routes = ApiRoutes()


@routes.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "read:accounts")
    found = await node.store.api_accounts([account.actor_id], account.actor_id)
    return api_json(account_json(node, found[account.actor_id], source=True))


@routes.patch("/api/v1/accounts/update_credentials")
async def update_credentials(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:accounts")
    params = await read_params(request)
    try:
        updated = await update_profile(node, account, params)
    except AccountError as exc:
        raise ApiError(422, f"Validation failed: {exc}") from exc
    found = await node.store.api_accounts([updated.actor_id], updated.actor_id)
    return api_json(account_json(node, found[updated.actor_id], source=True))


@routes.get("/api/v1/accounts/lookup")
async def lookup(request: web.Request) -> web.Response:
    """An account we know, by acct; no WebFinger (that is search with resolve)."""
    node = request.app[NODE]
    await reader(request, "read:accounts")
    acct = (await read_params(request)).str("acct", "", max_length=300) or ""
    name, _, host = acct.strip().lstrip("@").partition("@")
    local = not host or host.lower() == node.urls.host
    actor = await node.store.api_actor_by_acct(name, None if local else host) if name else None
    found = await node.store.api_accounts([actor]) if actor else {}
    if actor is None or actor not in found:
        raise ApiError(404, "Record not found")
    return api_json(account_json(node, found[actor]))


@routes.get("/api/v1/accounts/search")
async def search(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "read:accounts")
    params = await read_params(request)
    found = await search_accounts(
        node, account.actor_id, params.str("q", "", max_length=300) or "",
        resolve=params.bool("resolve"), following=params.bool("following"),
        limit=params.int("limit", 40, minimum=1, maximum=80) or 40,
        offset=params.int("offset", 0, minimum=0, maximum=10_000) or 0)
    return api_json([account_json(node, view) for view in found])


@routes.get("/api/v1/accounts/relationships")
async def relationships(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "read:follows")
    actors = []
    for raw in (await read_params(request)).list("id")[:80]:
        try:
            actor = await node.store.api_actor_id(parse_id(raw))
        except ApiError:
            continue
        if actor is not None:
            actors.append(actor)
    found = await node.store.relationships(account.actor_id, actors)
    return api_json([relationship_json(r) for r in found])


@routes.get("/api/v1/accounts/{id}")
async def get_account(request: web.Request) -> web.Response:
    node = request.app[NODE]
    await reader(request, "read:accounts")
    return api_json(account_json(node, await account_view(node, request.match_info["id"])))


@routes.get("/api/v1/accounts/{id}/statuses")
async def account_statuses(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    target = await account_view(node, request.match_info["id"])
    params = await read_params(request)
    if params.bool("pinned"):
        return api_json([])  # pinning is not supported: nothing is pinned
    tagged = params.str("tagged", max_length=100)
    query = TimelineQuery(kind="account", target=target.actor,
                          only_media=params.bool("only_media"),
                          exclude_replies=params.bool("exclude_replies"),
                          exclude_reblogs=params.bool("exclude_reblogs"),
                          tagged=tagged.lstrip("#").lower() if tagged else None)
    bundle = await node.store.timeline(query, page_query(params), viewer)
    return api_json(statuses_json(node, bundle, viewer), headers=link_header(
        request, node.config.url, [s.key for s in bundle.statuses]))


@routes.get("/api/v1/accounts/{id}/followers")
@routes.get("/api/v1/accounts/{id}/following")
async def follows(request: web.Request) -> web.Response:
    node = request.app[NODE]
    await reader(request, "read:accounts")
    target = await account_view(node, request.match_info["id"])
    page = page_query(await read_params(request), default=40, maximum=80)
    if request.path.rstrip("/").endswith("/followers"):
        found = await node.store.follow_list(followee=target.actor, follower=None,
                                             state="accepted", page=page)
    else:
        found = await node.store.follow_list(followee=None, follower=target.actor,
                                             state="accepted", page=page)
    return await accounts_page(request, node, found)


def _grey_png() -> bytes:
    """A 1x1 grey PNG: what an account without a picture shows (Mastodon serves a
    ``missing.png`` too, and apps expect an image at every avatar URL)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes((0, 200, 200, 200)))) + chunk(b"IEND", b""))


_MISSING = _grey_png()


@routes.get("/avatars/original/missing.png")
@routes.get("/headers/original/missing.png")
async def missing_picture(request: web.Request) -> web.Response:
    return web.Response(body=_MISSING, content_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400"})
