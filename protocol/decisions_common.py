"""What the decision rules and their callers share: names, records, errors, quorum.

The rule, outcome and role names, a voter's :class:`Ballot`, the :class:`DecisionResult`
of a tally, the errors, and the arithmetic of quorum and thresholds (fractions read as
the exact decimals written in JSON). ``protocol.decisions`` (the tally) and
``protocol.decisions_rules`` (the rules it applies) both build on them, and
``protocol.ledger`` turns ledger entries into ballots, so they live below all three.
The semantics are specified, normatively, in ``protocol.decisions``; the public names
are re-exported there, and should be imported from there (its docstring also draws
the tree of the errors defined here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, get_args

from protocol.errors import ProtocolError

__all__ = [
    "ROLE_NAMES",
    "RULES",
    "Ballot",
    "Counts",
    "DecisionError",
    "DecisionResult",
    "DuplicateVoter",
    "InvalidBallot",
    "InvalidParameters",
    "Outcome",
    "Role",
    "Rule",
    "UnknownOption",
    "exact_fraction",
    "option_role",
    "preference_list",
    "required_turnout",
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
#: Case-folded option name -> role (see ``protocol.decisions``).
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
    return math.ceil(exact_fraction(quorum, "quorum") * electorate_size)


def _name_list(value: object) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(name, str) for name in value):
        return tuple(value)
    return None


def preference_list(ballot: Ballot) -> tuple[str, ...]:
    return ballot.ranking or ballot.choices


def exact_fraction(value: float, name: str) -> Fraction:
    """Read a JSON number as the decimal it was written as (repr is the shortest round trip)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        raise InvalidParameters(f"{name} {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidParameters(f"{name} {value!r} is not finite")
    exact = value if isinstance(value, Fraction) else Fraction(repr(value))
    if not 0 <= exact <= 1:
        raise InvalidParameters(f"{name} {value!r} is not between 0 and 1")
    return exact
