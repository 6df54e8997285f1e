"""ActivityStreams 2.0 documents parsed into typed values.

Real senders disagree on shapes (AS2 §2.1 allows a property to be a string, an object
or a list): ``to``/``cc``/``tag`` may be any of the three, Public is written in three
ways, ``@context`` may be absent (Lemmy) and a GoToSocial poll vote carries a *list*
of Notes as its ``object``. Everything here accepts those shapes and turns them into
one canonical value, so the node never looks at raw JSON past its edge.

Parsing never fetches: an object given only by id stays an id, and the node decides
whether to dereference it.

This module is the public API; the rest of the code imports only from here. Behind it:
``protocol.vocab_values`` (the typed values: :class:`Activity`, :class:`ObjectValue`,
:class:`ActorValue`, :class:`TagValue` and the type sets) and
``protocol.vocab_addressing`` (ids, hosts, origins, Public and visibility).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.errors import MalformedActivity
from protocol.limits import clip_profile
from protocol.vocab_addressing import (
    MAPPING_TYPES,
    PUBLIC,
    check_uri,
    host_of,
    id_of,
    ids_of,
    origin_of,
    require_same_origin,
    visibility_of,
)
from protocol.vocab_values import (
    ACTIVITY_TYPES,
    ACTOR_TYPES,
    OBJECT_TYPES,
    Activity,
    ActorValue,
    ObjectValue,
    TagValue,
)

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


def _text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if isinstance(value, str):
        return value
    mapped = doc.get(f"{key}Map")
    if mapped is not None and isinstance(mapped, MAPPING_TYPES):
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


def _tags(value: object) -> tuple[TagValue, ...]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    out: list[TagValue] = []
    for item in items:
        if not isinstance(item, MAPPING_TYPES):
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
    if not isinstance(doc, MAPPING_TYPES):
        raise MalformedActivity("object is not a JSON object")
    object_id = doc.get("id")
    if not isinstance(object_id, str):
        raise MalformedActivity("object has no id")
    check_uri(object_id, "object id")
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
    if not isinstance(doc, MAPPING_TYPES):
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
    check_uri(activity_id, "activity id")
    actor = _first_id(doc.get("actor"))
    if actor is None:
        raise MalformedActivity("activity has no actor")
    check_uri(actor, "actor")
    raw_object = doc.get("object")
    embedded: ObjectValue | Activity | None = None
    objects: tuple[ObjectValue, ...] = ()
    object_id: str | None
    if isinstance(raw_object, list):
        objects = tuple(parse_object(o) for o in raw_object if isinstance(o, MAPPING_TYPES))
        if objects:
            embedded = objects[0]
        object_id = objects[0].id if objects else id_of(raw_object[0] if raw_object else None)
    elif raw_object is not None and isinstance(raw_object, MAPPING_TYPES):
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
        check_uri(object_id, "object id")
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
    check_uri(actor_id, "actor id")
    kind = _type_of(doc)
    inbox = id_of(doc.get("inbox"))
    if inbox is None:
        raise MalformedActivity("actor has no inbox")
    check_uri(inbox, "inbox")
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
