"""Loading and rendering for the route modules: a status or an account by its API id,
with the caller's visibility applied (what they may not see is a 404, as Mastodon
answers), and lists of accounts in the order asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web

from node.api.auth import Caller, authenticate
from node.api.entities import account_json, status_json, statuses_json
from node.api.http import api_json, link_header, not_found, parse_id
from node.api.params import ApiError
from node.context import Node
from storage.api import AccountView, Keyed, StatusBundle, StatusView
from storage.records import AccountRecord

__all__ = [
    "account_entities",
    "account_view",
    "load_status",
    "member",
    "reader",
    "render_loaded",
    "render_status",
    "viewer_of",
]


async def member(request: web.Request, scope: str) -> AccountRecord:
    """The member a token with ``scope`` speaks for (401, 403 or 422 otherwise)."""
    caller = await authenticate(request, scope=scope)
    if caller is None or caller.account is None:
        raise ApiError(401, "The access token is invalid")
    return caller.account


async def reader(request: web.Request, scope: str) -> str | None:
    """The reading member's actor id, or None for an anonymous (or app-only) read."""
    return viewer_of(await authenticate(request, scope=scope, required=False, user=False))


def viewer_of(caller: Caller | None) -> str | None:
    return caller.account.actor_id if caller is not None and caller.account else None


async def load_status(node: Node, raw_id: str | None, viewer: str | None
                      ) -> tuple[StatusBundle, StatusView]:
    """The status with this API id as ``viewer`` may see it, or 404."""
    bundle = await node.store.api_statuses([parse_id(raw_id)], viewer)
    if not bundle.statuses:
        raise not_found()
    return bundle, bundle.statuses[0]


async def render_status(node: Node, status_id: int, viewer: str | None) -> dict[str, Any]:
    bundle = await node.store.api_statuses([status_id], viewer)
    rendered = statuses_json(node, bundle, viewer)
    if not rendered:
        raise not_found()
    return rendered[0]


def render_loaded(node: Node, bundle: StatusBundle, status: StatusView,
                  viewer: str | None) -> dict[str, Any]:
    rendered = status_json(node, bundle, status, viewer)
    if rendered is None:
        raise not_found()
    return rendered


async def account_view(node: Node, raw_id: str | None, viewer: str | None = None
                       ) -> AccountView:
    """The account with this API id, or 404."""
    actor = await node.store.api_actor_id(parse_id(raw_id))
    found = await node.store.api_accounts([actor], viewer) if actor else {}
    if actor is None or actor not in found:
        raise not_found()
    return found[actor]


async def account_entities(node: Node, actor_ids: Sequence[str]) -> list[dict[str, Any]]:
    found = await node.store.api_accounts(list(actor_ids))
    return [account_json(node, found[a]) for a in actor_ids if a in found]


async def accounts_page(request: web.Request, node: Node, found: Sequence[Keyed]
                        ) -> web.Response:
    """A page of accounts (followers, reactors, requests) with Mastodon's Link header."""
    accounts = await account_entities(node, [k.actor for k in found])
    return api_json(accounts, headers=link_header(request, node.config.url,
                                                  [k.key for k in found]))
