"""Events across the processes of one node: what node/events.py derives, as text.

A node scaled out over several web processes (DESIGN §4) must stream to a client
connected to one process what another process wrote: a status that arrived in the
inbox of web process 1 belongs on the home stream of a member connected to web process
2, and a poll closed by a worker belongs on its voters' notification streams. Each
process sends the references its writes derive (``encode``) through the store's
channel (PostgreSQL ``NOTIFY``, storage/postgres/channel.py) and publishes on its own
bus what the others sent (``decode``). References, not rendered statuses: each
subscriber still renders for its own viewer, from the shared database, as it does for
its own process's events.

Messages carry the sending process's token, so a process skips its own (it published
them on its bus already). A message is kept under the channel's payload limit by
splitting a status's long list of homes over several messages.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from node.events import (
    DeleteEvent,
    Event,
    NotificationEvent,
    PostFacts,
    StatusEvent,
    StatusRef,
    TokenRevoked,
    deleted_event,
    status_event,
)
from storage.store import Store

__all__ = ["decode", "encode"]

_HOMES_PER_MESSAGE = 60  # actor ids of ~100 bytes: well under the 7,900-byte limit


def _facts(post: PostFacts | None) -> dict[str, Any] | None:
    if post is None:
        return None
    return {"v": post.visibility, "l": post.local, "t": sorted(post.tags),
            "c": post.created_at}


def _items(events: Sequence[Event]) -> Iterator[dict[str, Any]]:
    for event in events:
        if isinstance(event, StatusEvent):
            homes = sorted(event.homes)
            chunks = [homes[i:i + _HOMES_PER_MESSAGE]
                      for i in range(0, len(homes), _HOMES_PER_MESSAGE)] or [[]]
            for index, chunk in enumerate(chunks):
                yield {"k": "s", "o": event.ref.object_id, "b": event.ref.booster,
                       "h": chunk, "p": _facts(event.post) if index == 0 else None}
        elif isinstance(event, DeleteEvent):
            yield {"k": "d", "o": event.object_id, "i": event.known, "b": event.boost}
        elif isinstance(event, NotificationEvent):
            yield {"k": "n", "w": event.owner}
        elif isinstance(event, TokenRevoked):
            yield {"k": "r", "t": event.token_hash}


def encode(events: Sequence[Event], origin: str) -> list[str]:
    """The messages that carry ``events`` to the node's other processes."""
    messages: list[str] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for item in _items(events):
        length = len(json.dumps(item, separators=(",", ":")).encode())
        if batch and size + length > 7_000:
            messages.append(json.dumps({"from": origin, "e": batch}, separators=(",", ":")))
            batch, size = [], 0
        batch.append(item)
        size += length
    if batch:
        messages.append(json.dumps({"from": origin, "e": batch}, separators=(",", ":")))
    return messages


def decode(message: str, origin: str, store: Store) -> list[Event]:
    """The events another process sent; none for our own messages, or a malformed one
    (only our own processes can NOTIFY, but a newer version may send more kinds)."""
    try:
        doc = json.loads(message)
    except json.JSONDecodeError:
        return []
    if not isinstance(doc, dict) or doc.get("from") == origin:
        return []
    events: list[Event] = []
    for item in doc.get("e", []):
        kind = item.get("k") if isinstance(item, dict) else None
        if kind == "s":
            facts = item.get("p")
            post = None if facts is None else PostFacts(
                visibility=facts["v"], local=bool(facts["l"]), tags=frozenset(facts["t"]),
                created_at=float(facts["c"]))
            ref = StatusRef(object_id=item["o"], booster=item.get("b"))
            events.append(status_event(store, ref, frozenset(item.get("h", ())), post))
        elif kind == "d":
            known = item.get("i")
            events.append(deleted_event(store, object_id=item.get("o"),
                                        known=None if known is None else
                                        (int(known[0]), bool(known[1])),
                                        boost=bool(item.get("b"))))
        elif kind == "n":
            events.append(NotificationEvent(owner=item["w"]))
        elif kind == "r":
            events.append(TokenRevoked(token_hash=item["t"]))
    return events
