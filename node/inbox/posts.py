"""Create, Update and Delete of posts and actors (ActivityPub §7.2-§7.4)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from node.api.notify import is_poll_vote
from node.context import actor_record
from node.documents import tombstone
from node.inbox.base import CleanMemo, HandlerContext, Refused
from node.jsoncodec import dumps
from protocol.errors import MalformedActivity
from protocol.html import is_hashtag, sanitize
from protocol.keys import KeyFormatError, load_public_pem
from protocol.limits import MAX_POLL_OPTIONS, poll_options
from protocol.vocab import (
    ACTOR_TYPES,
    Activity,
    ObjectValue,
    parse_actor,
    require_same_origin,
    visibility_of,
)
from storage.records import DeleteActor, Op, PutActor, PutKey, PutObject, TombstoneObject

__all__ = ["clean_document", "handle_create", "handle_delete", "handle_update", "object_ops"]


# Each HTML property with its language map (AS2 §4.7: contentMap, summaryMap).
_HTML_KEYS = (("content", "contentMap"), ("summary", "summaryMap"))
_CONTAINERS = (dict, list)
_SCALARS = frozenset({str, int, float, bool, type(None)})


def _clean_html(doc: dict[str, Any]) -> None:
    """Sanitise the HTML fields of one JSON object in place; drop ones that are not text."""
    for key, map_key in _HTML_KEYS:
        value = doc.get(key)
        if value is not None:
            if isinstance(value, str):
                doc[key] = sanitize(value)
            else:
                del doc[key]
        mapped = doc.get(map_key)
        if mapped is not None and isinstance(mapped, dict):
            doc[map_key] = {k: sanitize(v) for k, v in mapped.items() if isinstance(v, str)}


def clean_document(doc: Mapping[str, Any], memo: CleanMemo | None = None) -> dict[str, Any]:
    """A deep copy of ``doc`` with every nested object's HTML sanitised (DESIGN §5:
    remote HTML is sanitised before storage). ``source`` is the author's markup
    (Markdown, MFM) and is not HTML, so it is copied as sent.

    One pass that copies each container and cleans it (a JSON round trip as the copy
    cost as much as the rest of the cleaning); iterative, so depth costs no stack; a
    value's exact type is tested first, so that strings and numbers cost one test.
    With a ``memo``, an object cleaned before in the same request (the object of a
    Create, cleaned for its own row, then met again inside the activity) is taken from
    it instead of being cleaned twice; the copies are then shared: never change them."""
    root = _remembered(doc, memo)
    if root is not None:
        return root
    root = dict(doc)
    if memo is not None:
        memo[id(doc)] = (doc, root)
    pending: list[tuple[dict[str, Any] | list[Any], bool]] = [(root, True)]
    while pending:
        node, clean = pending.pop()
        if type(node) is dict:
            if clean:
                _clean_html(node)
            for key, value in node.items():
                kind = type(value)
                if kind in _SCALARS or not (kind is dict or kind is list
                                            or isinstance(value, _CONTAINERS)):
                    continue
                node[key] = _copy(value, clean and key != "source", memo, pending)
        else:
            for index, value in enumerate(node):
                kind = type(value)
                if kind in _SCALARS or not (kind is dict or kind is list
                                            or isinstance(value, _CONTAINERS)):
                    continue
                node[index] = _copy(value, clean, memo, pending)
    return root


def _remembered(doc: Mapping[str, Any], memo: CleanMemo | None) -> dict[str, Any] | None:
    found = memo.get(id(doc)) if memo is not None else None
    return found[1] if found is not None and found[0] is doc else None


def _copy(value: dict[str, Any] | list[Any], clean: bool, memo: CleanMemo | None,
          pending: list[tuple[dict[str, Any] | list[Any], bool]]) -> dict[str, Any] | list[Any]:
    """The copy (a plain dict or list) of a nested container, queued to be walked (and
    cleaned, with ``clean``) unless the memo has it cleaned already."""
    if isinstance(value, dict):
        if clean and memo is not None:
            done = _remembered(value, memo)
            if done is not None:
                return done
            copy: dict[str, Any] | list[Any] = dict(value)
            memo[id(value)] = (value, copy)
        else:
            copy = dict(value)
    else:
        copy = list(value)
    pending.append((copy, clean))
    return copy


def _clean(obj: ObjectValue, memo: CleanMemo | None) -> dict[str, Any]:
    """The object as we store and show it: remote HTML sanitised once, on the way in.
    A copy of the memo's, which the activity's own document shares."""
    doc = dict(clean_document(obj.raw, memo))
    if doc.get("content") is None:
        doc.pop("content", None)
    if isinstance(doc.get("name"), str):
        doc["name"] = doc["name"][:500]
    return doc


async def object_ops(ctx: HandlerContext, activity: Activity, obj: ObjectValue) -> list[Op]:
    """Store (or replace) a post-like object authored by the activity's actor."""
    node = ctx.node
    require_same_origin(activity.actor, obj.id, "object")
    if poll_options(obj.raw) > MAX_POLL_OPTIONS:
        raise Refused(f"a poll may offer at most {MAX_POLL_OPTIONS} options",
                      reason="too-many-options")
    if obj.attributed_to is not None and obj.attributed_to != activity.actor:
        raise MalformedActivity("object is attributed to someone other than the actor",
                                reason="attribution-mismatch")
    actor = await node.store.get_actor(activity.actor)
    followers = actor.followers if actor is not None else None
    to = obj.to or activity.to
    cc = obj.cc or activity.cc
    return [
        PutObject(
            id=obj.id, type=obj.type, attributed_to=obj.attributed_to or activity.actor,
            in_reply_to=obj.in_reply_to, context=obj.context,
            visibility=visibility_of(to, cc, followers),  # type: ignore[arg-type]
            audience=tuple(dict.fromkeys(to + cc + activity.bto + activity.bcc)),
            local=ctx.local_origin and node.urls.is_local(obj.id),
            document=dumps(_clean(obj, ctx.memo)), published=obj.published,
            created_at=node.now(),
            tags=_hashtags(obj), status=not is_poll_vote(obj),
        )
    ]


