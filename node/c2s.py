"""ActivityPub client-to-server posting (AP §6): what a member POSTs to their outbox.

The client may send an activity or a bare object (wrapped in a Create, AP §6.2.1). The
server mints every id, sets the actor, and fills in addressing the way Mastodon's
public posts are addressed when the client gave none. Plain-text content is rendered
like a Mastodon status: paragraphs, links, @mentions (resolved with WebFinger) and
#hashtags.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.context import Node
from node.fetcher import FetchError
from node.inbox.base import Refused
from node.jsoncodec import loads
from protocol import webfinger
from protocol.errors import MalformedActivity, ProtocolError
from protocol.html import extract_mentions, render_plain, sanitize
from protocol.keys import load_private_pem
from protocol.proofs import sign_proof
from protocol.vocab import ACTIVITY_TYPES, PUBLIC, id_of, ids_of
from storage.records import AccountRecord

__all__ = ["ballot_activity", "build_activity", "resolve_acct"]

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
POST_TYPES = frozenset({"Note", "Article", "Question"})
CLIENT_ACTIVITIES = frozenset(
    {"Create", "Update", "Delete", "Follow", "Accept", "Reject", "Undo", "Like", "Announce",
     "Block", "Add", "Remove"})
_HAS_TAGS = re.compile(r"<[a-zA-Z][^>]*>")
_MAX_CONTENT = 100_000


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def resolve_acct(node: Node, acct: str) -> str | None:
    """Actor URL for ``name`` (local) or ``name@host`` via WebFinger, or None."""
    name, _, host = acct.partition("@")
    if not host or host.lower() == node.urls.host:
        account = await node.store.get_account(name)
        return account.actor_id if account else None
    scheme = "http" if node.config.allow_private_addresses else "https"
    url = f"{scheme}://{host}/.well-known/webfinger?resource=acct:{acct}"
    try:
        jrd = await node.fetcher.get_json(url, accept="application/jrd+json, application/json")
        return webfinger.parse_jrd(jrd)
    except (FetchError, ProtocolError):
        return None


async def _object(node: Node, account: AccountRecord, raw: dict[str, Any]) -> dict[str, Any]:
    kind = raw.get("type")
    if kind not in POST_TYPES:
        raise MalformedActivity(f"cannot post an object of type {kind!r}")
    content = raw.get("content", "")
    if not isinstance(content, str) or len(content) > _MAX_CONTENT:
        raise MalformedActivity("content must be a string of at most 100,000 characters")
    obj: dict[str, Any] = {k: v for k, v in raw.items()
                           if k in ("type", "name", "summary", "inReplyTo", "sensitive",
                                    "to", "cc", "bto", "bcc", "audience", "oneOf", "anyOf",
                                    "endTime", "context", "decisionRule", "quorum",
                                    "threshold", "action")}
    obj_id = node.urls.new_object()
    obj.update(id=obj_id, attributedTo=account.actor_id, published=_now(), url=obj_id)
    tags: list[dict[str, Any]] = []
    mentioned: list[str] = []
    summary = obj.get("summary")
    if summary is not None and not isinstance(summary, str):
        del obj["summary"]
    elif summary and _HAS_TAGS.search(summary):
        # AS2 summary is HTML: sanitised like content, since the activity that carries
        # it is stored, served and delivered as the member sent it.
        obj["summary"] = sanitize(summary)
    # Content with tags is HTML, unless the client says it is plain text (AS2
    # ``mediaType``), as the client API does: Mastodon's ``status`` is always text.
    if raw.get("mediaType") != "text/plain" and _HAS_TAGS.search(content):
        obj["content"] = sanitize(content)
    else:
        resolved: dict[str, str] = {}
        for acct in extract_mentions(content):
            actor_id = await resolve_acct(node, acct)
            if actor_id is not None:
                resolved[acct] = actor_id
        rendered = render_plain(content, mention_resolver=resolved,
                                tag_base_url=node.urls.tag(""))
        obj["content"] = rendered.html
        obj["source"] = {"content": content, "mediaType": "text/plain"}
        for acct in rendered.mentions:
            if acct in resolved:
                tags.append({"type": "Mention", "href": resolved[acct], "name": f"@{acct}"})
                mentioned.append(resolved[acct])
        tags.extend({"type": "Hashtag", "href": node.urls.tag(t), "name": f"#{t}"}
                    for t in rendered.tags)
    if tags:
        obj["tag"] = tags
    if "to" not in raw and "cc" not in raw:
        obj["to"] = [PUBLIC]
        obj["cc"] = [node.urls.followers(account.actor_id)]
    obj["cc"] = list(dict.fromkeys([*ids_of(obj.get("cc")), *mentioned]))
    obj["to"] = list(ids_of(obj.get("to")))
    if raw.get("inReplyTo") is not None:
        parent = id_of(raw["inReplyTo"])
        if parent is None:
            raise MalformedActivity("inReplyTo must be an id")
        obj["inReplyTo"] = parent
        context = await _thread_context(node, parent)
        if context is not None:
            obj.setdefault("context", context)
    else:
        obj.setdefault("context", f"{obj_id}#context")
    return obj


async def _thread_context(node: Node, parent: str) -> str | None:
    """The thread a reply joins: its parent's context when the parent named one (we do
    not mint ids on someone else's host)."""
    record = await node.store.get_object(parent)
    return record.context if record is not None else None


