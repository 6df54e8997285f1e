"""Values for the client API: statuses, home feeds, notifications, bookmarks, mutes.

The ActivityPub tables hold what federates; these hold what apps need on top of it:
a numeric id per status (a post, or one member's boost of a post), each member's home
feed (written when a post arrives, so reading it is one indexed range scan), their
notifications, bookmarks and mutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "AddToHome",
    "ApiOp",
    "ApiStore",
    "Notify",
    "PutBookmark",
    "PutIdempotency",
    "PutMute",
    "StatusRecord",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusRecord:
    """A status as apps see it: a post, or a boost (``reblog_activity`` set) of one."""

    id: int
    object_id: str
    account: str
    reblog_activity: str | None
    local: bool
    visibility: str
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AddToHome:
    """Put the status of ``activity_id`` (a Create or an Announce) in ``owner``'s home."""

    owner: str
    activity_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    """A notification for a local member; ``object_id`` names the status it is about."""

    owner: str
    type: str
    account: str
    activity_id: str
    object_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PutBookmark:
    owner: str
    status_id: int
    present: bool
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PutMute:
    actor: str
    target: str
    present: bool
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PutIdempotency:
    """Remember the status a client's ``Idempotency-Key`` produced (Mastodon keeps 1 h)."""

    account: str
    key: str
    status_object: str
    created_at: float


ApiOp = AddToHome | Notify | PutBookmark | PutMute | PutIdempotency


class ApiStore(Protocol):
    """Store reads for the client API (implemented per engine)."""
