"""Values for groups and decisions: rows read back and write operations.

The ledger is append-only and its order is decided inside the database transaction
(``AppendBallot``): the engine assigns ``seq``, links ``prev`` to the previous entry's
hash and sets ``supersedes``, all under the writer's lock, so two ballots racing each
other can never get the same place or both count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AlreadyClosed",
    "AppendBallot",
    "BallotRejected",
    "CloseProposal",
    "CountedBallot",
    "GroupRecord",
    "LedgerRow",
    "ProposalRecord",
    "PutGroup",
    "PutProposal",
    "PutRefusal",
    "RefusalRecord",
    "SetMeta",
    "SetProposalDocument",
    "SetRole",
]


class BallotRejected(Exception):
    """Raised inside the transaction when a ballot may not be appended (closed, late)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class AlreadyClosed(Exception):
    """The proposal was closed by someone else first: this close must not happen."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupRecord:
    actor_id: str
    closed: bool
    rules: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalRecord:
    id: str
    group_id: str
    number: int
    proposer: str
    rule: str
    multiple: bool
    options: tuple[str, ...]
    end_time: float
    quorum: float
    threshold: float
    electorate_size: int
    electorate_hash: str
    state: str
    action: dict[str, Any] | None
    document: str
    result: dict[str, Any] | None
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerRow:
    seq: int
    voter: str
    entry: str
    hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CountedBallot:
    """What the tally needs of a ledger entry, without its (large) evidence."""

    seq: int
    voter: str
    choices: tuple[str, ...]
    ranking: tuple[str, ...]
    mode: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalRecord:
    proposal: str
    voter: str
    reason: str
    activity_id: str
    received: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PutGroup:
    actor_id: str
    closed: bool
    rules: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetRole:
    group_id: str
    actor: str
    role: str
    present: bool
    created_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PutProposal:
    """A new proposal with its electorate: the members when it opened."""

    proposal: ProposalRecord
    electorate: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AppendBallot:
    """Append ``entry`` (without seq, prev, supersedes) to the proposal's ledger.

    With ``merge`` the new choices are added to the voter's counted ones (a stock
    Mastodon multiple-choice vote arrives as one activity per option).
    """

    proposal: str
    voter: str
    entry: dict[str, Any]
    received: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CloseProposal:
    """Close an open proposal; the whole operation list fails if it is already closed,
    which is what makes closing (and its binding action) happen exactly once."""

    id: str
    result: dict[str, Any]
    document: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetProposalDocument:
    """Refresh an open proposal's published document (live counts)."""

    id: str
    document: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PutRefusal:
    refusal: RefusalRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMeta:
    key: str
    value: str | None