def _hashtags(obj: ObjectValue) -> tuple[str, ...]:
    """Hashtag names for tag timelines: lowercased, without '#'."""
    names = (t.name.lstrip("#").lower() for t in obj.tags if t.type == "Hashtag" and t.name)
    return tuple(dict.fromkeys(n[:100] for n in names if is_hashtag(n)))


async def handle_create(ctx: HandlerContext, activity: Activity) -> list[Op]:
    if not activity.objects:
        raise MalformedActivity("Create must embed the object it creates")
    ops: list[Op] = []
    for obj in activity.objects:
        if obj.type in ACTOR_TYPES or obj.type == "Tombstone":
            raise MalformedActivity(f"cannot Create a {obj.type}")
        existing = await ctx.node.store.get_object(obj.id)
        if existing is not None:
            continue  # the same object arrived again under another activity id
        ops.extend(await object_ops(ctx, activity, obj))
    return ops


async def handle_update(ctx: HandlerContext, activity: Activity) -> list[Op]:
    node = ctx.node
    raw = activity.raw.get("object")
    if isinstance(raw, dict) and raw.get("type") in ACTOR_TYPES:
        actor = parse_actor(raw)
        if actor.id != activity.actor:
            raise Refused("an actor may only update itself", reason="not-self", status=403)
        ops: list[Op] = [PutActor(actor=actor_record(actor, local=ctx.local_origin,
                                                     now=node.now()))]
        if actor.public_key_id and actor.public_key_pem:
            require_same_origin(actor.id, actor.public_key_id, "key")
            try:
                load_public_pem(actor.public_key_pem)
            except KeyFormatError as exc:
                # Stored, it would break every later verification of this key.
                raise MalformedActivity(f"the updated actor's key is unusable: {exc}",
                                        reason="key-malformed") from exc
            # Committing the PutKey drops the old key from the node's cache (node/caches.py).
            ops.append(PutKey(key_id=actor.public_key_id, owner=actor.id,
                              pem=actor.public_key_pem, fetched_at=node.now()))
        return ops
    obj = activity.object
    if not isinstance(obj, ObjectValue):
        _from_its_host(activity)
        return []  # Update of something we do not keep (a collection, a link)
    existing = await node.store.get_object(obj.id)
    if existing is None:
        _from_its_host(activity)
        return []  # Mastodon ignores updates of statuses it never saw
    if existing.attributed_to != activity.actor:
        raise Refused("only the author may update an object", reason="not-author", status=403)
    return await object_ops(ctx, activity, obj)


def _from_its_host(activity: Activity) -> None:
    """An ignored Update is still accepted, and so stored with its embedded copy: it
    must come from the object's own host, or anyone could plant an "edit" of another
    host's post (a held post is guarded by its author; an unknown one only by this)."""
    if activity.object_id is not None:
        require_same_origin(activity.actor, activity.object_id, "updated object")


async def handle_delete(ctx: HandlerContext, activity: Activity) -> list[Op]:
    node = ctx.node
    target = activity.object_id
    if target is None:
        raise MalformedActivity("Delete has no object")
    if target == activity.actor:
        if ctx.local_origin:
            raise Refused("local accounts are removed by an admin", reason="not-supported")
        return [DeleteActor(id=target)]
    require_same_origin(activity.actor, target, "deleted object")
    existing = await node.store.get_object(target)
    if existing is None or existing.deleted_at is not None:
        return []
    if existing.attributed_to != activity.actor:
        raise Refused("only the author may delete an object", reason="not-author", status=403)
    doc = tombstone(target, existing.type, node.now())
    return [TombstoneObject(id=target, document=json.dumps(doc), deleted_at=node.now())]
