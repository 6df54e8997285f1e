"""Hard limits on federated content: what a remote server may make us store.

The inbox already bounds a request (``inbox.max_body_bytes``, 1 MB) and a fetch
(``federation.max_fetch_bytes``, 2 MB), but within those a document can still carry a
megabyte-long display name or ten thousand poll options, which every later page of
every app would carry too. So, as Mastodon does with its ``*_HARD_LIMIT`` constants
(app/models/account.rb), remote profiles are *clipped* to a display name of 2,048
characters and a bio of 20 KiB, and a remote poll with more options than any server
lets its users make is *refused* (422 ``too-many-options``): clipping it would show a
different question than its author asked. The client API's own, smaller limits are in
``node/api/limits.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DISPLAY_NAME", "MAX_NOTE", "MAX_POLL_OPTIONS", "clip_profile", "poll_options"]

MAX_DISPLAY_NAME = 2048  # Mastodon's Account::DISPLAY_NAME_LENGTH_HARD_LIMIT
MAX_NOTE = 20 * 1024  # Mastodon's Account::NOTE_LENGTH_HARD_LIMIT
# Mastodon lets its users make 4 options by default (MAX_POLL_OPTIONS, which admins of
# some forks raise to a few dozen), Misskey 10, Pleroma and Mutual 20: 200 leaves room
# for every server we know of and keeps a poll's rendering small.
MAX_POLL_OPTIONS = 200

_CLIPPED = (("name", MAX_DISPLAY_NAME), ("summary", MAX_NOTE))


def clip_profile(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """``doc`` with its name and summary (and their language maps) cut to the limits;
    the same object when nothing was too long.

    >>> clip_profile({"name": "x" * 3000})["name"] == "x" * MAX_DISPLAY_NAME
    True
    """
    changes: dict[str, Any] = {}
    for key, limit in _CLIPPED:
        value = doc.get(key)
        if isinstance(value, str) and len(value) > limit:
            changes[key] = value[:limit]
        mapped = doc.get(f"{key}Map")
        if isinstance(mapped, Mapping) and any(
                isinstance(v, str) and len(v) > limit for v in mapped.values()):
            changes[f"{key}Map"] = {k: v[:limit] if isinstance(v, str) else v
                                    for k, v in mapped.items()}
    return {**doc, **changes} if changes else doc


def poll_options(doc: Mapping[str, Any]) -> int:
    """How many options a Question offers (``oneOf`` or ``anyOf``); 0 for anything else.

    >>> poll_options({"type": "Question", "anyOf": [{"name": "a"}, {"name": "b"}]})
    2
    """
    options = doc.get("oneOf", doc.get("anyOf"))
    return len(options) if isinstance(options, list) else 0