def _is_ballot(raw: dict[str, Any]) -> bool:
    """A vote: a Note with a name, in reply to a poll, and no text (Mastodon's shape)."""
    return (raw.get("type") == "Note" and isinstance(raw.get("name"), str)
            and raw.get("inReplyTo") is not None and not raw.get("content"))


async def _ballot(node: Node, account: AccountRecord, raw: dict[str, Any]) -> dict[str, Any]:
    question = id_of(raw["inReplyTo"])
    if question is None:
        raise MalformedActivity("inReplyTo must be the proposal's id")
    ranking = raw.get("ranking")
    return await ballot_activity(node, account, question, [raw["name"]],
                                 ranking=ranking if isinstance(ranking, list) else None)


async def ballot_activity(node: Node, account: AccountRecord, question: str,
                          choices: list[str], *, ranking: list[Any] | None = None
                          ) -> dict[str, Any]:
    """A Mutual ballot: addressed to the proposal's group, signed by the voter's key
    (FEP-8b32), so that it is ``voter-signed`` in the group's ledger. Several choices
    (an approval vote) are one Create of several Notes, signed together; the client
    API sends a plain poll's votes this way too, one choice per ballot, as Mastodon
    sends them."""
    record = await node.store.get_object(question)
    if record is None or record.attributed_to is None:
        raise Refused("unknown proposal", reason="no-such-proposal", status=404)
    group = record.attributed_to
    notes: list[dict[str, Any]] = []
    for name in choices:
        note: dict[str, Any] = {"id": f"{account.actor_id}#votes/{uuid.uuid4()}",
                                "type": "Note", "name": name, "inReplyTo": question,
                                "attributedTo": account.actor_id, "to": [group]}
        if ranking is not None:
            note["ranking"] = [r for r in ranking if isinstance(r, str)]
        notes.append(note)
    doc: dict[str, Any] = {"@context": AS_CONTEXT, "id": node.urls.new_activity(),
                           "type": "Create", "actor": account.actor_id, "published": _now(),
                           "object": notes[0] if len(notes) == 1 else notes, "to": [group]}
    key = load_private_pem(account.ed25519_private_pem)
    assert isinstance(key, Ed25519PrivateKey)
    return sign_proof(doc, private_key=key, verification_method=node.urls.ed25519_key_id(
        account.actor_id), created=datetime.now(UTC))


async def build_activity(node: Node, account: AccountRecord, raw: Any) -> dict[str, Any]:
    """The full activity to publish for what the client sent."""
    if not isinstance(raw, dict):
        raise MalformedActivity("body must be a JSON object")
    inner = raw.get("object") if raw.get("type") == "Create" else raw
    if isinstance(inner, dict) and _is_ballot(inner):
        return await _ballot(node, account, inner)
    kind = raw.get("type")
    if kind in POST_TYPES:
        raw = {"type": "Create", "object": raw}
        kind = "Create"
    if kind not in CLIENT_ACTIVITIES:
        known = kind in ACTIVITY_TYPES
        raise MalformedActivity(
            f"{kind!r} cannot be posted by a client" if known else f"unknown type {kind!r}")
    doc: dict[str, Any] = {"@context": AS_CONTEXT, "id": node.urls.new_activity(),
                           "type": kind, "actor": account.actor_id, "published": _now()}
    if kind in ("Create", "Update") and isinstance(raw.get("object"), dict):
        if kind == "Update":
            doc["object"] = await _update_object(node, account, raw["object"])
        else:
            doc["object"] = await _object(node, account, raw["object"])
        for key in ("to", "cc", "bto", "bcc"):
            if key in doc["object"]:
                doc[key] = doc["object"][key]
        doc["object"] = {k: v for k, v in doc["object"].items() if k not in ("bto", "bcc")}
        return doc
    target = id_of(raw.get("object"))
    if target is None:
        raise MalformedActivity(f"{kind} needs an object")
    doc["object"] = raw["object"] if isinstance(raw.get("object"), dict) else target
    if id_of(raw.get("target")) is not None:
        doc["target"] = id_of(raw.get("target"))  # Add/Remove: the collection changed
    if id_of(raw.get("audience")) is not None:
        doc["audience"] = id_of(raw.get("audience"))
    await _address(node, account, doc, raw, target)
    return doc


