"""Client API: polls — read one, vote, and the closing of a member's own poll.

A poll's id is its status's id. Voting from an app takes two shapes:

- on a group's proposal (a Question carrying ``decisionRule``), the choices become ONE
  Mutual ballot to the group, signed by the voter's own key (node/c2s.ballot_activity),
  so it is counted ``voter-signed`` in the group's ledger; re-voting replaces the
  ballot, as proposals allow;
- on any other poll (a Mastodon poll, a member's poll here), one vote per choice, as
  Mastodon sends them (each also signed, which Mastodon ignores), and only once.

A member's own poll is closed by the ``poll_expire`` job at its end: the final counts
go out in an ``Update(Question)`` with ``closed``, which is also what notifies the
voters (node/api/notify.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from node.api.entities import poll_json
from node.api.http import ApiRoutes, api_json, not_found, refusals_as_api_errors
from node.api.params import ApiError, read_params
from node.api.views import load_status, member, reader
from node.c2s import ballot_activity
from node.context import Node
from node.documents import AS_CONTEXT, iso
from node.outbox import prepare, publish
from node.routes.common import NODE
from storage.api import StatusBundle, StatusView

__all__ = ["expire_poll", "routes"]

routes = ApiRoutes()


def _poll(bundle: StatusBundle, status: StatusView, viewer: str | None
          ) -> tuple[dict[str, Any], dict[str, Any]]:
    post = status.post
    doc = json.loads(post.document) if post.type == "Question" else None
    poll = poll_json(post, doc, viewer, bundle.accounts.get(post.author)) if isinstance(
        doc, dict) else None
    if doc is None or poll is None:
        raise not_found()
    return doc, poll


@routes.get("/api/v1/polls/{id}")
async def get_poll(request: web.Request) -> web.Response:
    node = request.app[NODE]
    viewer = await reader(request, "read:statuses")
    bundle, status = await load_status(node, request.match_info["id"], viewer)
    return api_json(_poll(bundle, status, viewer)[1])


@routes.post("/api/v1/polls/{id}/votes")
async def vote(request: web.Request) -> web.Response:
    node = request.app[NODE]
    account = await member(request, "write:statuses")
    me = account.actor_id
    bundle, status = await load_status(node, request.match_info["id"], me)
    doc, poll = _poll(bundle, status, me)
    proposal = "decisionRule" in doc
    if poll["expired"]:
        raise ApiError(422, "Validation failed: The poll has already ended")
    if status.post.author == me:
        raise ApiError(422, "Validation failed: You cannot vote in your own poll")
    if poll["voted"] and not proposal:
        raise ApiError(422, "Validation failed: You have already voted on this poll")
    titles = [o["title"] for o in poll["options"]]
    picked: list[str] = []
    for raw in (await read_params(request)).list("choices")[:len(titles) + 1]:
        if not raw.isascii() or not raw.isdigit() or int(raw) >= len(titles):
            raise ApiError(422, "Validation failed: choices must be option indices")
        if titles[int(raw)] not in picked:
            picked.append(titles[int(raw)])
    if not picked or (len(picked) > 1 and not poll["multiple"]):
        raise ApiError(422, "Validation failed: choose one option" if not poll["multiple"]
                       else "Validation failed: choose at least one option")
    question = status.post.object_id
    with refusals_as_api_errors():
        ballots = [picked] if proposal else [[name] for name in picked]
        for choices in ballots:
            await publish(node, account, await ballot_activity(node, account, question,
                                                               choices))
    bundle, status = await load_status(node, str(status.post.status_id), me)
    return api_json(_poll(bundle, status, me)[1])


async def expire_poll(node: Node, payload: Mapping[str, str]) -> None:
    """Close a member's poll: final counts and ``closed``, to everyone it went to."""
    record = await node.store.get_object(payload["poll"])
    if record is None or record.deleted_at is not None or record.type != "Question":
        return
    doc: dict[str, Any] = json.loads(record.document)
    author = await node.store.get_account_by_actor(record.attributed_to or "")
    if doc.get("closed") or author is None or author.kind != "person":
        return
    counts, voters = await node.store.poll_tally(record.id)
    options = doc.get("anyOf") if isinstance(doc.get("anyOf"), list) else doc.get("oneOf")
    for option in options if isinstance(options, list) else []:
        if isinstance(option, dict):
            option["replies"] = {"type": "Collection",
                                 "totalItems": counts.get(str(option.get("name")), 0)}
    doc.update(votersCount=voters, closed=iso(node.now()), updated=iso(node.now()))
    update = {"@context": AS_CONTEXT, "id": node.urls.new_activity(), "type": "Update",
              "actor": author.actor_id, "object": doc, "to": doc.get("to", []),
              "cc": doc.get("cc", [])}
    _, ops = await prepare(node, author, update)
    await node.store.apply(ops)
    node.wake_delivery()
