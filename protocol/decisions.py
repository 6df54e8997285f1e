"""Decision rules: how a group's counted ballots become an outcome (DESIGN §3).

These are Mutual's protocol rules. Any node that audits a decision re-tallies with
exactly these semantics, so they are written here for other implementers.

Inputs. ``options`` are the proposal's option names in the Question's order. Each
ballot is the voter's final counted ballot (one per voter; see ``protocol.ledger``):
``choices`` (option names) and, for ranked ballots, ``ranking`` (most preferred first).
Names must match an option exactly; an unknown name is a caller bug (UnknownOption).
``quorum`` and ``threshold`` are fractions in [0, 1], read as the exact decimal
numbers written in JSON (0.1 means 1/10) and compared in exact rational arithmetic.

Option roles, by name, ignoring case and surrounding spaces:
agree = Agree | Yes | For | Approve; disagree = Disagree | No | Against;
abstain = Abstain; block = Block | Object. Other names have no role.

Quorum (every rule): turnout is the number of ballots, abstentions included. If
turnout < ceil(quorum * electorate_size) the outcome is ``no-quorum`` and nothing else
is decided (the tally is still reported).

An abstain-role option is never a candidate under any rule: its ballots count towards
turnout only. "Non-abstaining ballots" below are the other ballots.

majority: when some option has the agree or disagree role, let agree = ballots for
agree-role options and against = the other non-abstaining ballots (disagree, block and
role-less options all count against). agree / non-abstaining > threshold -> adopted
(winners = the agree-role options); else agree == against -> tie; else rejected.
When no option has either role ("Red", "Blue", "Green"), the option with the most
votes wins if its share of non-abstaining ballots is > threshold and no other option
has as many -> adopted (winners = that option); else if the top two are equal -> tie;
else rejected.

supermajority: as majority, but adopted when the share is >= threshold (callers pass
the threshold, e.g. 2/3).

consensus: any ballot for a block-role option -> rejected. Otherwise agree > against
-> adopted; agree == against -> tie; else rejected. ``threshold`` is not used.

With no non-abstaining ballots, majority, supermajority and consensus reject.

approval (anyOf): a ballot may choose several options; each option's count is the
number of ballots choosing it. The highest count wins: one option at the top ->
adopted; several -> tie; no candidate chosen at all -> rejected. ``threshold`` is not
used.

ranked (instant-runoff): a ballot's preference list is its ``ranking``, or, when that
is empty, its single choice (a plain Mastodon vote is a first preference). Each round
counts every continuing ballot for its highest-ranked continuing option. An option
with more than half of the continuing ballots wins (adopted). If every continuing
option has the same count -> tie. Otherwise the option with the fewest votes is
eliminated; among equally few, the one with fewer first-round votes, then the one
later in option order. A ballot with no continuing option left is exhausted and drops
out; if every ballot is exhausted -> rejected. ``rounds`` records each round's counts
for the options still continuing, in option order. ``threshold`` is not used.

Ballot shape: majority, supermajority and consensus need exactly one choice per ballot
(the ranking's first entry stands in when ``choices`` is empty); approval needs at
least one choice; an option repeated within a ballot is refused (InvalidBallot).

This module is the public API; the rest of the code imports only from here. Behind it:
``protocol.decisions_common`` (the names, the ballot and result records, the errors and
the quorum arithmetic) and ``protocol.decisions_rules`` (one function per rule).

Errors::

    ProtocolError
    └── DecisionError
        ├── InvalidParameters     rule, options, quorum, threshold or electorate unusable
        ├── DuplicateVoter        two ballots from one voter (apply supersedes first)
        ├── UnknownOption         a ballot names an option the proposal does not have
        └── InvalidBallot         a ballot of the wrong shape for the rule
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from protocol.decisions_common import (
    ROLE_NAMES,
    RULES,
    Ballot,
    Counts,
    DecisionError,
    DecisionResult,
    DuplicateVoter,
    InvalidBallot,
    InvalidParameters,
    Outcome,
    Role,
    Rule,
    UnknownOption,
    exact_fraction,
    option_role,
    preference_list,
    required_turnout,
)
from protocol.decisions_rules import approval, consensus, instant_runoff, majority

# The ledger and its evidence are their own modules (one concern each); they are
# re-exported so that ``protocol.decisions`` is the one import for governance code.
from protocol.evidence import EvidenceError, verify_evidence
from protocol.ledger import (
    GENESIS,
    chain_problems,
    counted_ballots,
    electorate_hash,
    final_ballots,
    hash_entry,
    supersede_problems,
)

__all__ = [
    "GENESIS",
    "ROLE_NAMES",
    "RULES",
    "Ballot",
    "DecisionError",
    "DecisionResult",
    "DuplicateVoter",
    "EvidenceError",
    "InvalidBallot",
    "InvalidParameters",
    "Outcome",
    "Role",
    "Rule",
    "UnknownOption",
    "chain_problems",
    "counted_ballots",
    "electorate_hash",
    "final_ballots",
    "hash_entry",
    "option_role",
    "required_turnout",
    "supersede_problems",
    "tally",
    "verify_evidence",
]


def tally(
    *,
    rule: Rule,
    options: Sequence[str],
    ballots: Iterable[Ballot],
    electorate_size: int,
    quorum: float,
    threshold: float,
) -> DecisionResult:
    """Count ``ballots`` under ``rule`` and decide (semantics in the module docstring)."""
    if rule not in RULES:
        raise InvalidParameters(f"unknown decision rule {rule!r}")
    names = tuple(options)
    if not names or len(set(names)) != len(names):
        raise InvalidParameters("options must be a non-empty list of distinct names")
    if isinstance(electorate_size, bool) or electorate_size < 0:
        raise InvalidParameters(f"electorate size {electorate_size!r} is not a count")
    needed = required_turnout(quorum, electorate_size)
    share = exact_fraction(threshold, "threshold")
    counted = _check_ballots(rule, names, ballots)
    counts = _count(rule, names, counted)
    outcome: Outcome
    winners: tuple[str, ...]
    rounds: tuple[Counts, ...] = ()
    if len(counted) < needed:
        outcome, winners = "no-quorum", ()
        reason = f"turnout {len(counted)} of {electorate_size} is below the quorum of {needed}"
    elif rule == "ranked":
        outcome, winners, rounds, reason = instant_runoff(names, counted)
    elif rule == "approval":
        outcome, winners, reason = approval(names, counts)
    elif rule == "consensus":
        outcome, winners, reason = consensus(names, counts)
    else:
        outcome, winners, reason = majority(names, counts, share, strict=rule == "majority")
    return DecisionResult(
        outcome=outcome,
        tally=tuple((name, counts[name]) for name in names),
        turnout=len(counted),
        electorate_size=electorate_size,
        quorum_met=len(counted) >= needed,
        winners=winners,
        rounds=rounds,
        reason=reason,
    )


# -- ballots -----------------------------------------------------------------------------


def _check_ballots(rule: Rule, names: tuple[str, ...], ballots: Iterable[Ballot]) -> list[Ballot]:
    known = set(names)
    seen: set[str] = set()
    counted: list[Ballot] = []
    for ballot in ballots:
        if ballot.voter in seen:
            raise DuplicateVoter(f"{ballot.voter} has more than one counted ballot")
        seen.add(ballot.voter)
        for field in (ballot.choices, ballot.ranking):
            unknown = [n for n in field if n not in known]
            if unknown:
                raise UnknownOption(f"{ballot.voter} chose unknown option {unknown[0]!r}")
            if len(set(field)) != len(field):
                raise InvalidBallot(f"{ballot.voter} names an option twice")
        if rule == "approval":
            if not ballot.choices:
                raise InvalidBallot(f"{ballot.voter}'s approval ballot chooses nothing")
        elif rule == "ranked":
            if not ballot.ranking and len(ballot.choices) != 1:
                raise InvalidBallot(f"{ballot.voter}'s unranked ballot must have one choice")
        elif len(ballot.choices or ballot.ranking[:1]) != 1:
            raise InvalidBallot(f"{ballot.voter}'s ballot must have exactly one choice")
        counted.append(ballot)
    return counted


def _count(rule: Rule, names: tuple[str, ...], ballots: Sequence[Ballot]) -> dict[str, int]:
    """Per-option counts reported as the tally: first preferences for ``ranked``."""
    counts = dict.fromkeys(names, 0)
    for ballot in ballots:
        if rule == "approval":
            chosen = ballot.choices
        elif rule == "ranked":
            chosen = preference_list(ballot)[:1]
        else:
            chosen = (ballot.choices or ballot.ranking)[:1]
        for name in chosen:
            counts[name] += 1
    return counts
