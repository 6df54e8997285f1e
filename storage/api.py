"""Values for the client API: statuses, home feeds, notifications, bookmarks, mutes.

The ActivityPub tables hold what federates; these hold what apps need on top of it:
a numeric id per status (a post, or one member's boost of a post), each member's home
feed (written when a post arrives, so reading it is one indexed range scan), their
notifications, bookmarks, mutes and poll votes.

Reads hand back *views*: everything one page of entities needs (the post, its author,
counts, the viewer's own flags, the accounts it mentions), gathered by the engine in
one round trip, so rendering a timeline never goes back to the database per status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "AccountView",
    "AddToHome",
    "ApiOp",
    "ApiStore",
    "DismissNotifications",
    "Keyed",
    "NotificationView",
    "Notify",
    "PageQuery",
    "PostView",
    "PutBookmark",
    "PutIdempotency",
    "PutMute",
    "PutPollVote",
    "RelationshipView",
    "StatusBundle",
    "StatusRecord",
    "StatusView",
    "TimelineQuery",
    "UpdateProfile",
]

TimelineKind = Literal["home", "public", "tag", "account", "group", "bookmarks",
                       "favourites"]


# ---- rows and views read back ---------------------------------------------------


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
class AccountView:
    """An actor as an Account entity needs it; ``id`` is its API id."""

    id: int
    actor: str
    local: bool
    host: str
    type: str
    username: str | None
    document: str
    fetched_at: float
    created_at: float | None  # local accounts: when the account was made
    manually_approves: bool
    statuses_count: int
    followers_count: int
    following_count: int
    last_status_at: float | None
    follow_requests_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PostView:
    """The post a status shows (for a boost: the boosted post), with what apps count."""

    status_id: int
    object_id: str
    type: str
    author: str
    in_reply_to: str | None
    visibility: str
    audience: tuple[str, ...]
    local: bool
    document: str
    published: str | None
    created_at: float
    replies_count: int
    favourites_count: int
    reblogs_count: int
    favourited: bool
    reblogged: bool
    bookmarked: bool
    in_reply_to_id: int | None
    in_reply_to_author: str | None
    own_votes: tuple[str, ...]
    # Counted here for polls this node is the origin of (a member's own poll).
    poll_counts: Mapping[str, int] | None
    poll_voters: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusView:
    id: int
    account: str
    reblog_activity: str | None
    visibility: str
    created_at: float
    post: PostView
    # Key the page was ordered by (a bookmark's or favourite's own id), for Link headers.
    key: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusBundle:
    """Statuses in page order plus every account they name (authors, boosters, the
    accounts replied to and mentioned), by actor id."""

    statuses: list[StatusView]
    accounts: Mapping[str, AccountView]


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationView:
    id: int
    type: str
    account: str
    status_id: int | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RelationshipView:
    actor: str
    id: int
    following: bool
    requested: bool
    followed_by: bool
    requested_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Keyed:
    """An actor listed by a key of its own (a follow's or a reaction's id)."""

    key: int
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PageQuery:
    """Mastodon's paging: ``max_id`` older than, ``since_id`` newer than (newest
    first), ``min_id`` immediately newer than (fetched ascending)."""

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineQuery:
    kind: TimelineKind
    target: str | None = None  # the account, group or tag name
    local: bool = False
    remote: bool = False
    only_media: bool = False
    exclude_replies: bool = False
    exclude_reblogs: bool = False
    tagged: str | None = None


# ---- write operations -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AddToHome:
    """Put the status of ``activity_id`` (a Create or an Announce) in ``owner``'s home."""

    owner: str
    activity_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    """A notification for a local member; ``object_id`` names the status it is about.
    One per (owner, type, activity_id): a redelivered activity notifies once."""

    owner: str
    type: str
    account: str
    activity_id: str
    object_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DismissNotifications:
    """Dismiss one notification of ``owner``'s, or all of them when ``id`` is None."""

    owner: str
    id: int | None = None


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
    """Remember the status a client's ``Idempotency-Key`` produced (Mastodon keeps 1 h).

    With ``unless_since`` it is a claim: a row for the same account and key written at
    or after that time makes the whole write fail with ``AlreadyExists``, so of two
    posts with one key racing through different processes only one is stored (its
    twin then answers with the winner's status)."""

    account: str
    key: str
    status_object: str
    created_at: float
    unless_since: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PutPollVote:
    """A vote seen on a poll: ``replace`` drops the voter's earlier choices (a single
    choice poll, a Mutual ballot); otherwise the choices add up (Mastodon sends one
    activity per option of a multiple-choice poll)."""

    poll: str
    voter: str
    choices: tuple[str, ...]
    replace: bool
    activity_id: str
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateProfile:
    """A member edits their profile; the actor document is replaced with a PutActor."""

    username: str
    actor_id: str
    display_name: str
    summary: str
    manually_approves: bool


ApiOp = (AddToHome | Notify | DismissNotifications | PutBookmark | PutMute | PutIdempotency
         | PutPollVote | UpdateProfile)


class ApiStore(Protocol):
    """Store reads for the client API (implemented per engine). ``viewer`` is the
    caller's actor id, or None for an anonymous read; every status read applies the
    viewer's visibility (a status they may not see is simply absent)."""

    async def api_account_id(self, actor_id: str) -> int | None: ...
    async def api_actor_id(self, account_id: int) -> str | None: ...
    async def api_accounts(self, actor_ids: Sequence[str], viewer: str | None = None
                           ) -> dict[str, AccountView]: ...
    async def api_actor_by_acct(self, username: str, host: str | None) -> str | None: ...
    async def api_search_accounts(self, query: str, *, limit: int, offset: int,
                                  following_of: str | None) -> list[AccountView]: ...
    async def api_search_tags(self, prefix: str, limit: int, offset: int) -> list[str]: ...

    async def get_status(self, status_id: int) -> StatusRecord | None: ...
    async def status_for_object(self, object_id: str) -> int | None: ...
    async def reblog_of(self, actor: str, object_id: str) -> int | None: ...
    async def api_statuses(self, ids: Sequence[int], viewer: str | None) -> StatusBundle: ...
    async def timeline(self, query: TimelineQuery, page: PageQuery, viewer: str | None
                       ) -> StatusBundle: ...
    async def thread(self, object_id: str, viewer: str | None
                     ) -> tuple[list[int], list[int], StatusBundle]: ...
    async def latest_proposal(self, group_id: str, proposer: str) -> str | None: ...

    async def notifications(self, owner: str, page: PageQuery, *,
                            types: Sequence[str] = (), exclude_types: Sequence[str] = (),
                            account: str | None = None, notification_id: int | None = None
                            ) -> tuple[list[NotificationView], StatusBundle]: ...
    async def relationships(self, viewer: str, actor_ids: Sequence[str]
                            ) -> list[RelationshipView]: ...
    async def follow_list(self, *, followee: str | None, follower: str | None, state: str,
                          page: PageQuery) -> list[Keyed]: ...
    async def reactors(self, object_id: str, kind: str, page: PageQuery) -> list[Keyed]: ...
    async def poll_voters(self, poll: str) -> list[str]: ...
    async def poll_tally(self, poll: str) -> tuple[dict[str, int], int]: ...
    async def get_idempotency(self, account: str, key: str, since: float) -> str | None: ...

