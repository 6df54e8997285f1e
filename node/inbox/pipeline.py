"""The inbox: size limit -> parse -> verify -> dedupe -> dispatch -> one commit.

Everything that can be decided from the request alone is decided before anything is
written, and answered synchronously with a 4xx and a reason (DESIGN §5): a refused
activity changes nothing. An accepted one is stored with its effects and its
follow-up deliveries in a single ``Store.apply``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from node.api.notify import api_effects
from node.context import Node
from node.fetcher import FetchError
from node.governance.ballots import BallotRefused, Evidence, ballot_proposal
from node.groups import react
from node.inbox.base import CleanMemo, Refused
from node.inbox.dispatch import reachable_recipients, run_handler
from node.inbox.posts import clean_document
from node.jsoncodec import dumps, loads
from node.metrics import INBOX_RESULT
from protocol import httpsig
from protocol.errors import BadSignature, KeyNotFound, MalformedActivity, SignatureError
from protocol.jsonld import normalise
from protocol.keys import KeyFormatError, PublicKey
from protocol.vocab import Activity, host_of, parse_activity, visibility_of
from storage.governance import BallotRejected, PutRefusal, RefusalRecord
from storage.records import AddToInbox, PutActivity

__all__ = ["InboxError", "receive"]

log = logging.getLogger("mutual.inbox")


class InboxError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


async def read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise InboxError(413, "too-large", f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    # readany: what has arrived, without iter_chunked's async iterator around each read
    # (a body of a few KB is most often one chunk, already buffered).
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise InboxError(413, "too-large", f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InboxError(400, "malformed-json", f"body is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise InboxError(400, "too-deep", "JSON nested too deeply") from exc


async def verify_request(node: Node, request: web.Request, body: bytes | None) -> str:
    """Verify the HTTP signature of ``request``; returns the signing actor's id."""
    owner, _ = await verify_with_evidence(node, request, body)
    return owner


async def verify_with_evidence(node: Node, request: web.Request, body: bytes | None
                               ) -> tuple[str, Evidence]:
    """Verify the HTTP signature; returns the signer and what lets a third party
    re-verify it later (a ballot's ledger evidence, DESIGN §3.1)."""
    headers = _lowercase_headers(request)
    url = node.config.url + request.path_qs
    sig = httpsig.parse_signature(method=request.method, url=url, headers=headers)
    if await node.store.is_domain_blocked(host_of(sig.key_id)):
        raise InboxError(403, "domain-blocked", "this domain is blocked here")
    httpsig.check_policy(sig, method=request.method, now=datetime.now(UTC),
                         has_body=body is not None)
    if body is not None:
        httpsig.check_digest(headers, body)
    owner, key = await _public_key(node, sig.key_id)
    try:
        httpsig.verify_signature(sig, key)
    except BadSignature:
        # The actor may have rotated its key: fetch it again, once (DESIGN §2).
        owner, key = await _public_key(node, sig.key_id, refresh=True)
        httpsig.verify_signature(sig, key)
    evidence = Evidence(method=request.method, target=request.path_qs,
                        scheme=url.split("://", 1)[0], headers=headers, body=body or b"",
                        key_id=sig.key_id, public_key=key)
    return owner, evidence


