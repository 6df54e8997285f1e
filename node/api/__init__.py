"""The Mastodon-compatible client API and OAuth2, so members use the apps they have.

Each module owns one area and exposes ``routes``; ``route_tables`` lists them for the
app factory.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["route_tables"]


def route_tables() -> list[web.RouteTableDef]:
    from node.api import (
        accounts,
        apps,
        authorize,
        instance,
        interactions,
        notifications,
        oauth,
        polls,
        relationships,
        search,
        statuses,
        streaming,
        timelines,
        unsupported,
    )

    return [m.routes for m in (oauth, apps, authorize, instance, accounts, relationships,
                               statuses, interactions, timelines, notifications, polls,
                               search, streaming, unsupported)]
