"""NodeInfo 2.0 and 2.1 documents (http://nodeinfo.diaspora.software/protocol), served and read.

Other servers and crawlers discover a node's software and size through
``/.well-known/nodeinfo`` (a JRD-like list of links, one per schema version) and then the
document itself. What we serve validates against the published JSON schemas; what we read
from remote nodes is parsed tolerantly, because real nodes deviate (NodeInfo 1.x
``protocols`` objects, upper-case names, missing usage).

Errors::

    ProtocolError
    └── NodeInfoError       no usable link, or a document without a software name
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol.errors import ProtocolError

__all__ = [
    "SCHEMA_REL_PREFIX",
    "SUPPORTED_VERSIONS",
    "NodeInfo",
    "NodeInfoError",
    "content_type",
    "document",
    "parse",
    "parse_well_known",
    "well_known",
]

SCHEMA_REL_PREFIX: Final = "http://nodeinfo.diaspora.software/ns/schema/"
SUPPORTED_VERSIONS: Final = ("2.0", "2.1")
_SOFTWARE_NAME: Final = re.compile(r"[a-z0-9-]+")


class NodeInfoError(ProtocolError):
    """A remote NodeInfo link list or document we cannot use."""

    reason = "nodeinfo-invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeInfo:
    """What we keep about a remote node. ``software_name`` is lowercased."""

    version: str | None
    software_name: str
    software_version: str | None
    protocols: tuple[str, ...]
    open_registrations: bool | None
    users_total: int | None
    node_name: str | None


def content_type(version: str) -> str:
    """The media type NodeInfo documents are served with (protocol spec, "Retrieval")."""
    _check_version(version)
    return f'application/json; profile="{SCHEMA_REL_PREFIX}{version}#"'


def _check_version(version: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported NodeInfo version {version!r}")


def well_known(base_url: str) -> dict[str, Any]:
    """The ``/.well-known/nodeinfo`` document: one link per schema version we serve."""
    base = base_url.rstrip("/")
    return {
        "links": [
            {"rel": f"{SCHEMA_REL_PREFIX}{version}", "href": f"{base}/nodeinfo/{version}"}
            for version in SUPPORTED_VERSIONS
        ]
    }


def document(
    version: str,
    *,
    software_name: str = "mutual",
    software_version: str,
    open_registrations: bool,
    users_total: int,
    active_month: int,
    active_halfyear: int,
    local_posts: int,
    metadata: Mapping[str, Any],
    software_repository: str | None = None,
    software_homepage: str | None = None,
) -> dict[str, Any]:
    """A NodeInfo document valid against the 2.0 or 2.1 schema.

    ``software.repository`` / ``software.homepage`` exist only in 2.1 (the 2.0 schema
    forbids extra properties there), so they are dropped from a 2.0 document. Raises
    ValueError for an unsupported version, a name outside ``^[a-z0-9-]+$`` or a negative
    count: those are our bugs, not a peer's.
    """
    _check_version(version)
    if not _SOFTWARE_NAME.fullmatch(software_name):
        raise ValueError(f"NodeInfo software name must match ^[a-z0-9-]+$: {software_name!r}")
    counts = (users_total, active_month, active_halfyear, local_posts)
    if any(count < 0 for count in counts):
        raise ValueError("NodeInfo usage counts must not be negative")
    software: dict[str, str] = {"name": software_name, "version": software_version}
    if version == "2.1":
        if software_repository is not None:
            software["repository"] = software_repository
        if software_homepage is not None:
            software["homepage"] = software_homepage
    return {
        "version": version,
        "software": software,
        "protocols": ["activitypub"],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": open_registrations,
        "usage": {
            "users": {
                "total": users_total,
                "activeMonth": active_month,
                "activeHalfyear": active_halfyear,
            },
            "localPosts": local_posts,
        },
        "metadata": dict(metadata),
    }


def _version_of(rel: str) -> tuple[int, ...] | None:
    if not rel.startswith(SCHEMA_REL_PREFIX):
        return None
    number = rel[len(SCHEMA_REL_PREFIX) :].rstrip("#/")
    try:
        return tuple(int(part) for part in number.split("."))
    except ValueError:
        return None


def parse_well_known(doc: Mapping[str, Any]) -> str:
    """The href of the newest NodeInfo schema a remote ``/.well-known/nodeinfo`` links.

    Raises :class:`NodeInfoError` when it links none.
    """
    links = doc.get("links")
    best: tuple[tuple[int, ...], str] | None = None
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, Mapping):
            continue
        rel, href = link.get("rel"), link.get("href")
        if not isinstance(rel, str) or not isinstance(href, str):
            continue
        found = _version_of(rel)
        if found is not None and (best is None or found > best[0]):
            best = (found, href)
    if best is None:
        raise NodeInfoError("no NodeInfo schema link", reason="nodeinfo-no-link")
    return best[1]


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse(doc: Mapping[str, Any]) -> NodeInfo:
    """Read a remote NodeInfo document of any version, tolerating common deviations.

    Raises :class:`NodeInfoError` only when there is no software name, the one field
    every use of NodeInfo needs.
    """
    software = doc.get("software")
    software = software if isinstance(software, Mapping) else {}
    name = _text(software.get("name"))
    if name is None:
        raise NodeInfoError("NodeInfo without software.name")
    raw_protocols = doc.get("protocols")
    if isinstance(raw_protocols, Mapping):  # NodeInfo 1.x: {"inbound": [...], "outbound": [...]}
        raw_protocols = [
            item
            for direction in ("inbound", "outbound")
            if isinstance(raw_protocols.get(direction), list)
            for item in raw_protocols[direction]
        ]
    protocols: dict[str, None] = {}
    for protocol in raw_protocols if isinstance(raw_protocols, list) else []:
        if isinstance(protocol, str) and protocol.strip():
            protocols.setdefault(protocol.strip().lower(), None)
    usage = doc.get("usage")
    users = usage.get("users") if isinstance(usage, Mapping) else None
    total = users.get("total") if isinstance(users, Mapping) else None
    registrations = doc.get("openRegistrations")
    metadata = doc.get("metadata")
    node_name = metadata.get("nodeName") if isinstance(metadata, Mapping) else None
    version = doc.get("version")
    return NodeInfo(
        version=version if isinstance(version, str) else None,
        software_name=name.lower(),
        software_version=_text(software.get("version")),
        protocols=tuple(protocols),
        open_registrations=registrations if isinstance(registrations, bool) else None,
        users_total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        node_name=_text(node_name),
    )
