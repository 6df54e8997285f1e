"""What every activity handler shares: its context and its way of saying no."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from node.context import Node
from protocol.vocab import Activity
from storage.records import Op

__all__ = ["CleanMemo", "Handler", "HandlerContext", "Refused"]

#: Objects whose HTML was already sanitised in this request (``node/inbox/posts.py``):
#: ``id(original) -> (original, clean copy)``; the original is kept so that its id
#: cannot be taken by another object while the memo lives.
CleanMemo = dict[int, tuple[Mapping[str, Any], dict[str, Any]]]


class Refused(Exception):
    """The activity is well-formed and authentic, but we will not act on it."""

    def __init__(self, message: str, *, reason: str, status: int = 422) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class HandlerContext:
    node: Node
    # True when one of our members authored the activity: the outbox runs the same
    # handlers for the activity's effects on this node.
    local_origin: bool
    # Shared with the inbox, which stores the activity's document after the handler
    # ran: the object a Create carries is then sanitised once, not twice.
    memo: CleanMemo | None = None


Handler = Callable[[HandlerContext, Activity], Awaitable[list[Op]]]
