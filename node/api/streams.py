"""What one streaming connection receives: its channels, which bus events reach it, and
their payloads rendered for its viewer.

Channels are Mastodon 4.3's (its streaming server's ``channelNameToIds``): ``user``,
``user:notification``, ``public``, ``public:local``, ``public:remote`` (each also
``:media``), ``hashtag`` and ``hashtag:local`` with a ``tag``. ``list`` and ``direct``
are refused as unknown: this node has neither lists nor conversations.

A status reaches a channel exactly when it is on the matching timeline for this viewer:
the check is the timeline's own query narrowed to that one status id, so visibility,
blocks and mutes are the REST timelines' rules and the entity is rendered from the same
read (as the viewer sees it: favourited, own votes...). Notifications are read from
the member's list past the newest one this connection has seen, so none is sent twice
and a burst of them is read at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from node.api.auth import Caller
from node.api.entities import notification_json, status_json
from node.api.params import ApiError
from node.api.scopes import has_scope
from node.context import Node
from node.events import DeleteEvent, Event, NotificationEvent, StatusEvent
from storage.api import PageQuery, TimelineQuery

__all__ = ["Channel", "Feed", "Message", "StreamError", "parse_channel"]

PUBLIC_CHANNELS = frozenset({"public", "public:media", "public:local", "public:local:media",
                             "public:remote", "public:remote:media", "hashtag",
                             "hashtag:local"})
USER_CHANNELS = frozenset({"user", "user:notification"})
_NOTIFICATIONS_PAGE = 40


class StreamError(ApiError):
    """A refused channel: 400 for a request that names none or an unknown one, 401 for
    a token that may not read it (Mastodon's streaming server answers 401 there, where
    the REST API answers 403)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    name: str
    tag: str | None = None  # as the client spelled it, echoed in ``stream``

    @property
    def stream(self) -> list[str]:
        """The ``stream`` of its WebSocket messages (Mastodon's streamNameFromChannelName)."""
        return [self.name, self.tag] if self.tag is not None else [self.name]

    @property
    def tag_name(self) -> str:
        return (self.tag or "").lstrip("#").lower()[:100]

    @property
    def local(self) -> bool:
        return ":local" in self.name

    @property
    def remote(self) -> bool:
        return ":remote" in self.name

    @property
    def only_media(self) -> bool:
        return self.name.endswith(":media")

    @property
    def statuses(self) -> bool:
        return self.name != "user:notification"

    def timeline(self, viewer: str) -> TimelineQuery:
        if self.name == "user":
            return TimelineQuery(kind="home", target=viewer)
        if self.name.startswith("hashtag"):
            return TimelineQuery(kind="tag", target=self.tag_name, local=self.local)
        return TimelineQuery(kind="public", local=self.local, remote=self.remote,
                             only_media=self.only_media)


def parse_channel(name: object, params: Mapping[str, object]) -> Channel:
    """The channel ``name`` (with its ``tag``), or the 400 Mastodon answers."""
    if isinstance(name, list):
        name = name[0] if name else None
    if not isinstance(name, str) or not name:
        raise StreamError(400, "Unknown stream type")
    if name not in PUBLIC_CHANNELS and name not in USER_CHANNELS:
        raise StreamError(400, "Unknown stream type")
    if not name.startswith("hashtag"):
        return Channel(name=name)
    tag = params.get("tag")
    if isinstance(tag, list):
        tag = tag[0] if tag else None
    if not isinstance(tag, str) or not tag.lstrip("#").strip():
        raise StreamError(400, "Missing tag name parameter")
    return Channel(name=name, tag=tag)


def check_scope(caller: Caller, channel: Channel) -> None:
    """Mastodon's ``checkScopes``: public channels need none; ``user`` needs
    ``read:statuses`` and ``user:notification`` ``read:notifications`` (``read``
    grants both)."""
    if channel.name in PUBLIC_CHANNELS:
        return
    needed = "read:notifications" if channel.name == "user:notification" else "read:statuses"
    if not has_scope(caller.scopes, needed):
        raise StreamError(401, "Access token does not have the required scopes")


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    event: str
    payload: str
    stream: list[str]

    def websocket(self) -> str:
        return json.dumps({"stream": self.stream, "event": self.event,
                           "payload": self.payload})

    def sse(self) -> bytes:
        return f"event: {self.event}\ndata: {self.payload}\n\n".encode()


