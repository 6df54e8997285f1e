"""Ids, hosts and audiences: the addressing half of ActivityStreams 2.0.

Every part of the node reasons about addresses without parsing a whole document: the
host of an id is the unit of trust for origin checks, blocks and delivery; ``to`` and
``cc`` decide who may see a post. So these helpers live apart from the parsers in
``protocol.vocab``, which use them to check every id they accept.

Real senders disagree on shapes (AS2 §2.1 allows a property to be a string, an object
or a list), and Public is written in three ways (ActivityPub §5.6); what comes out of
here is one canonical form. The public names are re-exported by ``protocol.vocab``;
import them from there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Final
from urllib.parse import SplitResult, urlsplit

from protocol.errors import MalformedActivity, OriginMismatch

__all__ = [
    "MAPPING_TYPES",
    "PUBLIC",
    "check_uri",
    "host_of",
    "id_of",
    "ids_of",
    "origin_of",
    "require_same_origin",
    "visibility_of",
]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})

# isinstance against the abstract Mapping costs ~0.15 µs even for a dict, and a parse
# makes a dozen such tests: a plain dict (what JSON gives) is matched first.
MAPPING_TYPES: Final = (dict, Mapping)

_MAX_ID_LENGTH = 2048
# An id that urlsplit certainly accepts: http(s), a host of letters, digits, dots and
# dashes (so no userinfo, brackets or spaces), an optional port, then the path or the
# end. Every activity carries three or four ids; this skips urlsplit for all of them.
_PLAIN_URL: Final = re.compile(r"https?://([A-Za-z0-9.\-]+)(?::([0-9]*))?(?:[/?#]|\Z)")


def check_uri(value: str, what: str) -> str:
    """Ids are absolute http(s) URLs; anything else cannot be dereferenced or verified."""
    if len(value) > _MAX_ID_LENGTH:
        raise MalformedActivity(f"{what} is longer than {_MAX_ID_LENGTH} characters")
    plain = _PLAIN_URL.match(value)
    if plain is not None and int(plain.group(2) or 0) <= 65535:
        return value
    parts = _split(value, what)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MalformedActivity(f"{what} is not an http(s) URL: {value[:200]!r}")
    if parts.username is not None or parts.password is not None:
        raise MalformedActivity(f"{what} carries user information: {value[:200]!r}")
    return value


def id_of(value: object) -> str | None:
    """The id of a property that may be a bare IRI, an object with ``id`` or a Link."""
    if isinstance(value, str):
        return value
    if value is not None and isinstance(value, MAPPING_TYPES):
        for key in ("id", "href"):
            candidate = value.get(key)
            if isinstance(candidate, str):
                return candidate
    return None


def ids_of(value: object) -> tuple[str, ...]:
    """All ids of a property given as one value or a list; Public is canonicalised."""
    items: Sequence[object]
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        found = id_of(item)
        if found is None:
            continue
        found = PUBLIC if found in _PUBLIC_ALIASES else found
        if found not in out:
            out.append(found)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def host_of(url: str) -> str:
    """Host and port, lowercased: the unit of trust for origin checks and blocks.

    Cached: the same actor and key ids come back on every request from a peer; and
    plain URLs (see ``check_uri``) skip urlsplit, as new object ids miss the cache."""
    plain = _PLAIN_URL.match(url)
    if plain is not None:
        host, port = plain.group(1).lower(), int(plain.group(2) or 0)
        if port <= 65535:  # else the error of _split, below
            return f"{host}:{port}" if port else host
    parts = _split(url, "URL")
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def _split(url: str, what: str) -> SplitResult:
    """``urlsplit``, with what it raises for a broken IPv6 literal or a port out of
    range (ValueError, a 500 wherever a peer's id reaches it) as MalformedActivity."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise MalformedActivity(f"{what} is not a URL: {url[:200]!r} ({exc})") from exc
    return parts


def origin_of(url: str) -> str:
    parts = _split(url, "URL")
    return f"{parts.scheme}://{host_of(url)}"


def require_same_origin(actor: str, other: str, what: str) -> None:
    """An actor may only create, update or delete what lives on its own origin."""
    if host_of(actor) != host_of(other):
        raise OriginMismatch(f"{what} {other} is not on the actor's host {host_of(actor)}")


def visibility_of(to: Sequence[str], cc: Sequence[str], followers: str | None) -> str:
    """Mastodon's four visibilities, from addressing alone."""
    if PUBLIC in to:
        return "public"
    if PUBLIC in cc:
        return "unlisted"
    if followers is not None and (followers in to or followers in cc):
        return "followers"
    return "direct"
