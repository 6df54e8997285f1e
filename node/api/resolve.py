"""Finding accounts and statuses for search, here or on other servers.

With ``resolve`` a remote account is looked up by acct through WebFinger (then its
actor is fetched and stored, as for anyone we talk to), and a remote status by URL
through the node's signed fetcher; the status is taken as its origin serves it, at
its own id, never as another server relays it (DESIGN §5). Whatever cannot be
reached is simply not found: search answers with what it has, never with an error.
"""

from __future__ import annotations

from node.c2s import resolve_acct
from node.context import Node
from node.fetcher import FetchError
from node.inbox.base import HandlerContext, Refused
from node.inbox.posts import object_ops
from protocol.errors import ProtocolError
from protocol.vocab import ACTOR_TYPES, parse_activity, parse_object
from storage.api import AccountView

__all__ = ["account_by_query", "search_accounts", "status_by_url"]

_POST_TYPES = ("Note", "Article", "Page", "Question")


def _is_url(query: str) -> bool:
    return query.startswith(("https://", "http://"))


async def account_by_query(node: Node, query: str, *, resolve: bool) -> str | None:
    """The actor id for ``name``, ``@name@host[:port]``, ``acct:...`` or an actor URL."""
    query = query.strip()
    if _is_url(query):
        record = await node.store.get_actor(query)
        if record is not None or not resolve:
            return record.id if record else None
        try:
            actor = await node.resolve_actor(query)
        except (FetchError, ProtocolError):
            return None
        return actor.id if actor.type in ACTOR_TYPES else None
    acct = query.removeprefix("acct:").lstrip("@")
    name, _, host = acct.partition("@")
    if not name or "/" in acct or " " in acct:
        return None
    if not host or host.lower() == node.urls.host:
        return await node.store.api_actor_by_acct(name, None)
    known = await node.store.api_actor_by_acct(name, host)
    if known is not None or not resolve:
        return known
    actor_id = await resolve_acct(node, f"{name}@{host}")
    if actor_id is None:
        return None
    try:
        await node.resolve_actor(actor_id)
    except (FetchError, ProtocolError):
        return None
    return actor_id


async def search_accounts(node: Node, viewer: str | None, query: str, *, resolve: bool,
                          following: bool, limit: int, offset: int) -> list[AccountView]:
    """Matching accounts: an exact acct or URL first (resolved when asked), then the
    accounts we know whose name or display name matches."""
    query = query.strip()
    if not query:
        return []
    exact = None
    if "@" in query.lstrip("@") or _is_url(query):
        exact = await account_by_query(node, query, resolve=resolve)
    following_of = viewer if following else None
    found = [] if _is_url(query) else await node.store.api_search_accounts(
        query, limit=limit, offset=offset, following_of=following_of)
    if exact is not None and offset == 0 and all(v.actor != exact for v in found):
        exact_view = await node.store.api_accounts([exact])
        if exact in exact_view:
            found = [exact_view[exact], *found][:limit]
    return found


async def status_by_url(node: Node, url: str, *, resolve: bool) -> int | None:
    """The status for a post's URL (its id, or a page URL its origin maps to it)."""
    found = await node.store.status_for_object(url)
    if found is not None or not resolve:
        return found
    try:
        document = await node.fetcher.get_json(url)
        obj = parse_object(document)
        if obj.id != url:
            found = await node.store.status_for_object(obj.id)
            if found is not None:
                return found
            # Served under another address: take it from its own id, on its own host.
            document = await node.fetcher.get_json(obj.id)
            fetched = parse_object(document)
            if fetched.id != obj.id:
                return None
            obj = fetched
        if obj.type not in _POST_TYPES or obj.attributed_to is None:
            return None
        await node.resolve_actor(obj.attributed_to)
        creator = parse_activity({"id": f"{obj.id}#fetched", "type": "Create",
                                  "actor": obj.attributed_to, "object": document})
        ops = await object_ops(HandlerContext(node=node, local_origin=False), creator, obj)
    except (FetchError, ProtocolError, Refused):
        return None
    await node.store.apply(ops)
    return await node.store.status_for_object(obj.id)