def _lowercase_headers(request: web.Request) -> dict[str, str]:
    """Header name (lowercase) -> its values joined with ", " (RFC 9110 §5.3), in one
    pass over the headers instead of one ``getall`` per name."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers


async def _public_key(node: Node, key_id: str, *, refresh: bool = False) -> tuple[str, PublicKey]:
    """The key for ``key_id``; one that does not load (a garbage PEM, stored or served)
    is fetched again once, then refused as a signature we cannot check (401)."""
    try:
        return await node.resolve_key(key_id, refresh=refresh)
    except KeyFormatError as exc:
        if refresh:
            raise KeyNotFound(f"key {key_id} is not a usable public key: {exc.message}",
                              reason="key-malformed") from exc
        return await _public_key(node, key_id, refresh=True)


async def receive(node: Node, request: web.Request) -> web.Response:
    body = await read_body(request, node.config.max_body_bytes)
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise InboxError(400, "malformed-activity", "activity is not a JSON object")
    try:
        activity = parse_activity(normalise(doc))
    except RecursionError as exc:
        raise InboxError(400, "too-deep", "activity nested too deeply") from exc
    try:
        signer, evidence = await verify_with_evidence(node, request, body)
    except SignatureError as exc:
        raise InboxError(401, exc.reason, exc.message) from exc
    if signer != activity.actor:
        raise InboxError(401, "signer-not-actor",
                         f"signed by {signer}, but the activity's actor is {activity.actor}")
    actor_host = host_of(activity.actor)
    # The key's host was checked before verifying; most often it is the actor's own.
    if actor_host != host_of(evidence.key_id) and await node.store.is_domain_blocked(actor_host):
        raise InboxError(403, "domain-blocked", "this domain is blocked here")
    if node.urls.is_local(activity.actor):
        raise InboxError(403, "local-actor", "activities of local actors are not accepted")
    if await node.store.has_activity(activity.id):
        request[INBOX_RESULT] = "duplicate"
        return _answer(_DUPLICATE)
    applied = await ingest(node, activity, evidence)
    request[INBOX_RESULT] = "stored" if applied else "duplicate"
    return _answer(_ACCEPTED if applied else _DUPLICATE)


# The two answers of an inbox, encoded once instead of with a json.dumps per request.
_ACCEPTED = json.dumps({"status": "accepted"}).encode()
_DUPLICATE = json.dumps({"status": "duplicate"}).encode()


def _answer(body: bytes) -> web.Response:
    return web.Response(body=body, status=202, content_type="application/json", charset="utf-8")


async def ingest(node: Node, activity: Activity, evidence: Evidence | None = None) -> bool:
    """Apply an authentic remote activity; False when it had already been stored."""
    if not (activity.type == "Delete" and activity.object_id == activity.actor):
        try:
            actor = await node.resolve_actor(activity.actor)
        except FetchError as exc:
            raise InboxError(400, "actor-unavailable", f"cannot get the actor: {exc}") from exc
        followers = actor.followers
    else:
        followers = None
    memo: CleanMemo = {}  # the object a handler sanitised is reused in the activity's document
    try:
        owners = await reachable_recipients(node, activity)  # first: blocks refuse early
        ops, handled = await react(node, activity, evidence=evidence)
        if not handled:
            ops[:0] = await run_handler(node, activity, local_origin=False, memo=memo)
    except BallotRefused as exc:
        await _log_refusal(node, activity, exc.reason)
        raise InboxError(exc.status, exc.reason, str(exc)) from exc
    except Refused as exc:
        raise InboxError(exc.status, exc.reason, str(exc)) from exc
    except MalformedActivity as exc:
        raise InboxError(400, exc.reason, exc.message) from exc
    client_ops = await api_effects(node, activity)
    record = PutActivity(
        id=activity.id, type=activity.type, actor=activity.actor, object_id=activity.object_id,
        local=False, visibility=visibility_of(activity.to, activity.cc, followers),  # type: ignore[arg-type]
        audience=activity.recipients, document=dumps(clean_document(activity.raw, memo)),
        created_at=node.now(),
    )
    try:
        result = await node.store.apply(
            [record, *ops, *(AddToInbox(owner=o, activity_id=activity.id) for o in owners),
             *client_ops])
    except BallotRejected as exc:  # the proposal closed while this ballot was checked
        await _log_refusal(node, activity, exc.reason)
        raise InboxError(422, exc.reason, str(exc)) from exc
    if result.job_ids:
        node.wake_delivery()
    if result.applied:
        log.debug("accepted %s %s from %s", activity.type, activity.id, activity.actor)
    return result.applied


async def _log_refusal(node: Node, activity: Activity, reason: str) -> None:
    """Refused ballots are never counted, but the refusal is kept with its reason."""
    proposal = ballot_proposal(node, activity)
    if proposal is None or await node.store.get_proposal(proposal) is None:
        return
    await node.store.apply([PutRefusal(refusal=RefusalRecord(
        proposal=proposal, voter=activity.actor, reason=reason, activity_id=activity.id,
        received=node.now()))])
    log.info("refused ballot %s from %s: %s", activity.id, activity.actor, reason)
