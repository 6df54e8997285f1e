"""Remote activities as a Mastodon-like peer sends them, for tests that need one of
many and care only that it is new to the node and correctly addressed."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.peer import AS_CONTEXT, RemoteActor

__all__ = ["create_note", "uid"]


def uid() -> str:
    """A short random part of an id, so that what a test sends is new to the node."""
    return uuid.uuid4().hex[:12]


def create_note(sender: RemoteActor, to: str, *, content: str = "<p>hello</p>",
                object_id: str | None = None) -> dict[str, Any]:
    """A Create(Note) by ``sender`` addressed to ``to`` alone; a new activity id each
    call, and a new note unless ``object_id`` names one."""
    note_id = object_id or f"{sender.id}/statuses/{uid()}"
    return {"@context": AS_CONTEXT, "id": f"{sender.id}/activities/{uid()}",
            "type": "Create", "actor": sender.id, "to": [to],
            "object": {"id": note_id, "type": "Note", "attributedTo": sender.id, "to": [to],
                       "content": content}}
