"""ActivityStreams 2.0 documents parsed into typed values.

Real senders disagree on shapes (AS2 §2.1 allows a property to be a string, an object
or a list): ``to``/``cc``/``tag`` may be any of the three, Public is written in three
ways, ``@context`` may be absent (Lemmy) and a GoToSocial poll vote carries a *list*
of Notes as its ``object``. Everything here accepts those shapes and turns them into
one canonical value, so the node never looks at raw JSON past its edge.

Parsing never fetches: an object given only by id stays an id, and the node decides
whether to dereference it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

from protocol.errors import MalformedActivity, OriginMismatch
from protocol.limits import clip_profile

__all__ = [
    "ACTIVITY_TYPES",
    "ACTOR_TYPES",
    "OBJECT_TYPES",
    "PUBLIC",
    "Activity",
    "ActorValue",
    "ObjectValue",
    "TagValue",
    "host_of",
    "id_of",
    "ids_of",
    "origin_of",
    "parse_activity",
    "parse_actor",
    "parse_key_document",
    "parse_object",
    "require_same_origin",
    "visibility_of",
]

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_PUBLIC_ALIASES = frozenset({PUBLIC, "as:Public", "Public"})

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
OBJECT_TYPES = frozenset(
    {"Note", "Article", "Page", "Question", "Tombstone", "Image", "Video", "Event", "Audio"}
)
ACTIVITY_TYPES = frozenset(
    {
        "Create", "Update", "Delete", "Follow", "Accept", "Reject", "Undo", "Like",
        "Dislike", "Announce", "Add", "Remove", "Block", "Flag", "Move", "EmojiReact",
    }
)

# isinstance against the abstract Mapping costs ~0.15 µs even for a dict, and a parse
# makes a dozen such tests: a plain dict (what JSON gives) is matched first.
_MAPPING: Final = (dict, Mapping)

_MAX_ID_LENGTH = 2048
# An id that urlsplit certainly accepts: http(s), a host of letters, digits, dots and
# dashes (so no userinfo, brackets or spaces), an optional port, then the path or the
# end. Every activity carries three or four ids; this skips urlsplit for all of them.
_PLAIN_URL: Final = re.compile(r"https?://([A-Za-z0-9.\-]+)(?::([0-9]*))?(?:[/?#]|\Z)")


def _check_uri(value: str, what: str) -> str:
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
    if value is not None and isinstance(value, _MAPPING):
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
    plain URLs (see ``_check_uri``) skip urlsplit, as new object ids miss the cache."""
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


def _text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if isinstance(value, str):
        return value
    mapped = doc.get(f"{key}Map")
    if mapped is not None and isinstance(mapped, _MAPPING):
        for text in mapped.values():
            if isinstance(text, str):
                return text
    return None


def _type_of(doc: Mapping[str, Any]) -> str:
    kind = doc.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if isinstance(k, str)), None)
    if not isinstance(kind, str) or not kind:
        raise MalformedActivity("document has no type")
    return kind


@dataclass(frozen=True, slots=True, kw_only=True)
class TagValue:
    type: str
    name: str | None
    href: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectValue:
    """A post-like object (Note, Article, Page, Question, Tombstone...)."""

    id: str
    type: str
    attributed_to: str | None
    content: str
    summary: str | None
    name: str | None
    in_reply_to: str | None
    context: str | None
    published: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    audience: str | None
    tags: tuple[TagValue, ...]
    sensitive: bool
    url: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.to + self.cc))

    @property
    def mentions(self) -> tuple[str, ...]:
        return tuple(t.href for t in self.tags if t.type == "Mention" and t.href)


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    id: str
    type: str
    actor: str
    object_id: str | None
    # The embedded object when the sender inlined one; the node treats it as a claim
    # that may need to be checked against its origin (DESIGN §5).
    object: ObjectValue | Activity | None
    # GoToSocial sends a multi-choice poll vote as one Create whose object is a list.
    objects: tuple[ObjectValue, ...]
    target: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bto: tuple[str, ...]
    bcc: tuple[str, ...]
    audience: str | None
    published: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.to + self.cc + self.bto + self.bcc))


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorValue:
    id: str
    type: str
    preferred_username: str | None
    name: str | None
    summary: str | None
    inbox: str
    outbox: str | None
    shared_inbox: str | None
    followers: str | None
    following: str | None
    public_key_id: str | None
    public_key_pem: str | None
    manually_approves_followers: bool
    url: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def delivery_inbox(self) -> str:
        """Where to send what goes to many of this host's actors at once."""
        return self.shared_inbox or self.inbox


