"""Mastodon's entities (docs.joinmastodon.org/entities/) rendered from storage views.

Every field apps rely on is present with its documented type, including the ones some
apps crash without: ``emojis``, ``fields`` and ``media_attachments`` as lists, ids as
strings, dates as ISO 8601 with milliseconds and ``Z``. Remote documents are whatever
their servers sent, so every field read here tolerates a wrong type and falls back to
the documented empty value instead of failing the whole page.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import UTC, datetime
from html import escape
from typing import Any

from node.context import Node
from node.governance.common import parse_time
from protocol.html import is_hashtag, sanitize, to_plain_text
from protocol.vocab import id_of
from storage.api import (
    AccountView,
    NotificationView,
    PostView,
    RelationshipView,
    StatusBundle,
    StatusView,
)

__all__ = [
    "VISIBILITY",
    "account_json",
    "iso_ms",
    "notification_json",
    "poll_json",
    "relationship_json",
    "status_json",
    "statuses_json",
    "tag_json",
]

# Mastodon's names for the AS2 addressing of a post.
VISIBILITY = {"public": "public", "unlisted": "unlisted", "followers": "private",
              "direct": "direct"}
_BOT_TYPES = ("Service", "Application")
_MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio"}


def iso_ms(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


@functools.lru_cache(maxsize=4096)
def _clean(html: str) -> str:
    """Remote profile HTML is stored as sent, so it is sanitised when shown (cached:
    the same authors fill every page)."""
    return sanitize(html)


def _image(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url")
        if isinstance(value, list):
            value = value[0] if value else None
    found = id_of(value)
    return found if found and found.startswith(("http://", "https://")) else None


def _fields(doc: dict[str, Any]) -> list[dict[str, Any]]:
    items = doc.get("attachment")
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("type") == "PropertyValue":
            out.append({"name": _text(item.get("name")), "value": _clean(_text(item.get("value"))),
                        "verified_at": None})
    return out


def _emojis(doc: dict[str, Any]) -> list[dict[str, Any]]:
    tags = doc.get("tag")
    out = []
    for tag in tags if isinstance(tags, list) else [tags]:
        if isinstance(tag, dict) and tag.get("type") == "Emoji":
            url = _image(tag, "icon")
            name = _text(tag.get("name")).strip(":")
            if url and name:
                out.append({"shortcode": name, "url": url, "static_url": url,
                            "visible_in_picker": False})
    return out


def account_json(node: Node, view: AccountView, *, source: bool = False) -> dict[str, Any]:
    doc = json.loads(view.document)
    doc = doc if isinstance(doc, dict) else {}
    username = view.username or _text(doc.get("preferredUsername")) or "unknown"
    avatar = _image(doc, "icon") or f"{node.config.url}/avatars/original/missing.png"
    header = _image(doc, "image") or f"{node.config.url}/headers/original/missing.png"
    created = view.created_at or parse_time(doc.get("published")) or view.fetched_at
    note = _text(doc.get("summary"))
    url = id_of(doc.get("url")) if not isinstance(doc.get("url"), list) else None
    found: dict[str, Any] = {
        "id": str(view.id),
        "username": username,
        "acct": username if view.local else f"{username}@{view.host}",
        "display_name": _text(doc.get("name")),
        "locked": view.manually_approves,
        "bot": view.type in _BOT_TYPES,
        "discoverable": doc.get("discoverable") is True,
        "indexable": doc.get("indexable") is True,
        "group": view.type == "Group",
        "created_at": iso_ms(created),
        "note": note if view.local else _clean(note),
        "url": url or view.actor,
        "uri": view.actor,
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": view.followers_count,
        "following_count": view.following_count,
        "statuses_count": view.statuses_count,
        "last_status_at": (datetime.fromtimestamp(view.last_status_at, UTC).strftime("%Y-%m-%d")
                           if view.last_status_at else None),
        "hide_collections": False,
        "noindex": False,
        "emojis": _emojis(doc),
        "roles": [],
        "fields": _fields(doc),
    }
    if source:
        found["source"] = {"privacy": "public", "sensitive": False, "language": None,
                           "note": to_plain_text(note), "fields": [],
                           "follow_requests_count": view.follow_requests_count}
        found["role"] = {"id": "-99", "name": "", "permissions": "0", "color": "",
                         "highlighted": False}
    return found


def _mention_json(node: Node, view: AccountView) -> dict[str, Any]:
    account = account_json(node, view)
    return {key: account[key] for key in ("id", "username", "url", "acct")}


def _media(doc: dict[str, Any], status_id: int) -> list[dict[str, Any]]:
    items = doc.get("attachment")
    out = []
    for index, item in enumerate(items if isinstance(items, list) else [items]):
        if not isinstance(item, dict) or item.get("type") == "PropertyValue":
            continue
        url = _image({"url": item.get("url", item.get("href"))}, "url")
        if url is None:
            continue
        kind = _MEDIA_TYPES.get(_text(item.get("mediaType")).split("/")[0], "unknown")
        meta: dict[str, Any] = {}
        width, height = item.get("width"), item.get("height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            meta = {"original": {"width": width, "height": height,
                                 "size": f"{width}x{height}", "aspect": width / height}}
        out.append({"id": f"{status_id}{index:02d}", "type": kind, "url": url,
                    "preview_url": url, "remote_url": url, "preview_remote_url": None,
                    "text_url": None, "meta": meta,
                    "description": _text(item.get("name")) or None,
                    "blurhash": item.get("blurhash") if isinstance(item.get("blurhash"),
                                                                   str) else None})
    return out


def _tags(node: Node, doc: dict[str, Any]) -> list[dict[str, Any]]:
    tags = doc.get("tag")
    out = []
    for tag in tags if isinstance(tags, list) else [tags]:
        if isinstance(tag, dict) and tag.get("type") == "Hashtag":
            name = _text(tag.get("name")).lstrip("#").lower()
            if is_hashtag(name):
                out.append({"name": name, "url": node.urls.tag(name)})
    return out


def poll_json(post: PostView, doc: dict[str, Any], viewer: str | None,
              author: AccountView | None) -> dict[str, Any] | None:
    """A Question as Mastodon's Poll; the poll's id is its status's id."""
    multiple = isinstance(doc.get("anyOf"), list)
    options = doc.get("anyOf") if multiple else doc.get("oneOf")
    if not isinstance(options, list):
        return None
    names: list[str] = []
    counts: list[int] = []
    # A member's own poll is counted here; a group's proposal and a remote poll carry
    # their counts in the Question their origin keeps updated.
    local_counts = post.poll_counts if author is not None and author.type != "Group" else None
    for option in options:
        if not isinstance(option, dict) or not isinstance(option.get("name"), str):
            continue
        names.append(option["name"])
        if local_counts is not None:
            counts.append(int(local_counts.get(option["name"], 0)))
        else:
            replies = option.get("replies")
            total = replies.get("totalItems") if isinstance(replies, dict) else 0
            counts.append(total if isinstance(total, int) and total >= 0 else 0)
    end = parse_time(doc.get("endTime")) or parse_time(doc.get("closed"))
    closed = bool(doc.get("closed")) or (end is not None and end <= time.time())
    voters = post.poll_voters if local_counts is not None else doc.get("votersCount")
    own = [names.index(c) for c in post.own_votes if c in names]
    proposal = "decisionRule" in doc
    voted = bool(own) or (viewer is not None and viewer == post.author and not proposal)
    return {
        "id": str(post.status_id),
        "expires_at": iso_ms(end) if end is not None else None,
        "expired": closed,
        "multiple": multiple,
        "votes_count": sum(counts),
        "voters_count": voters if isinstance(voters, int) else None,
        "voted": voted if viewer is not None else None,
        "own_votes": sorted(set(own)) if viewer is not None else None,
        "options": [{"title": n, "votes_count": c} for n, c in zip(names, counts, strict=True)],
        "emojis": [],
    }


