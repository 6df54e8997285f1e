"""The limits the client API enforces, in one place, so that what /api/v1/instance and
/api/v2/instance advertise (``configuration.statuses``, ``configuration.polls``,
``configuration.accounts``) is exactly what posting checks.

Polls may be short (``POLL_MIN_EXPIRATION``): a group decision can be a quick show of
hands, and apps only offer their own presets above the minimum anyway. Options follow
what a proposal accepts (node/governance/proposals.py), since a poll addressed to a
group becomes one.
"""

from __future__ import annotations

__all__ = [
    "CHARACTERS_RESERVED_PER_URL",
    "MAX_CHARACTERS",
    "MAX_FEATURED_TAGS",
    "MAX_MEDIA_ATTACHMENTS",
    "MAX_PINNED_STATUSES",
    "POLL_MAX_CHARACTERS_PER_OPTION",
    "POLL_MAX_EXPIRATION",
    "POLL_MAX_OPTIONS",
    "POLL_MIN_EXPIRATION",
]

MAX_CHARACTERS = 5000
MAX_MEDIA_ATTACHMENTS = 4  # advertised as Mastodon's; uploads are not supported yet
CHARACTERS_RESERVED_PER_URL = 23  # Mastodon counts every link as 23 characters
POLL_MAX_OPTIONS = 20  # node.governance.proposals.MAX_OPTIONS
POLL_MAX_CHARACTERS_PER_OPTION = 200  # what a proposal's option names may hold
POLL_MIN_EXPIRATION = 5
POLL_MAX_EXPIRATION = 2_629_746  # Mastodon's: a month
MAX_FEATURED_TAGS = 10
MAX_PINNED_STATUSES = 5
