"""Discovery: WebFinger (RFC 7033), host-meta and NodeInfo 2.0/2.1."""

from __future__ import annotations

from aiohttp import web

from node.routes.common import NODE, json_response
from node.urls import INSTANCE_ACTOR
from protocol import nodeinfo, webfinger

__all__ = ["routes"]

routes = web.RouteTableDef()
VERSION = "0.1.0"


@routes.get("/.well-known/webfinger")
async def get_webfinger(request: web.Request) -> web.Response:
    node = request.app[NODE]
    resource = request.query.get("resource")
    if not resource:
        raise web.HTTPBadRequest(text="the resource parameter is required")
    username = webfinger.parse_resource(resource, local_host=node.urls.host)
    if username is None and resource in (node.urls.actor(INSTANCE_ACTOR),):
        username = INSTANCE_ACTOR
    account = await node.store.get_account(username) if username else None
    if account is None:
        raise web.HTTPNotFound(text="no such account here")
    jrd = webfinger.build_jrd(
        username=account.username, host=node.urls.host,
        actor_url=account.actor_id, profile_url=node.urls.profile(account.username))
    return json_response(jrd, content_type="application/jrd+json")


@routes.get("/.well-known/host-meta")
async def get_host_meta(request: web.Request) -> web.Response:
    node = request.app[NODE]
    return web.Response(text=webfinger.host_meta_xml(node.config.url),
                        content_type="application/xrd+xml")


@routes.get("/.well-known/nodeinfo")
async def get_nodeinfo_links(request: web.Request) -> web.Response:
    return json_response(nodeinfo.well_known(request.app[NODE].config.url))


@routes.get("/nodeinfo/{version:2\\.[01]}")
async def get_nodeinfo(request: web.Request) -> web.Response:
    node = request.app[NODE]
    users = await node.store.count_local_accounts()
    version = request.match_info["version"]
    doc = nodeinfo.document(
        version, software_version=VERSION, open_registrations=node.config.open_registrations,
        users_total=users, active_month=users, active_halfyear=users,
        local_posts=await node.store.count_local_posts(),
        metadata={"nodeName": node.config.name, "nodeDescription": node.config.description},
    )
    profile = f"http://nodeinfo.diaspora.software/ns/schema/{version}#"
    return json_response(doc, content_type=f'application/json; profile="{profile}"')