def _content(doc: dict[str, Any]) -> str:
    content = _text(doc.get("content"))
    if not content and isinstance(doc.get("contentMap"), dict):
        content = next((v for v in doc["contentMap"].values() if isinstance(v, str)), "")
    name = _text(doc.get("name"))
    if doc.get("type") == "Question" and name and escape(name) not in content:
        # A proposal's title is its name; Mastodon shows only content, so the title
        # is put first for stock apps.
        content = f"<p>{escape(name)}</p>{content}"
    return content


def _post_json(node: Node, bundle: StatusBundle, post: PostView, viewer: str | None
               ) -> dict[str, Any] | None:
    author = bundle.accounts.get(post.author)
    if author is None:
        return None
    doc = json.loads(post.document)
    if not isinstance(doc, dict):
        return None
    created = parse_time(doc.get("published")) or post.created_at
    updated = parse_time(doc.get("updated")) if post.type != "Question" else None
    language = next(iter(doc["contentMap"]), None) if isinstance(
        doc.get("contentMap"), dict) and doc["contentMap"] else None
    summary = _text(doc.get("summary"))
    mentions = []
    tags = doc.get("tag")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("type") == "Mention":
            mentioned = bundle.accounts.get(_text(id_of(tag.get("href"))))
            if mentioned is not None:
                mentions.append(_mention_json(node, mentioned))
    reply_account = bundle.accounts.get(post.in_reply_to_author or "")
    url = doc.get("url")
    return {
        "id": str(post.status_id),
        "uri": post.object_id,
        "url": (id_of(url[0] if isinstance(url, list) and url else url) or post.object_id),
        "created_at": iso_ms(created),
        "edited_at": iso_ms(updated) if updated and updated > created else None,
        "account": account_json(node, author),
        "content": _content(doc),
        "text": None,
        "visibility": VISIBILITY.get(post.visibility, "public"),
        "sensitive": doc.get("sensitive") is True or bool(summary),
        "spoiler_text": to_plain_text(summary) if summary else "",
        "media_attachments": _media(doc, post.status_id),
        "application": None,
        "mentions": mentions,
        "tags": _tags(node, doc),
        "emojis": _emojis(doc),
        "reblogs_count": post.reblogs_count,
        "favourites_count": post.favourites_count,
        "replies_count": post.replies_count,
        "in_reply_to_id": str(post.in_reply_to_id) if post.in_reply_to_id else None,
        "in_reply_to_account_id": str(reply_account.id) if reply_account else None,
        "reblog": None,
        "poll": poll_json(post, doc, viewer, author) if post.type == "Question" else None,
        "card": None,
        "language": language if isinstance(language, str) else None,
        "favourited": post.favourited,
        "reblogged": post.reblogged,
        "muted": False,
        "bookmarked": post.bookmarked,
        "pinned": False,
        "filtered": [],
    }


