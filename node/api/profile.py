"""PATCH /api/v1/accounts/update_credentials: a member edits their profile.

The account row and the actor document change together with the ``Update`` of the
actor that tells followers' servers, in one transaction (the Update's handler stores
the new actor document, as it would for anyone's). The note is plain text, rendered
the way posts are.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from node.api.params import Params
from node.context import Node
from node.documents import AS_CONTEXT, actor_document
from node.outbox import prepare
from protocol.html import render_plain
from protocol.vocab import PUBLIC
from storage.api import UpdateProfile
from storage.records import AccountRecord

__all__ = ["update_profile"]

_MAX_NAME = 100
_MAX_NOTE = 500


async def update_profile(node: Node, account: AccountRecord, params: Params
                         ) -> AccountRecord:
    display_name = params.str("display_name", account.display_name, max_length=_MAX_NAME)
    note = params.str("note", max_length=_MAX_NOTE)
    summary = account.summary
    if note is not None:
        summary = render_plain(note, mention_resolver=None,
                               tag_base_url=node.urls.tag("")).html if note.strip() else ""
    updated = dataclasses.replace(
        account, display_name=(display_name or "").strip(), summary=summary,
        manually_approves=params.bool("locked", account.manually_approves))
    document = actor_document(node.urls, updated)
    update: dict[str, Any] = {
        "@context": AS_CONTEXT, "id": node.urls.new_activity(), "type": "Update",
        "actor": account.actor_id, "object": document, "to": [PUBLIC],
        "cc": [node.urls.followers(account.actor_id)]}
    _, ops = await prepare(node, updated, update)
    await node.store.apply([
        UpdateProfile(username=account.username, actor_id=account.actor_id,
                      display_name=updated.display_name, summary=updated.summary,
                      manually_approves=updated.manually_approves),
        *ops])
    node.wake_delivery()
    return updated
