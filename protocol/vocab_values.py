"""The typed values ``protocol.vocab`` parses ActivityStreams 2.0 documents into.

The node never looks at raw JSON past its edge: handlers, storage and the client API
work on these frozen records. They are kept apart from the parsers so that code which
only consumes parsed documents (and its tests, which build them directly) does not
depend on how the many real-world shapes are read. The public names are re-exported by
``protocol.vocab``; import them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ACTIVITY_TYPES",
    "ACTOR_TYPES",
    "OBJECT_TYPES",
    "Activity",
    "ActorValue",
    "ObjectValue",
    "TagValue",
]

ACTOR_TYPES = frozenset({"Person", "Service", "Application", "Group", "Organization"})
OBJECT_TYPES = frozenset(
    {"Note", "Article", "Page", "Question", "Tombstone", "Image", "Video", "Event", "Audio"}
)
ACTIVITY_TYPES = frozenset(
    {
        "Create", "Update", "Delete", "Follow", "Accept", "Reject", "Undo", "Like",
        "Dislike", "Announce", "Add", "Remove", "Block", "Flag", "Move", "EmojiReact",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TagValue:
    type: str
    name: str | None
    href: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectValue:
    """A post-like object (Note, Article, Page, Question, Tombstone...)."""

    id: str
    type: str
    attributed_to: str | None
    content: str
    summary: str | None
    name: str | None
    in_reply_to: str | None
    context: str | None
    published: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    audience: str | None
    tags: tuple[TagValue, ...]
    sensitive: bool
    url: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.to + self.cc))

    @property
    def mentions(self) -> tuple[str, ...]:
        return tuple(t.href for t in self.tags if t.type == "Mention" and t.href)


@dataclass(frozen=True, slots=True, kw_only=True)
class Activity:
    id: str
    type: str
    actor: str
    object_id: str | None
    # The embedded object when the sender inlined one; the node treats it as a claim
    # that may need to be checked against its origin (DESIGN §5).
    object: ObjectValue | Activity | None
    # GoToSocial sends a multi-choice poll vote as one Create whose object is a list.
    objects: tuple[ObjectValue, ...]
    target: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bto: tuple[str, ...]
    bcc: tuple[str, ...]
    audience: str | None
    published: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.to + self.cc + self.bto + self.bcc))


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorValue:
    id: str
    type: str
    preferred_username: str | None
    name: str | None
    summary: str | None
    inbox: str
    outbox: str | None
    shared_inbox: str | None
    followers: str | None
    following: str | None
    public_key_id: str | None
    public_key_pem: str | None
    manually_approves_followers: bool
    url: str | None
    raw: Mapping[str, Any] = field(repr=False)

    @property
    def delivery_inbox(self) -> str:
        """Where to send what goes to many of this host's actors at once."""
        return self.shared_inbox or self.inbox