async def _update_object(node: Node, account: AccountRecord, raw: dict[str, Any]
                         ) -> dict[str, Any]:
    target = id_of(raw)
    record = await node.store.get_object(target) if target else None
    if record is None or record.attributed_to != account.actor_id or record.deleted_at:
        raise Refused("you can only update your own posts", reason="not-author", status=403)
    # Read with node/jsoncodec.py, as every document the handlers store is: a NaN the
    # post holds is then written back as NaN, not as null.
    current: dict[str, Any] = loads(record.document)
    if isinstance(raw.get("content"), str):
        current["content"] = sanitize(raw["content"])
    if isinstance(raw.get("summary"), str):
        current["summary"] = sanitize(raw["summary"])
    current["updated"] = _now()
    return current


async def _address(node: Node, account: AccountRecord, doc: dict[str, Any],
                   raw: dict[str, Any], target: str) -> None:
    """Default audiences, as Mastodon addresses the same actions."""
    if "to" in raw or "cc" in raw:
        doc["to"] = list(ids_of(raw.get("to")))
        doc["cc"] = list(ids_of(raw.get("cc")))
        return
    kind = doc["type"]
    followers = node.urls.followers(account.actor_id)
    if kind in ("Follow", "Block"):
        doc["to"] = [target]
    elif kind in ("Accept", "Reject"):
        found = await node.store.get_activity(target)
        doc["to"] = [found.actor] if found else []
    elif kind in ("Like", "Announce"):
        author = await _author_of(node, target)
        doc["to"] = [PUBLIC] if kind == "Announce" else ([author] if author else [])
        doc["cc"] = [c for c in (followers if kind == "Announce" else None, author) if c]
    elif kind in ("Undo", "Delete"):
        found = await node.store.get_activity(target)
        if kind == "Undo":
            if found is None or found.actor != account.actor_id:
                raise Refused("you can only undo your own activities", reason="not-own-activity",
                              status=403)
            doc["to"] = list(found.audience) or [PUBLIC]
            return
        record = await node.store.get_object(target)
        if record is not None and record.attributed_to != account.actor_id:
            # A moderator removing a post from their group: the group carries it out.
            group = await _moderated_group(node, account, record.audience)
            if group is not None:
                doc["to"] = [group]
                doc["audience"] = group
                return
        if record is None or record.attributed_to != account.actor_id:
            raise Refused("you can only delete your own posts", reason="not-author", status=403)
        if record.visibility in ("followers", "direct"):
            # A private post's deletion goes only to those who could see the post, so
            # it does not tell everyone else that the post existed.
            doc["to"] = list(record.audience)
            doc["cc"] = []
        else:
            doc["to"] = [PUBLIC]
            doc["cc"] = list(dict.fromkeys([followers, *record.audience]))


async def _author_of(node: Node, object_id: str) -> str | None:
    record = await node.store.get_object(object_id)
    if record is not None:
        return record.attributed_to
    try:
        fetched = await node.fetcher.get_json(object_id)
    except FetchError:
        return None
    author = id_of(fetched.get("attributedTo")) if isinstance(fetched, dict) else None
    return author


async def _moderated_group(node: Node, account: AccountRecord, audience: tuple[str, ...]
                           ) -> str | None:
    """The local group among ``audience`` that ``account`` moderates, if any."""
    from node.governance.common import MODERATOR

    for target in audience:
        if (node.urls.is_local(target) and "/groups/" in target
                and account.actor_id in await node.store.group_roles(target, MODERATOR)):
            return target
    return None
