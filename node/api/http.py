"""What every client-API route shares: routes with and without a trailing slash, JSON
answers, Mastodon's paging parameters and Link headers, and the mapping of the node's
own refusals to Mastodon's error shape.

Paging is Mastodon's: ``max_id`` (older than), ``since_id`` (newer than, newest
first), ``min_id`` (the page immediately newer, still answered newest first) and
``limit``; a non-empty page carries ``Link: <...?max_id=OLDEST>; rel="next",
<...?min_id=NEWEST>; rel="prev"`` built on the node's own URL, keeping the request's
other parameters (``local``, ``types[]``...).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from node.api.params import ApiError, Params
from node.fetcher import FetchError
from node.governance.ballots import BallotRefused
from node.inbox.base import Refused
from node.inbox.pipeline import InboxError
from protocol.errors import ProtocolError
from storage.api import PageQuery

__all__ = [
    "ApiRoutes",
    "api_json",
    "link_header",
    "not_found",
    "page_query",
    "parse_id",
    "refusals_as_api_errors",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MAX_ID = 2**62


class ApiRoutes(web.RouteTableDef):
    """A route table where every path also answers with a trailing slash (Mastodon.py
    asks for ``/api/v1/instance/``); POSTs cannot be redirected, so both are routes."""

    def route(self, method: str, path: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._items.append(web.RouteDef(method, path, handler, kwargs))
            if not path.endswith("/"):
                self._items.append(web.RouteDef(method, path + "/", handler, kwargs))
            return handler
        return register


def api_json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None
             ) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status,
                        content_type="application/json", headers=headers)


def not_found() -> ApiError:
    return ApiError(404, "Record not found")


def parse_id(raw: str | None) -> int:
    """A numeric id from the path; anything else names no record (404, as Mastodon)."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise not_found()
    return int(raw)


def page_query(params: Params, *, default: int = 20, maximum: int = 40) -> PageQuery:
    def bound(name: str) -> int | None:
        return params.int(name, minimum=0, maximum=_MAX_ID)

    limit = params.int("limit", default, minimum=1, maximum=maximum)
    return PageQuery(max_id=bound("max_id"), since_id=bound("since_id"),
                     min_id=bound("min_id"), limit=limit or default)


def link_header(request: web.Request, base_url: str, keys: list[int]) -> dict[str, str]:
    """Mastodon's Link header for a page whose items have ``keys`` (newest first)."""
    if not keys:
        return {}
    kept = [(k, v) for k, v in request.query.items()
            if k not in ("max_id", "min_id", "since_id")]
    url = base_url + request.path

    def link(name: str, value: int, rel: str) -> str:
        return f'<{url}?{urlencode([*kept, (name, str(value))])}>; rel="{rel}"'

    return {"Link": f"{link('max_id', keys[-1], 'next')}, {link('min_id', keys[0], 'prev')}"}


@contextlib.contextmanager
def refusals_as_api_errors() -> Iterator[None]:
    """Federating on a member's behalf can be refused (an unknown proposal, a closed
    vote, an unreachable server): apps get Mastodon's error shape, never a 500."""
    try:
        yield
    except (Refused, BallotRefused, InboxError) as exc:
        status = exc.status if 400 <= exc.status < 500 else 422
        raise ApiError(status, f"Validation failed: {exc}") from exc
    except ProtocolError as exc:
        raise ApiError(422, f"Validation failed: {exc.message}") from exc
    except FetchError as exc:
        raise ApiError(422, f"Validation failed: {exc}") from exc