def _tags(value: object) -> tuple[TagValue, ...]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    out: list[TagValue] = []
    for item in items:
        if not isinstance(item, _MAPPING):
            continue
        kind = item.get("type")
        name = item.get("name")
        href = id_of(item.get("href"))
        out.append(
            TagValue(
                type=kind if isinstance(kind, str) else "Link",
                name=name if isinstance(name, str) else None,
                href=href,
            )
        )
    return tuple(out)


def parse_object(doc: Mapping[str, Any]) -> ObjectValue:
    """Parse a post-like object; raises MalformedActivity on a shape we cannot use."""
    if not isinstance(doc, _MAPPING):
        raise MalformedActivity("object is not a JSON object")
    object_id = doc.get("id")
    if not isinstance(object_id, str):
        raise MalformedActivity("object has no id")
    _check_uri(object_id, "object id")
    kind = _type_of(doc)
    content = _text(doc, "content") or ""
    context = doc.get("context", doc.get("conversation"))
    in_reply_to = id_of(doc.get("inReplyTo"))
    audience = id_of(doc.get("audience"))
    url = doc.get("url")
    return ObjectValue(
        id=object_id,
        type=kind,
        attributed_to=_first_id(doc.get("attributedTo")),
        content=content,
        summary=_text(doc, "summary"),
        name=_text(doc, "name"),
        in_reply_to=in_reply_to,
        context=id_of(context),
        published=doc.get("published") if isinstance(doc.get("published"), str) else None,
        to=ids_of(doc.get("to")),
        cc=ids_of(doc.get("cc")),
        audience=audience,
        tags=_tags(doc.get("tag")),
        sensitive=doc.get("sensitive") is True,
        url=id_of(url[0] if isinstance(url, list) and url else url),
        raw=doc,
    )


def _first_id(value: object) -> str | None:
    """attributedTo may be a list (Lemmy/PeerTube put the Group beside the Person)."""
    if isinstance(value, list):
        people = [v for v in value if not (isinstance(v, Mapping) and v.get("type") == "Group")]
        value = (people or value or [None])[0]
    return id_of(value)


def parse_activity(doc: object) -> Activity:
    """Parse an incoming activity (AS2 §3.1 shapes).

    The activity id and actor must be http(s) URLs; an embedded object is parsed too,
    recursively for Undo/Announce of activities. The one activity accepted without an
    id is a Delete (GoToSocial's); it gets ``<object>#delete``.
    """
    if not isinstance(doc, _MAPPING):
        raise MalformedActivity("activity is not a JSON object")
    kind = _type_of(doc)
    activity_id = doc.get("id")
    if activity_id is None and kind == "Delete" and isinstance(id_of(doc.get("object")), str):
        # GoToSocial sends Delete without an id (docs/federation/posts.md, "Post Deletes").
        # A Delete is idempotent, so it is keyed by what it deletes, in the form
        # Mastodon gives its own Delete ids.
        activity_id = f"{id_of(doc.get('object'))}#delete"
        doc = {**doc, "id": activity_id}
    if not isinstance(activity_id, str):
        raise MalformedActivity("activity has no id")
    _check_uri(activity_id, "activity id")
    actor = _first_id(doc.get("actor"))
    if actor is None:
        raise MalformedActivity("activity has no actor")
    _check_uri(actor, "actor")
    raw_object = doc.get("object")
    embedded: ObjectValue | Activity | None = None
    objects: tuple[ObjectValue, ...] = ()
    object_id: str | None
    if isinstance(raw_object, list):
        objects = tuple(parse_object(o) for o in raw_object if isinstance(o, _MAPPING))
        if objects:
            embedded = objects[0]
        object_id = objects[0].id if objects else id_of(raw_object[0] if raw_object else None)
    elif raw_object is not None and isinstance(raw_object, _MAPPING):
        object_id = id_of(raw_object)
        if "type" in raw_object and "id" in raw_object:
            embedded = (
                parse_activity(raw_object)
                if _type_of(raw_object) in ACTIVITY_TYPES and "actor" in raw_object
                else parse_object(raw_object)
            )
            if isinstance(embedded, ObjectValue):
                objects = (embedded,)
    else:
        object_id = id_of(raw_object)
    if kind == "Create" and embedded is None:
        raise MalformedActivity("Create must embed the object it creates")
    if object_id is not None:
        _check_uri(object_id, "object id")
    return Activity(
        id=activity_id,
        type=kind,
        actor=actor,
        object_id=object_id,
        object=embedded,
        objects=objects,
        target=id_of(doc.get("target")),
        to=ids_of(doc.get("to")),
        cc=ids_of(doc.get("cc")),
        bto=ids_of(doc.get("bto")),
        bcc=ids_of(doc.get("bcc")),
        audience=id_of(doc.get("audience")),
        published=doc.get("published") if isinstance(doc.get("published"), str) else None,
        raw=doc,
    )