class Feed:
    """A connection's channels for one member, and the messages each event makes.

    ``wants`` runs in the writer's call (node/events.py) and only compares names;
    ``messages`` runs in the connection's own task and does the reads."""

    def __init__(self, node: Node, caller: Caller) -> None:
        assert caller.account is not None, "streams are a member's"
        self.node = node
        self.viewer = caller.account.actor_id
        self.caller = caller
        # Mastodon's user stream carries notifications only for a token that reads them.
        self.notifications_allowed = has_scope(caller.scopes, "read:notifications")
        self.channels: dict[tuple[str, str | None], Channel] = {}
        self._seen_notification: int | None = None

    async def add(self, channel: Channel) -> None:
        check_scope(self.caller, channel)
        if self._notified(channel) and self._seen_notification is None:
            # Before the channel is listed, so no wake-up is missed in between.
            self._seen_notification = await self._newest_notification()
        self.channels.setdefault((channel.name, channel.tag_name or None), channel)

    def remove(self, channel: Channel) -> None:
        self.channels.pop((channel.name, channel.tag_name or None), None)

    def _notified(self, channel: Channel) -> bool:
        return channel.name == "user:notification" or (
            channel.name == "user" and self.notifications_allowed)

    def wants(self, event: Event) -> bool:
        channels = list(self.channels.values())
        if isinstance(event, NotificationEvent):
            return event.owner == self.viewer and any(self._notified(c) for c in channels)
        if isinstance(event, DeleteEvent):
            return any(c.statuses for c in channels)
        if isinstance(event, StatusEvent):
            return any(self._may_show(c, event) for c in channels)
        return False

    def _may_show(self, channel: Channel, event: StatusEvent) -> bool:
        if channel.name == "user":
            # Entered this home now; or a stored post changed, which may be in it.
            return self.viewer in event.homes or event.post is not None
        post = event.post
        if post is None or post.visibility != "public" or channel.name == "user:notification":
            return False
        if (channel.local and not post.local) or (channel.remote and post.local):
            return False
        return not channel.name.startswith("hashtag") or channel.tag_name in post.tags

    async def messages(self, event: Event) -> list[Message]:
        if isinstance(event, NotificationEvent):
            return await self._notifications()
        if isinstance(event, DeleteEvent):
            return await self._deleted(event)
        if isinstance(event, StatusEvent):
            return await self._status(event)
        return []

    async def _status(self, event: StatusEvent) -> list[Message]:
        resolved = await event.resolve()
        if resolved is None:
            return []
        status_id, kind = resolved
        payload: str | None = None
        out = []
        for channel in list(self.channels.values()):
            if not self._may_show(channel, event):
                continue
            if channel.name == "user" and kind == "update" and self.viewer not in event.homes:
                continue  # a new post elsewhere: only its own homes get it
            bundle = await self.node.store.timeline(
                channel.timeline(self.viewer),
                PageQuery(max_id=status_id + 1, since_id=status_id - 1, limit=1), self.viewer)
            if not bundle.statuses:
                continue  # not on this timeline for this viewer (visibility, blocks, mutes)
            if payload is None:
                rendered = status_json(self.node, bundle, bundle.statuses[0], self.viewer)
                if rendered is None:
                    return out
                payload = json.dumps(rendered)
            out.append(Message(event=kind, payload=payload, stream=channel.stream))
        return out

    async def _deleted(self, event: DeleteEvent) -> list[Message]:
        """Status ids are row numbers that say nothing, so a delete goes to every
        status channel that could have shown it, without asking whether it did: user
        streams always, public and hashtag ones when the post was public (a boost is
        never on them)."""
        resolved = await event.resolve()
        if resolved is None:
            return []
        status_id, public = resolved
        return [Message(event="delete", payload=str(status_id), stream=c.stream)
                for c in list(self.channels.values())
                if c.name == "user" or (c.statuses and public and not event.boost)]

    async def _newest_notification(self) -> int:
        found, _ = await self.node.store.notifications(self.viewer, PageQuery(limit=1))
        return found[0].id if found else 0

    async def _notifications(self) -> list[Message]:
        channels = [c for c in self.channels.values() if self._notified(c)]
        if not channels or self._seen_notification is None:
            return []
        out = []
        while True:
            found, bundle = await self.node.store.notifications(
                self.viewer, PageQuery(min_id=self._seen_notification,
                                       limit=_NOTIFICATIONS_PAGE))
            for view in reversed(found):  # answered newest first; sent oldest first
                self._seen_notification = max(self._seen_notification, view.id)
                rendered = notification_json(self.node, view, bundle, self.viewer)
                if rendered is not None:
                    payload = json.dumps(rendered)
                    out.extend(Message(event="notification", payload=payload, stream=c.stream)
                               for c in channels)
            if len(found) < _NOTIFICATIONS_PAGE:
                return out
