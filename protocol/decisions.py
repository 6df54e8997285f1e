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

Errors::

    ProtocolError
    └── DecisionError
        ├── InvalidParameters     rule, options, quorum, threshold or electorate unusable
        ├── DuplicateVoter        two ballots from one voter (apply supersedes first)
        ├── UnknownOption         a ballot names an option the proposal does not have
        └── InvalidBallot         a ballot of the wrong shape for the rule
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, get_args

from protocol.errors import ProtocolError

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

Rule = Literal["majority", "supermajority", "consensus", "approval", "ranked"]
Outcome = Literal["adopted", "rejected", "no-quorum", "tie"]
Role = Literal["agree", "disagree", "abstain", "block"]
RULES: frozenset[str] = frozenset(get_args(Rule))

_ROLE_WORDS: Mapping[Role, tuple[str, ...]] = {
    "agree": ("agree", "yes", "for", "approve"),
    "disagree": ("disagree", "no", "against"),
    "abstain": ("abstain",),
    "block": ("block", "object"),
}
#: Case-folded option name -> role (see the module docstring).
ROLE_NAMES: Mapping[str, Role] = {w: role for role, words in _ROLE_WORDS.items() for w in words}

Counts = tuple[tuple[str, int], ...]


class DecisionError(ProtocolError):
    reason = "decision"


class InvalidParameters(DecisionError):
    reason = "decision-parameters"


class DuplicateVoter(DecisionError):
    reason = "decision-duplicate-voter"


class UnknownOption(DecisionError):
    reason = "decision-unknown-option"


class InvalidBallot(DecisionError):
    reason = "decision-ballot-shape"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ballot:
    """One voter's counted ballot: chosen option names, and a ranking for ``ranked``."""

    voter: str
    choices: tuple[str, ...]
    ranking: tuple[str, ...] = ()

    @classmethod
    def from_entry(cls, entry: Mapping[str, object]) -> Ballot:
        """The ballot a ledger ``BallotRecord`` records (DESIGN §3.1)."""
        voter = entry.get("voter")
        choices, ranking = _name_list(entry.get("choices")), _name_list(entry.get("ranking"))
        if not isinstance(voter, str) or choices is None or ranking is None:
            raise InvalidBallot(f"ledger entry {entry.get('seq')!r} is not a ballot record")
        return cls(voter=voter, choices=choices, ranking=ranking)


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionResult:
    """The outcome and the numbers behind it; ``tally`` and ``rounds`` in option order.

    ``winners`` is non-empty only when ``outcome`` is ``adopted``. ``reason`` is a
    short human sentence for result notes and audit output.
    """

    outcome: Outcome
    tally: Counts
    turnout: int
    electorate_size: int
    quorum_met: bool
    winners: tuple[str, ...]
    rounds: tuple[Counts, ...]
    reason: str


def option_role(name: str) -> Role | None:
    """The role an option name plays in the rules, or None.

    >>> option_role(" YES "), option_role("Object"), option_role("Red")
    ('agree', 'block', None)
    """
    return ROLE_NAMES.get(name.strip().casefold())


def required_turnout(quorum: float, electorate_size: int) -> int:
    """Ballots needed for quorum: ceil(quorum * electorate), with quorum read as decimal.

    >>> required_turnout(0.5, 10), required_turnout(0.1, 10), required_turnout(0.3, 10)
    (5, 1, 3)
    """
    return math.ceil(_exact(quorum, "quorum") * electorate_size)


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
    share = _exact(threshold, "threshold")
    counted = _check_ballots(rule, names, ballots)
    counts = _count(rule, names, counted)
    outcome: Outcome
    winners: tuple[str, ...]
    rounds: tuple[Counts, ...] = ()
    if len(counted) < needed:
        outcome, winners = "no-quorum", ()
        reason = f"turnout {len(counted)} of {electorate_size} is below the quorum of {needed}"
    elif rule == "ranked":
        outcome, winners, rounds, reason = _instant_runoff(names, counted)
    elif rule == "approval":
        outcome, winners, reason = _approval(names, counts)
    elif rule == "consensus":
        outcome, winners, reason = _consensus(names, counts)
    else:
        outcome, winners, reason = _majority(names, counts, share, strict=rule == "majority")
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


# -- the rules ---------------------------------------------------------------------------

Decided = tuple[Outcome, tuple[str, ...], str]