def parse_actor(doc: object) -> ActorValue:
    """Parse an actor document as served by any implementation in our corpus."""
    if not isinstance(doc, Mapping):
        raise MalformedActivity("actor document is not a JSON object")
    doc = clip_profile(doc)  # a megabyte-long name is kept at the hard limit (limits.py)
    actor_id = doc.get("id")
    if not isinstance(actor_id, str):
        raise MalformedActivity("actor has no id")
    _check_uri(actor_id, "actor id")
    kind = _type_of(doc)
    inbox = id_of(doc.get("inbox"))
    if inbox is None:
        raise MalformedActivity("actor has no inbox")
    _check_uri(inbox, "inbox")
    endpoints = doc.get("endpoints")
    shared = id_of(endpoints.get("sharedInbox")) if isinstance(endpoints, Mapping) else None
    key = doc.get("publicKey")
    if isinstance(key, list):
        key = next((k for k in key if isinstance(k, Mapping)), None)
    key_id = key.get("id") if isinstance(key, Mapping) else None
    key_pem = key.get("publicKeyPem") if isinstance(key, Mapping) else None
    username = doc.get("preferredUsername")
    return ActorValue(
        id=actor_id,
        type=kind,
        preferred_username=username if isinstance(username, str) else None,
        name=_text(doc, "name"),
        summary=_text(doc, "summary"),
        inbox=inbox,
        outbox=id_of(doc.get("outbox")),
        shared_inbox=shared,
        followers=id_of(doc.get("followers")),
        following=id_of(doc.get("following")),
        public_key_id=key_id if isinstance(key_id, str) else None,
        public_key_pem=key_pem if isinstance(key_pem, str) else None,
        manually_approves_followers=doc.get("manuallyApprovesFollowers") is True,
        url=id_of(doc.get("url")),
        raw=doc,
    )


def parse_key_document(doc: object, key_id: str) -> tuple[str, str]:
    """(owner, PEM) for ``key_id`` from what its URL served.

    Mastodon serves the whole actor at ``actor#main-key``; others serve a bare key
    object with ``owner``. The owner must be on the key's host, or a key on one host
    could speak for actors on another.
    """
    if not isinstance(doc, Mapping):
        raise MalformedActivity("key document is not a JSON object")
    candidates: list[Mapping[str, Any]] = []
    if "publicKeyPem" in doc:
        candidates.append(doc)
    key = doc.get("publicKey")
    for item in key if isinstance(key, list) else [key]:
        if isinstance(item, Mapping):
            candidates.append(item)
    for item in candidates:
        # Only the key asked for (Mastodon: publicKey.id == keyId): a key URL that
        # answers with another actor's key must not get it filed under this key id.
        if item.get("id") != key_id:
            continue
        pem = item.get("publicKeyPem")
        owner = id_of(item.get("owner")) or id_of(item.get("controller")) or doc.get("id")
        if isinstance(pem, str) and isinstance(owner, str):
            require_same_origin(key_id, owner, "key owner")
            return owner, pem
    raise MalformedActivity(f"no public key {key_id} in the document served for it")


def visibility_of(to: Sequence[str], cc: Sequence[str], followers: str | None) -> str:
    """Mastodon's four visibilities, from addressing alone."""
    if PUBLIC in to:
        return "public"
    if PUBLIC in cc:
        return "unlisted"
    if followers is not None and (followers in to or followers in cc):
        return "followers"
    return "direct"
