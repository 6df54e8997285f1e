"""WebFinger (RFC 7033) and host-meta (RFC 6415) documents, and their parsing.

Fediverse software finds an actor from ``name@host`` by asking
``/.well-known/webfinger?resource=acct:name@host`` (acct URI, RFC 7565) and following the
``self`` link typed ``application/activity+json``. We serve exactly the JRD Mastodon serves
(``app/serializers/webfinger_serializer.rb``) because some clients and servers expect its
shape, and we read what every implementation in the wild sends.

Errors::

    ProtocolError
    └── WebFingerError      unparsable resource, or a JRD without an ActivityPub self link
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import quoteattr

from protocol.errors import ProtocolError

__all__ = [
    "ACTIVITY_JSON",
    "PROFILE_PAGE_REL",
    "SUBSCRIBE_REL",
    "WebFingerError",
    "acct_parts",
    "build_jrd",
    "host_meta_xml",
    "parse_jrd",
    "parse_resource",
]

ACTIVITY_JSON: Final = "application/activity+json"
PROFILE_PAGE_REL: Final = "http://webfinger.net/rel/profile-page"
SUBSCRIBE_REL: Final = "http://ostatus.org/schema/1.0/subscribe"
_AS_PROFILE: Final = "https://www.w3.org/ns/activitystreams"

# A DNS name (IDN allowed) or a bracketed IPv6 literal, with an optional port.
_HOST: Final = re.compile(r"^(?:\[[0-9a-f:.]+\]|[\w-]+(?:\.[\w-]+)*)(?::(\d{1,5}))?$", re.I)
_NAME: Final = re.compile(r"^[^\s/@?#:]+$")
# Where actor URLs keep the name (ours: /users/<name>, /groups/<name>; profile: /@<name>).
_DEFAULT_ACTOR_PREFIXES: Final = ("/users/", "/groups/", "/@")


class WebFingerError(ProtocolError):
    """A resource we cannot parse (answer 400, RFC 7033 §4.2), or a JRD that names no
    ActivityPub actor."""

    reason = "webfinger"


def _split_host(host: str) -> tuple[str, int | None]:
    match = _HOST.match(host)
    if match is None:
        raise WebFingerError(f"not a host: {host!r}", reason="webfinger-bad-host")
    port = match.group(1)
    name = host[: -len(port) - 1] if port else host
    return name.lower().rstrip("."), int(port) if port else None


def acct_parts(acct: str) -> tuple[str, str]:
    """Split ``name@host[:port]`` (optionally ``acct:``- or ``@``-prefixed).

    Returns the name as written and the host lowercased (hosts are case-insensitive,
    RFC 3986 §3.2.2). Raises :class:`WebFingerError` for anything else.
    """
    text = acct.strip()
    if text[:5].lower() == "acct:":
        text = unquote(text[5:])  # RFC 7565 §7: the userpart may be percent-encoded
    text = text.removeprefix("@")
    name, sep, host = text.partition("@")
    if not sep or not _NAME.match(name) or "@" in host:
        raise WebFingerError(f"not an acct: {acct!r}", reason="webfinger-bad-resource")
    _split_host(host)
    return name, host.lower()


def _same_host(host: str, local_host: str) -> bool:
    return _split_host(host) == _split_host(local_host)


def parse_resource(
    resource: str,
    *,
    local_host: str,
    actor_path_prefixes: Sequence[str] = _DEFAULT_ACTOR_PREFIXES,
) -> str | None:
    """The local name a WebFinger ``resource`` asks about, or None if it is not ours.

    Accepts ``acct:name@host``, ``name@host``, ``@name@host`` and http(s) URLs of our
    actors or profiles (RFC 7033 §4.5 lets a client ask for any URI). Hosts compare
    case-insensitively and with their port, so nodes on one loopback address with
    different ports are told apart. The name is returned as written; look it up
    case-insensitively as Mastodon does. Raises :class:`WebFingerError` when the
    resource is not parsable at all.
    """
    text = resource.strip()
    if text.lower().startswith(("http://", "https://")):
        parts = urlsplit(text)
        if not parts.netloc or not _same_host(parts.netloc, local_host):
            return None
        path = unquote(parts.path).rstrip("/")
        for prefix in actor_path_prefixes:
            if path.startswith(prefix):
                name = path[len(prefix) :]
                return name if _NAME.match(name) else None
        return None
    name, host = acct_parts(text)
    return name if _same_host(host, local_host) else None


def build_jrd(
    *,
    username: str,
    host: str,
    actor_url: str,
    profile_url: str,
    subscribe_template: str | None = None,
) -> dict[str, Any]:
    """The JRD (RFC 7033 §4.4) for one local actor, in Mastodon's shape.

    ``subscribe_template`` (OStatus remote follow, e.g.
    ``https://host/authorize_interaction?uri={uri}``) is added when given.
    """
    links: list[dict[str, str]] = [
        {"rel": PROFILE_PAGE_REL, "type": "text/html", "href": profile_url},
        {"rel": "self", "type": ACTIVITY_JSON, "href": actor_url},
    ]
    if subscribe_template is not None:
        links.append({"rel": SUBSCRIBE_REL, "template": subscribe_template})
    return {
        "subject": f"acct:{username}@{host}",
        "aliases": [profile_url, actor_url],
        "links": links,
    }


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    essence, *params = value.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        key, _, raw = param.partition("=")
        parsed[key.strip().lower()] = raw.strip().strip('"')
    return essence.strip().lower(), parsed


def _is_activitypub(media_type: str, *, strict_json: bool) -> bool:
    essence, params = _media_type(media_type)
    if strict_json:
        return essence == ACTIVITY_JSON
    return essence == "application/ld+json" and _AS_PROFILE in params.get("profile", "").split()


def parse_jrd(doc: Mapping[str, Any]) -> str:
    """The actor URL a JRD points to: the ``self`` link typed ``application/activity+json``,
    else one typed ``application/ld+json; profile="https://www.w3.org/ns/activitystreams"``
    (ActivityPub §3.2 names both). Raises :class:`WebFingerError` when there is none."""
    links = doc.get("links")
    if not isinstance(links, list):
        raise WebFingerError("JRD has no links", reason="webfinger-no-self")
    candidates = [
        link
        for link in links
        if isinstance(link, Mapping)
        and link.get("rel") == "self"
        and isinstance(link.get("type"), str)
        and isinstance(link.get("href"), str)
        and link["href"].lower().startswith(("https://", "http://"))
    ]
    for strict in (True, False):
        for link in candidates:
            if _is_activitypub(link["type"], strict_json=strict):
                href: str = link["href"]
                return href
    raise WebFingerError("JRD has no ActivityPub self link", reason="webfinger-no-self")


def host_meta_xml(base_url: str) -> str:
    """The host-meta XRD (RFC 6415 §3) pointing ``lrdd`` at our WebFinger endpoint, as
    Mastodon serves it; some older software finds WebFinger only this way."""
    template = f"{base_url.rstrip('/')}/.well-known/webfinger?resource={{uri}}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={quoteattr(template)}/>\n'
        "</XRD>\n"
    )
