"""Client API features Mutual does not have yet, answered as a server that has none.

Apps call these at start-up (Tusky, Ivory and Elk fetch filters, lists, markers and
custom emojis before showing anything) and treat an error as a broken server; an empty
list is the truthful answer — there are no filters, lists or announcements here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from node.api.http import ApiRoutes, api_json
from node.api.views import member, reader

__all__ = ["routes"]

routes = ApiRoutes()

_EMPTY_FOR_MEMBERS = (
    ("/api/v1/filters", "read:filters"),
    ("/api/v2/filters", "read:filters"),
    ("/api/v1/lists", "read:lists"),
    ("/api/v1/announcements", "read"),
    ("/api/v1/followed_tags", "read:follows"),
    ("/api/v1/conversations", "read:statuses"),
    ("/api/v1/domain_blocks", "read:blocks"),
    ("/api/v1/endorsements", "read:accounts"),
    ("/api/v1/featured_tags", "read:accounts"),
    ("/api/v1/scheduled_statuses", "read:statuses"),
    ("/api/v2/suggestions", "read"),
)
_EMPTY_FOR_ALL = ("/api/v1/custom_emojis", "/api/v1/trends/tags", "/api/v1/trends/statuses",
                  "/api/v1/trends/links", "/api/v1/directory")


def _empty_for_members(scope: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def empty(request: web.Request) -> web.Response:
        await member(request, scope)
        return api_json([])
    return empty


async def _empty(request: web.Request) -> web.Response:
    await reader(request, "read")
    return api_json([])


for _path, _scope in _EMPTY_FOR_MEMBERS:
    routes.get(_path)(_empty_for_members(_scope))
for _path in _EMPTY_FOR_ALL:
    routes.get(_path)(_empty)


@routes.get("/api/v1/markers")
async def markers(request: web.Request) -> web.Response:
    """No reading positions are kept: none to report."""
    await member(request, "read:statuses")
    return api_json({})


@routes.get("/api/v1/preferences")
async def preferences(request: web.Request) -> web.Response:
    await member(request, "read:accounts")
    return api_json({"posting:default:visibility": "public",
                     "posting:default:sensitive": False, "posting:default:language": None,
                     "reading:expand:media": "default", "reading:expand:spoilers": False})
