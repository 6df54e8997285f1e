"""What every activity handler shares: its context and its way of saying no."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from node.context import Node
from protocol.vocab import Activity
from storage.records import Op

__all__ = ["Handler", "HandlerContext", "Refused"]


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


Handler = Callable[[HandlerContext, Activity], Awaitable[list[Op]]]
