"""Values that cross the storage interface: rows read back, and write operations.

A write is a *list of operations* handed to ``Store.apply`` in one call, never a series
of calls: the engine applies the whole list in one transaction (so an activity and the
deliveries it causes commit together, DESIGN §4), may group many callers' lists into
one commit, and can skip the whole list atomically when its leading ``PutActivity``
was seen before (inbox dedupe without a race).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from storage.api import ApiOp
from storage.governance import (
    AppendBallot,
    CloseProposal,
    PutGroup,
    PutProposal,
    PutRefusal,
    SetMeta,
    SetProposalDocument,
    SetRole,
)
from storage.oauth import OAuthOp

__all__ = [
    "AccountRecord",
    "ActivityRecord",
    "ActorRecord",
    "AddToInbox",
    "ApplyResult",
    "CreateAccount",
    "CreateToken",
    "DeleteActor",
    "DeleteBlock",
    "DeleteFollow",
    "DeleteReaction",
    "EnqueueJob",
    "FollowRecord",
    "HostState",
    "Job",
    "ObjectRecord",
    "Op",
    "Page",
    "PutActivity",
    "PutActor",
    "PutBlock",
    "PutFollow",
    "PutKey",
    "PutObject",
    "PutReaction",
    "SetDomainBlock",
    "SetFollowState",
    "TokenRecord",
    "TombstoneObject",
]

Visibility = Literal["public", "unlisted", "followers", "direct"]
FollowState = Literal["pending", "accepted"]
ReactionKind = Literal["like", "announce"]
AccountKind = Literal["person", "application", "group"]
T = TypeVar("T")


# ---- rows read back -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountRecord:
    """A local actor: a member, the instance actor or a group, with its private keys."""

    username: str
    actor_id: str
    kind: AccountKind
    display_name: str
    summary: str
    email: str | None
    password_hash: str | None
    admin: bool
    rsa_private_pem: str
    ed25519_private_pem: str
    manually_approves: bool
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ActorRecord:
    """Any actor we know (local ones too), with its document as last seen."""

    id: str
    local: bool
    host: str
    type: str
    username: str | None
    inbox: str
    shared_inbox: str | None
    followers: str | None
    document: str
    fetched_at: float
    gone: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityRecord:
    seq: int
    id: str
    type: str
    actor: str
    object_id: str | None
    local: bool
    visibility: Visibility
    audience: tuple[str, ...]
    document: str
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRecord:
    seq: int
    id: str
    type: str
    attributed_to: str | None
    in_reply_to: str | None
    context: str | None
    visibility: Visibility
    audience: tuple[str, ...]
    local: bool
    document: str
    published: str | None
    created_at: float
    deleted_at: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowRecord:
    follower: str
    followee: str
    activity_id: str
    state: FollowState
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """A bearer token (only its hash). ``username`` is None for an app-only token
    (OAuth client_credentials); ``app_id`` is None for one made by ``mutual token
    create``; ``expires_at`` None means it does not expire (Mastodon's default)."""

    token_hash: str
    username: str | None
    scopes: str
    created_at: float
    revoked: bool
    app_id: int | None = None
    refresh_hash: str | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: int
    kind: str
    payload: str
    host: str | None
    run_at: float
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostState:
    host: str
    failures: int
    paused_until: float | None
    last_error: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    """One page of a collection, newest first, with the cursor for the next one."""

    items: list[T]
    next_cursor: int | None
    total: int


# ---- write operations -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PutActivity:
    """Insert an activity. With ``dedupe`` a known id skips the WHOLE operation list."""

    id: str
    type: str
    actor: str
    object_id: str | None
    local: bool
    visibility: Visibility
    audience: tuple[str, ...]
    document: str
    created_at: float
    dedupe: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class PutObject:
    """Insert, or replace the document of, a post-like object (Create / Update).

    A new object that apps show as a status (``status``: not a poll vote) gets its
    client-API status row, and its ``tags`` (hashtag names, lowercased, no '#') index
    it for tag timelines, in the same transaction."""

    id: str
    type: str
    attributed_to: str | None
    in_reply_to: str | None
    context: str | None
    visibility: Visibility
    audience: tuple[str, ...]
    local: bool
    document: str
    published: str | None
    created_at: float
    tags: tuple[str, ...] = ()
    status: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class TombstoneObject:
    id: str
    document: str
    deleted_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AddToInbox:
    """Show an activity in a local actor's inbox collection."""

    owner: str
    activity_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutFollow:
    follower: str
    followee: str
    activity_id: str
    state: FollowState
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SetFollowState:
    follower: str
    followee: str
    state: FollowState


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteFollow:
    follower: str
    followee: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutReaction:
    kind: ReactionKind
    actor: str
    object_id: str
    activity_id: str
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteReaction:
    kind: ReactionKind
    actor: str
    object_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutBlock:
    actor: str
    target: str
    activity_id: str
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteBlock:
    actor: str
    target: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutActor:
    actor: ActorRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteActor:
    """A remote actor deleted itself: forget its follows and stop delivering to it."""

    id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutKey:
    key_id: str
    owner: str
    pem: str
    fetched_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateAccount:
    account: AccountRecord
    actor: ActorRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateToken:
    token_hash: str
    username: str
    scopes: str
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SetDomainBlock:
    domain: str
    blocked: bool
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class EnqueueJob:
    """Queue a job. With ``dedupe_key`` it is skipped while an equal key is queued."""

    kind: str
    payload: str
    host: str | None
    run_at: float
    dedupe_key: str | None = None


Op = (
    PutActivity
    | ApiOp
    | OAuthOp
    | PutGroup
    | SetRole
    | PutProposal
    | AppendBallot
    | CloseProposal
    | PutRefusal
    | SetMeta
    | SetProposalDocument
    | PutObject
    | TombstoneObject
    | AddToInbox
    | PutFollow
    | SetFollowState
    | DeleteFollow
    | PutReaction
    | DeleteReaction
    | PutBlock
    | DeleteBlock
    | PutActor
    | DeleteActor
    | PutKey
    | CreateAccount
    | CreateToken
    | SetDomainBlock
    | EnqueueJob
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyResult:
    """``applied`` is False when a deduplicating PutActivity found its id already stored."""

    applied: bool
    job_ids: list[int] = field(default_factory=list)
