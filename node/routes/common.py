"""What the route modules share: app state keys, content negotiation, who is asking."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from node.accounts import hash_token
from node.context import Node
from node.inbox.pipeline import InboxError, verify_request
from protocol.errors import SignatureError
from storage.records import AccountRecord, ActivityRecord, ObjectRecord

__all__ = [
    "AP_JSON",
    "NODE",
    "READER",
    "authorised_account",
    "can_read",
    "json_response",
    "reader_for",
    "signed_reader",
    "wants_html",
]

NODE = web.AppKey("node", Node)
AP_JSON = "application/activity+json"
# The signer of a GET, once the authorized-fetch middleware has verified it.
READER = web.RequestKey("reader", str)


def json_response(doc: Any, *, status: int = 200, content_type: str = AP_JSON,
                  headers: dict[str, str] | None = None) -> web.Response:
    all_headers = {"Content-Type": content_type, "Vary": "Accept"}
    if headers:
        all_headers.update(headers)
    return web.Response(body=json.dumps(doc).encode(), status=status, headers=all_headers)


def wants_html(request: web.Request) -> bool:
    """Browsers get pages; anything asking for AS2 or JSON (or nothing) gets JSON."""
    accept = request.headers.get("Accept", "")
    if "activity+json" in accept or "ld+json" in accept or "application/json" in accept:
        return False
    return "text/html" in accept


async def signed_reader(request: web.Request) -> str | None:
    """The actor that signed this GET, or None for an unsigned one.

    A signature that is present but does not verify is an error (401), not anonymity,
    so a peer learns that its signature is wrong.
    """
    if READER in request:
        return request[READER]
    if "Signature" not in request.headers and "Signature-Input" not in request.headers:
        return None
    node = request.app[NODE]
    try:
        return await verify_request(node, request, None)
    except SignatureError as exc:
        raise InboxError(401, exc.reason, exc.message) from exc


async def authorised_account(request: web.Request, *, required: bool = True
                             ) -> AccountRecord | None:
    """The local account a ``Bearer`` token speaks for."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        if required:
            raise InboxError(401, "token-missing", "an Authorization: Bearer token is required")
        return None
    node = request.app[NODE]
    token = await node.store.get_token(hash_token(header[7:].strip()))
    if (token is None or token.revoked or token.username is None  # app-only: no actor
            or (token.expires_at is not None and token.expires_at <= node.now())):
        raise InboxError(401, "token-invalid", "the access token is invalid")
    account = await node.store.get_account(token.username)
    if account is None:
        raise InboxError(401, "token-invalid", "the access token is invalid")
    return account


async def reader_for(request: web.Request, owner: str | None) -> str | None:
    """Who reads what ``owner`` has: a local member by their token, else the actor that
    signed the GET (a bad signature is 401, a blocked domain 403), else None.

    Someone ``owner`` blocks is answered 404, what anyone is told of what does not
    exist (DESIGN §5: blocks hold on every path; an unsigned read of public things
    stays possible for them, as for anyone)."""
    local = await authorised_account(request, required=False)
    reader = local.actor_id if local is not None else await signed_reader(request)
    if reader is not None and owner is not None and reader != owner and (
            await request.app[NODE].store.is_blocked(owner, reader)):
        raise web.HTTPNotFound(text="not found")
    return reader


async def can_read(node: Node, item: ObjectRecord | ActivityRecord, reader: str | None) -> bool:
    """Visibility on every read path: public and unlisted for all; followers-only for
    accepted followers and the addressed; direct only for the addressed (and the author)."""
    if item.visibility in ("public", "unlisted"):
        return True
    if reader is None:
        return False
    author = item.attributed_to if isinstance(item, ObjectRecord) else item.actor
    if reader == author or reader in item.audience:
        return True
    if item.visibility == "followers" and author is not None:
        author_actor = await node.store.get_actor(author)
        if author_actor is not None and author_actor.followers in item.audience:
            follow = await node.store.get_follow(reader, author)
            return follow is not None and follow.state == "accepted"
    return False
