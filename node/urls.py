"""The node's own URL scheme, in one place.

Every id we mint goes through here so that routes, documents and the inbox's
"is this ours?" checks agree.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["INSTANCE_ACTOR", "Urls"]

# The instance actor's username: it signs fetches when no member is acting.
INSTANCE_ACTOR = "instance.actor"


@dataclass(frozen=True, slots=True)
class Urls:
    base: str

    def actor(self, username: str) -> str:
        if username == INSTANCE_ACTOR:
            return f"{self.base}/actor"
        return f"{self.base}/users/{username}"

    def group(self, name: str) -> str:
        return f"{self.base}/groups/{name}"

    def _id(self, who: str) -> str:
        """Collections hang off the actor id; a bare username means a member."""
        return who if self.is_local(who) else self.actor(who)

    def key_id(self, who: str) -> str:
        return f"{self._id(who)}#main-key"

    def ed25519_key_id(self, who: str) -> str:
        return f"{self._id(who)}#ed25519-key"

    def inbox(self, who: str) -> str:
        return f"{self._id(who)}/inbox"

    def outbox(self, who: str) -> str:
        return f"{self._id(who)}/outbox"

    def followers(self, who: str) -> str:
        return f"{self._id(who)}/followers"

    def following(self, who: str) -> str:
        return f"{self._id(who)}/following"

    def liked(self, who: str) -> str:
        return f"{self._id(who)}/liked"

    def moderators(self, who: str) -> str:
        return f"{self._id(who)}/moderators"

    @property
    def shared_inbox(self) -> str:
        return f"{self.base}/inbox"

    def profile(self, username: str) -> str:
        return f"{self.base}/@{username}"

    def proposal(self, group_id: str, number: int) -> str:
        return f"{group_id}/proposals/{number}"

    def new_object(self) -> str:
        return f"{self.base}/objects/{uuid.uuid4()}"

    def new_activity(self) -> str:
        return f"{self.base}/activities/{uuid.uuid4()}"

    def tag(self, name: str) -> str:
        return f"{self.base}/tags/{name}"

    def is_local(self, url: str) -> bool:
        return url == self.base or url.startswith((self.base + "/", self.base + "#"))

    def username_of(self, actor_id: str) -> str | None:
        """The local username for one of our actor ids, or None. Asked several times per
        inbox request, mostly of remote ids: those fail on the base, before any
        string is built."""
        if not actor_id.startswith(self.base):
            return None
        path = actor_id[len(self.base):]
        if path == "/actor":
            return INSTANCE_ACTOR
        for prefix in ("/users/", "/groups/"):
            if path.startswith(prefix):
                rest = path[len(prefix):]
                if rest and "/" not in rest and "#" not in rest:
                    return rest
        return None

    @property
    def host(self) -> str:
        parts = urlsplit(self.base)
        host = (parts.hostname or "").lower()
        return f"{host}:{parts.port}" if parts.port else host