def status_json(node: Node, bundle: StatusBundle, status: StatusView, viewer: str | None
                ) -> dict[str, Any] | None:
    """The status, or a boost wrapping the boosted status; None if it cannot be shown
    (its author's actor is not stored)."""
    inner = _post_json(node, bundle, status.post, viewer)
    if inner is None or status.reblog_activity is None:
        return inner
    booster = bundle.accounts.get(status.account)
    if booster is None:
        return None
    return {**inner, "id": str(status.id), "uri": status.reblog_activity,
            "url": status.reblog_activity, "created_at": iso_ms(status.created_at),
            "edited_at": None, "account": account_json(node, booster), "content": "",
            "visibility": VISIBILITY.get(status.visibility, "public"), "sensitive": False,
            "spoiler_text": "", "media_attachments": [], "mentions": [], "tags": [],
            "emojis": [], "in_reply_to_id": None, "in_reply_to_account_id": None,
            "poll": None, "language": None, "reblog": inner}


def statuses_json(node: Node, bundle: StatusBundle, viewer: str | None
                  ) -> list[dict[str, Any]]:
    out = []
    for status in bundle.statuses:
        rendered = status_json(node, bundle, status, viewer)
        if rendered is not None:
            out.append(rendered)
    return out


def notification_json(node: Node, notification: NotificationView, bundle: StatusBundle,
                      viewer: str) -> dict[str, Any] | None:
    account = bundle.accounts.get(notification.account)
    if account is None:
        return None
    status = None
    if notification.status_id is not None:
        found = next((s for s in bundle.statuses if s.id == notification.status_id), None)
        status = status_json(node, bundle, found, viewer) if found else None
        if status is None:
            return None  # about a status the member can no longer see
    return {"id": str(notification.id), "type": notification.type,
            "created_at": iso_ms(notification.created_at),
            "group_key": f"ungrouped-{notification.id}",
            "account": account_json(node, account), "status": status}


def relationship_json(view: RelationshipView) -> dict[str, Any]:
    return {"id": str(view.id), "following": view.following,
            "showing_reblogs": view.following, "notifying": False, "languages": None,
            "followed_by": view.followed_by, "blocking": view.blocking,
            "blocked_by": view.blocked_by, "muting": view.muting,
            "muting_notifications": view.muting, "requested": view.requested,
            "requested_by": view.requested_by, "domain_blocking": False,
            "endorsed": False, "note": ""}


def tag_json(node: Node, name: str) -> dict[str, Any]:
    return {"name": name, "url": node.urls.tag(name), "history": [], "following": False}
