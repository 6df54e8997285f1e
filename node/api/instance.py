"""Client API: what this node is. GET /api/v1/instance, /api/v2/instance, /peers, /rules.

Apps gate features on these documents. ``version`` reads as Mastodon 4.3.0 followed by
who we really are: Mastodon.py (in "created" mode) compares that number with the
version each endpoint appeared in, so 4.3.0 enables polls (2.8), search v2 (2.4.3),
account lookup (3.4) and the v2 instance document itself (4.0); Mastodon.py also
expects ``api_versions`` from any server claiming 4.3 or later. Mastodon.py asks with
a trailing slash (``/api/v1/instance/``), so every route answers with and without one.

Rules come from the governing group's rules text when a group governs the node (the
community changes them by a decision), else from ``server.rules`` in the config; one
rule per non-empty line, list markers dropped. Peers are the hosts of the remote
actors we know, minus blocked domains. Counts are cached for a minute per node:
counting every local post is a scan, and every app asks at start-up.
"""

from __future__ import annotations

import re
import struct
import time
import weakref
import zlib
from importlib import metadata
from typing import Any

from aiohttp import web

from node.api import limits
from node.context import Node
from node.governance.common import GOVERNING_GROUP
from node.routes.common import NODE, json_response

__all__ = ["VERSION", "instance_rules", "routes"]

routes = web.RouteTableDef()

try:
    MUTUAL_VERSION = metadata.version("mutual")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    MUTUAL_VERSION = "0.1.0"
VERSION = f"4.3.0 (compatible; Mutual {MUTUAL_VERSION})"
_STATS_TTL = 60.0
_stats: weakref.WeakKeyDictionary[Node, tuple[float, dict[str, int]]] = (
    weakref.WeakKeyDictionary())
_LIST_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def _json(doc: Any) -> web.Response:
    return json_response(doc, content_type="application/json")


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A 1x1 PNG of one colour: the instance thumbnail apps insist on showing."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes((0, *rgb)))) + chunk(b"IEND", b""))


_THUMBNAIL = _png((0x2E, 0x7D, 0x32))


async def _counts(node: Node) -> dict[str, int]:
    cached = _stats.get(node)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    counts = {"user_count": await node.store.count_local_accounts(),
              "status_count": await node.store.count_local_posts(),
              "domain_count": len(await node.store.known_peers())}
    _stats[node] = (time.monotonic() + _STATS_TTL, counts)
    return counts


async def instance_rules(node: Node) -> list[dict[str, str]]:
    text = node.config.rules
    governing = await node.store.get_meta(GOVERNING_GROUP)
    if governing:
        group = await node.store.get_group(governing)
        if group is not None and group.rules.strip():
            text = group.rules
    lines = [_LIST_MARKER.sub("", line).strip() for line in text.splitlines()]
    return [{"id": str(n), "text": line, "hint": ""}
            for n, line in enumerate((line for line in lines if line), start=1)]


def _streaming_url(node: Node) -> str:
    base = node.urls.base
    return "wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]


def _statuses() -> dict[str, int]:
    return {"max_characters": limits.MAX_CHARACTERS,
            "max_media_attachments": limits.MAX_MEDIA_ATTACHMENTS,
            "characters_reserved_per_url": limits.CHARACTERS_RESERVED_PER_URL}


def _polls() -> dict[str, int]:
    return {"max_options": limits.POLL_MAX_OPTIONS,
            "max_characters_per_option": limits.POLL_MAX_CHARACTERS_PER_OPTION,
            "min_expiration": limits.POLL_MIN_EXPIRATION,
            "max_expiration": limits.POLL_MAX_EXPIRATION}


def _media() -> dict[str, Any]:
    return {"supported_mime_types": [], "image_size_limit": 0, "image_matrix_limit": 0,
            "video_size_limit": 0, "video_frame_rate_limit": 0, "video_matrix_limit": 0,
            "description_limit": 1500}


def _accounts() -> dict[str, int]:
    return {"max_featured_tags": limits.MAX_FEATURED_TAGS,
            "max_pinned_statuses": limits.MAX_PINNED_STATUSES}


@routes.get("/api/v1/instance")
@routes.get("/api/v1/instance/")
async def instance_v1(request: web.Request) -> web.Response:
    node = request.app[NODE]
    config = node.config
    return _json({
        "uri": node.urls.host,
        "title": config.name,
        "short_description": config.description,
        "description": config.description,
        "email": config.contact_email,
        "version": VERSION,
        "urls": {"streaming_api": _streaming_url(node)},
        "stats": await _counts(node),
        "thumbnail": f"{node.urls.base}/instance/thumbnail.png",
        "languages": ["en"],
        # Members are created by the admin (`mutual account create`): no sign-up API.
        "registrations": False,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {"accounts": _accounts(), "statuses": _statuses(),
                          "media_attachments": _media(), "polls": _polls()},
        "contact_account": None,
        "rules": await instance_rules(node),
    })


@routes.get("/api/v2/instance")
@routes.get("/api/v2/instance/")
async def instance_v2(request: web.Request) -> web.Response:
    node = request.app[NODE]
    config = node.config
    counts = await _counts(node)
    return _json({
        "domain": node.urls.host,
        "title": config.name,
        "version": VERSION,
        "source_url": node.urls.base,  # no public repository address to give yet
        "description": config.description,
        "usage": {"users": {"active_month": counts["user_count"]}},
        "thumbnail": {"url": f"{node.urls.base}/instance/thumbnail.png"},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": _streaming_url(node), "status": None, "about": None,
                     "privacy_policy": None, "terms_of_service": None},
            "vapid": {"public_key": ""},
            "accounts": _accounts(),
            "statuses": _statuses(),
            "media_attachments": _media(),
            "polls": _polls(),
            "translation": {"enabled": False},
        },
        "registrations": {"enabled": False, "approval_required": False, "reason_required":
                          False, "message": None, "url": None, "min_age": None},
        "api_versions": {"mastodon": 2},
        "contact": {"email": config.contact_email, "account": None},
        "rules": await instance_rules(node),
    })


@routes.get("/api/v1/instance/peers")
@routes.get("/api/v1/instance/peers/")
async def peers(request: web.Request) -> web.Response:
    return _json(await request.app[NODE].store.known_peers())


@routes.get("/api/v1/instance/rules")
@routes.get("/api/v1/instance/rules/")
async def rules(request: web.Request) -> web.Response:
    return _json(await instance_rules(request.app[NODE]))


@routes.get("/api/v1/instance/activity")
@routes.get("/api/v1/instance/activity/")
async def activity(request: web.Request) -> web.Response:
    """Weekly activity is not tracked; an empty list is Mastodon's answer when the
    admin turned the statistics off."""
    return _json([])


@routes.get("/instance/thumbnail.png")
async def thumbnail(request: web.Request) -> web.Response:
    return web.Response(body=_THUMBNAIL, content_type="image/png",
                        headers={"Cache-Control": "public, max-age=86400"})
