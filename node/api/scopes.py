"""OAuth scopes as Mastodon defines them, and what each one grants.

The vocabulary is Mastodon 4.3's (its Doorkeeper ``optional_scopes``): the four
top-level scopes, their sub-scopes, ``profile``, and the admin ones. Clients ask for
admin scopes without meaning to use them, so they are accepted though no admin API
exists; an unknown scope is refused (``invalid_scope``), as Doorkeeper refuses it.
A scope grants its sub-scopes (``read`` grants ``read:statuses``; ``admin:read``
grants ``admin:read:accounts``), and ``follow`` grants the relationship sub-scopes
it predates.
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_SCOPE",
    "SUPPORTED_SCOPES",
    "ScopeError",
    "covers",
    "describe",
    "has_scope",
    "parse_scopes",
]

DEFAULT_SCOPE = "read"  # Doorkeeper's default_scopes in Mastodon

_READ = ["accounts", "blocks", "bookmarks", "favourites", "filters", "follows", "lists",
         "mutes", "notifications", "search", "statuses"]
_WRITE = ["accounts", "blocks", "bookmarks", "conversations", "favourites", "filters",
          "follows", "lists", "media", "mutes", "notifications", "reports", "statuses"]
_ADMIN = ["accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks",
          "email_domain_blocks", "canonical_email_blocks"]

SUPPORTED_SCOPES: tuple[str, ...] = (
    "read", *(f"read:{s}" for s in _READ),
    "write", *(f"write:{s}" for s in _WRITE),
    "follow", "push", "profile",
    "admin:read", *(f"admin:read:{s}" for s in _ADMIN),
    "admin:write", *(f"admin:write:{s}" for s in _ADMIN),
)
_KNOWN = frozenset(SUPPORTED_SCOPES)

# Mastodon: "follow" grants these, from before sub-scopes existed.
_FOLLOW_GRANTS = frozenset({"read:follows", "write:follows", "read:blocks", "write:blocks",
                            "read:mutes", "write:mutes"})

_DESCRIPTIONS = {
    "read": "read everything in your account: posts, timelines, followers, notifications",
    "write": "post, favourite, boost, vote and change your account for you",
    "follow": "follow, block and mute accounts for you",
    "push": "receive push notifications",
    "profile": "read your basic profile",
}


class ScopeError(ValueError):
    """A scope outside the vocabulary (the OAuth error ``invalid_scope``)."""


def parse_scopes(text: str | None, *, default: str = DEFAULT_SCOPE) -> tuple[str, ...]:
    """The scopes in a space-separated string, in order, without repeats.

    Raises ``ScopeError`` naming the first unknown one.
    """
    names = (text or "").replace("+", " ").split() or default.split()
    out: list[str] = []
    for name in names:
        if name not in _KNOWN:
            raise ScopeError(f"unknown scope {name!r}")
        if name not in out:
            out.append(name)
    return tuple(out)


def has_scope(granted: frozenset[str] | set[str], needed: str) -> bool:
    """Does a token holding ``granted`` hold ``needed``?"""
    if needed in granted:
        return True
    if "follow" in granted and needed in _FOLLOW_GRANTS:
        return True
    parent, sep, _ = needed.rpartition(":")
    return bool(sep) and has_scope(granted, parent)


def covers(granted: tuple[str, ...] | frozenset[str], wanted: tuple[str, ...]) -> bool:
    """Every scope in ``wanted`` is held by ``granted`` (an app asks for no more than
    it registered; a refreshed token for no more than the one it replaces)."""
    held = frozenset(granted)
    return all(has_scope(held, name) for name in wanted)


def describe(scope: str) -> str:
    """Words for the consent page."""
    if scope in _DESCRIPTIONS:
        return _DESCRIPTIONS[scope]
    if scope.startswith("admin:"):
        return f"administer this node ({scope})"
    top, _, detail = scope.partition(":")
    verb = "read" if top == "read" else "change"
    return f"{verb} your {detail.replace('_', ' ')}"