def _majority(
    names: tuple[str, ...], counts: Mapping[str, int], threshold: Fraction, *, strict: bool
) -> Decided:
    candidates = [n for n in names if option_role(n) != "abstain"]
    voting = sum(counts[n] for n in candidates)
    if voting == 0:
        return "rejected", (), "no non-abstaining ballots"
    word = f"{'more than' if strict else 'at least'} {float(threshold):.4g}"

    def passes(votes: int) -> bool:
        share = Fraction(votes, voting)
        return share > threshold if strict else share >= threshold

    agree_options = tuple(n for n in names if option_role(n) == "agree")
    if agree_options or any(option_role(n) == "disagree" for n in names):
        agree = sum(counts[n] for n in agree_options)
        against = voting - agree
        summary = f"{agree} for, {against} against"
        if passes(agree):
            return "adopted", agree_options, f"{summary}: {word} in favour"
        if agree == against:
            return "tie", (), f"{summary}: tied"
        return "rejected", (), f"{summary}: not {word} in favour"
    ranked = sorted(candidates, key=lambda n: -counts[n])
    top = ranked[0]
    tied_top = len(ranked) > 1 and counts[ranked[1]] == counts[top]
    if tied_top:
        return "tie", (), f"{top} and {ranked[1]} are tied at {counts[top]}"
    if passes(counts[top]):
        return "adopted", (top,), f"{top} has {counts[top]} of {voting}: {word}"
    return "rejected", (), f"{top} has {counts[top]} of {voting}: not {word}"


def _consensus(names: tuple[str, ...], counts: Mapping[str, int]) -> Decided:
    blocks = sum(counts[n] for n in names if option_role(n) == "block")
    if blocks:
        return "rejected", (), f"blocked by {blocks} ballot{'s' if blocks > 1 else ''}"
    agree_options = tuple(n for n in names if option_role(n) == "agree")
    voting = sum(counts[n] for n in names if option_role(n) != "abstain")
    if voting == 0:
        return "rejected", (), "no non-abstaining ballots"
    agree = sum(counts[n] for n in agree_options)
    against = voting - agree
    summary = f"no blocks, {agree} for, {against} against"
    if agree > against:
        return "adopted", agree_options, summary
    if agree == against:
        return "tie", (), f"{summary}: tied"
    return "rejected", (), summary


def _approval(names: tuple[str, ...], counts: Mapping[str, int]) -> Decided:
    candidates = [n for n in names if option_role(n) != "abstain"]
    best = max((counts[n] for n in candidates), default=0)
    if best == 0:
        return "rejected", (), "no option was approved"
    top = [n for n in candidates if counts[n] == best]
    if len(top) > 1:
        return "tie", (), f"{', '.join(top)} are tied at {best} approvals"
    return "adopted", (top[0],), f"{top[0]} has the most approvals ({best})"


def _instant_runoff(
    names: tuple[str, ...], ballots: Sequence[Ballot]
) -> tuple[Outcome, tuple[str, ...], tuple[Counts, ...], str]:
    preferences = [[n for n in _preferences(b) if option_role(n) != "abstain"] for b in ballots]
    continuing = [n for n in names if option_role(n) != "abstain"]
    first_round: dict[str, int] = {}
    rounds: list[Counts] = []
    while continuing:
        counts = dict.fromkeys(continuing, 0)
        active = 0
        for prefs in preferences:
            choice = next((n for n in prefs if n in counts), None)
            if choice is not None:
                counts[choice] += 1
                active += 1
        if not rounds:
            first_round = counts
        rounds.append(tuple((n, counts[n]) for n in continuing))
        round_no = len(rounds)
        if active == 0:
            return "rejected", (), tuple(rounds), "every ballot is exhausted"
        leader = max(continuing, key=lambda n: counts[n])
        if 2 * counts[leader] > active:
            reason = f"{leader} has {counts[leader]} of {active} in round {round_no}"
            return "adopted", (leader,), tuple(rounds), reason
        if len({counts[n] for n in continuing}) == 1:
            reason = f"{', '.join(continuing)} are tied at {counts[leader]} in round {round_no}"
            return "tie", (), tuple(rounds), reason
        # Fewest votes; then fewer first-round votes; then later in option order.
        loser = min(
            continuing,
            key=lambda n: (counts[n], first_round[n], -names.index(n)),
        )
        continuing.remove(loser)
    return "rejected", (), tuple(rounds), "no candidate options"


# -- ballots -----------------------------------------------------------------------------


def _name_list(value: object) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(value)
    return None


def _preferences(ballot: Ballot) -> tuple[str, ...]:
    return ballot.ranking or ballot.choices


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
            chosen = _preferences(ballot)[:1]
        else:
            chosen = (ballot.choices or ballot.ranking)[:1]
        for name in chosen:
            counts[name] += 1
    return counts


def _exact(value: float, name: str) -> Fraction:
    """Read a JSON number as the decimal it was written as (repr is the shortest round trip)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise InvalidParameters(f"{name} {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameters(f"{name} {value!r} is not finite")
    exact = value if isinstance(value, Fraction) else Fraction(repr(value))
    if not 0 <= exact <= 1:
        raise InvalidParameters(f"{name} {value!r} is not between 0 and 1")
    return exact
