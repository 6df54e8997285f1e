"""POST /api/v1/statuses: Mastodon's parameters turned into the same C2S post a member
could send to their outbox, then built and published exactly as C2S posts are
(node/c2s.build_activity, node/outbox.prepare), so it renders, mentions, addresses,
federates and feeds groups the same way.

Visibility becomes AS2 addressing as Mastodon addresses it: public (to Public, cc
followers), unlisted (to followers, cc Public), private (to followers) and direct
(only the mentioned). A post that mentions a group is addressed to it (FEP-1b12
``audience``); with a poll, the group opens it as a proposal (DESIGN §3), and the
status answered is the group's proposal.

``Idempotency-Key`` is honoured for an hour, as Mastodon does, also when the same key
arrives twice at once: in one process the twin waits for the first, and across the
processes of a scaled-out node the key is claimed in the same write as the post.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from html import escape
from typing import Any

from node.api import limits
from node.api.http import not_found, parse_id, refusals_as_api_errors
from node.api.params import ApiError, Params
from node.c2s import build_activity
from node.context import Node
from node.outbox import prepare, publish
from protocol.vocab import PUBLIC
from storage.api import PutIdempotency
from storage.records import AccountRecord, Op
from storage.store import AlreadyExists

__all__ = ["create_status", "send"]

_IDEMPOTENCY_SECONDS = 3600.0
_VISIBILITIES = ("public", "unlisted", "private", "direct")
_inflight: dict[tuple[str, str], asyncio.Future[str]] = {}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _poll(params: Params, now: float) -> dict[str, Any] | None:
    poll = params.nested("poll")
    options = poll.list("options")
    if not options and "expires_in" not in poll:
        return None
    if not 2 <= len(options) <= limits.POLL_MAX_OPTIONS:
        raise ApiError(422, f"Validation failed: a poll needs 2 to {limits.POLL_MAX_OPTIONS}"
                            " options")
    names = [o.strip() for o in options]
    if any(not n or len(n) > limits.POLL_MAX_CHARACTERS_PER_OPTION for n in names):
        raise ApiError(422, "Validation failed: poll options must have 1 to"
                            f" {limits.POLL_MAX_CHARACTERS_PER_OPTION} characters")
    if len(set(names)) != len(names):
        raise ApiError(422, "Validation failed: poll options must be different")
    expires = poll.int("expires_in", 86400, minimum=limits.POLL_MIN_EXPIRATION,
                       maximum=limits.POLL_MAX_EXPIRATION)
    assert expires is not None
    key = "anyOf" if poll.bool("multiple") else "oneOf"
    return {key: [{"type": "Note", "name": n, "replies": {"type": "Collection",
                                                          "totalItems": 0}} for n in names],
            "endTime": _iso(now + expires)}


async def _raw_post(node: Node, account: AccountRecord, params: Params) -> dict[str, Any]:
    """The C2S object for these parameters (validated: 422 with Mastodon's message)."""
    text = params.str("status", "", max_length=limits.MAX_CHARACTERS * 4) or ""
    if len(text) > limits.MAX_CHARACTERS:
        raise ApiError(422, f"Validation failed: Text character limit of"
                            f" {limits.MAX_CHARACTERS} exceeded")
    if params.list("media_ids"):
        raise ApiError(422, "Validation failed: media attachments are not supported here")
    if params.str("scheduled_at"):
        raise ApiError(422, "Validation failed: scheduled statuses are not supported here")
    poll = _poll(params, node.now())
    if not text.strip() and poll is None:
        raise ApiError(422, "Validation failed: Text can't be blank")
    visibility = params.str("visibility", "public") or "public"
    if visibility not in _VISIBILITIES:
        raise ApiError(422, f"Validation failed: visibility must be one of"
                            f" {', '.join(_VISIBILITIES)}")
    followers = node.urls.followers(account.actor_id)
    to, cc = {"public": ([PUBLIC], [followers]), "unlisted": ([followers], [PUBLIC]),
              "private": ([followers], []), "direct": ([], [])}[visibility]
    raw: dict[str, Any] = {"type": "Question" if poll else "Note", "content": text.strip(),
                           "mediaType": "text/plain", "to": to, "cc": cc}
    spoiler = params.str("spoiler_text", "", max_length=limits.MAX_CHARACTERS) or ""
    if spoiler.strip():
        raw["summary"] = escape(spoiler.strip())  # plain text in the API, HTML in AS2
    if params.bool("sensitive") or spoiler.strip():
        raw["sensitive"] = True
    if poll is not None:
        raw.update(poll)
    reply_to = params.str("in_reply_to_id")
    if reply_to:
        viewer = account.actor_id
        bundle = await node.store.api_statuses([parse_id(reply_to)], viewer)
        if not bundle.statuses:
            raise not_found()
        raw["inReplyTo"] = bundle.statuses[0].post.object_id
    return raw


async def _groups_addressed(node: Node, obj: dict[str, Any]) -> list[str]:
    """Groups (ours or known remote ones) among the mentioned."""
    groups = []
    for target in obj.get("cc", []):
        if not isinstance(target, str) or target == PUBLIC or target.endswith("/followers"):
            continue
        actor = await node.store.get_actor(target)
        if actor is not None and actor.type == "Group":
            groups.append(target)
    return groups


async def _publish(node: Node, account: AccountRecord, params: Params, key: str | None
                   ) -> str:
    """Publish the post; returns the id of the object whose status answers the call."""
    raw = await _raw_post(node, account, params)
    with refusals_as_api_errors():
        doc = await build_activity(node, account, raw)
        obj = doc["object"]
        language = params.str("language", max_length=16)
        if language and language.isascii() and language.isalpha() and len(language) <= 3:
            obj["contentMap"] = {language.lower(): obj.get("content", "")}
        groups = await _groups_addressed(node, obj)
        if groups:
            obj.setdefault("audience", groups[0])
            doc.setdefault("audience", groups[0])
            if "anyOf" in obj:
                obj.setdefault("decisionRule", "approval")  # a proposal: approval voting
        if obj["type"] == "Question":
            obj["votersCount"] = 0
        _, ops = await prepare(node, account, doc)
    claim: list[Op] = []
    if key is not None:
        # First in the write: a twin of this post racing through another process
        # waits on the key there, then finds it taken and answers with this post.
        now = node.now()
        claim.append(PutIdempotency(account=account.actor_id, key=key,
                                    status_object=obj["id"], created_at=now,
                                    unless_since=now - _IDEMPOTENCY_SECONDS))
    try:
        await node.store.apply([*claim, *ops])
    except AlreadyExists:
        if key is None:
            raise
        found = await node.store.get_idempotency(account.actor_id, key,
                                                 node.now() - _IDEMPOTENCY_SECONDS)
        if found is None:
            raise
        return found
    node.wake_delivery()
    if groups and await node.store.status_for_object(obj["id"]) is None:
        # Our group opened it as a proposal: the group's Question is the status.
        proposal = await node.store.latest_proposal(groups[0], account.actor_id)
        if proposal is not None:
            return proposal
    return str(obj["id"])


async def create_status(node: Node, account: AccountRecord, params: Params,
                        key: str | None) -> int:
    """Post, and return the new status's id (the same one again for a repeated key)."""
    if key is not None:
        key = key[:200]
        since = node.now() - _IDEMPOTENCY_SECONDS
        found = await node.store.get_idempotency(account.actor_id, key, since)
        inflight = _inflight.get((account.actor_id, key))
        if found is None and inflight is not None:
            found = await asyncio.shield(inflight)
        if found is not None:
            status_id = await node.store.status_for_object(found)
            if status_id is None:
                raise not_found()
            return status_id
    future: asyncio.Future[str] | None = None
    if key is not None:
        future = asyncio.get_running_loop().create_future()
        _inflight[(account.actor_id, key)] = future
    try:
        object_id = await _publish(node, account, params, key)
        if future is not None:
            future.set_result(object_id)
    except BaseException as exc:
        if future is not None:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: a lone request must not warn about it
            else:
                future.cancel()
        raise
    finally:
        if key is not None:
            _inflight.pop((account.actor_id, key), None)
    status_id = await node.store.status_for_object(object_id)
    if status_id is None:
        raise ApiError(422, "Validation failed: the post was not accepted")
    return status_id


async def send(node: Node, account: AccountRecord, raw: dict[str, Any]) -> dict[str, Any]:
    """Publish what a member does (a Like, an Undo, a Follow...) the C2S way; returns
    the activity as published."""
    with refusals_as_api_errors():
        doc = await build_activity(node, account, raw)
        await publish(node, account, doc)
    return doc
