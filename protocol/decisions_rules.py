"""The rules: how counts, or ranked ballots, become an outcome.

One function per rule family, each pure and given only what it decides on: the options
in order and their counts (majority and supermajority, consensus, approval) or the
ballots themselves (instant-runoff, which recounts them round after round). Checking
ballots, applying quorum and reporting the tally are the same for every rule and stay
in :func:`protocol.decisions.tally`, the one caller. What each rule decides is specified,
normatively, in the docstring of ``protocol.decisions``: a change here is a change to
Mutual's protocol and goes there, and into ``docs/decisions.md``, first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from protocol.decisions_common import Ballot, Counts, Outcome, option_role, preference_list

__all__ = ["Decided", "approval", "consensus", "instant_runoff", "majority"]

Decided = tuple[Outcome, tuple[str, ...], str]


def majority(
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


def consensus(names: tuple[str, ...], counts: Mapping[str, int]) -> Decided:
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


def approval(names: tuple[str, ...], counts: Mapping[str, int]) -> Decided:
    candidates = [n for n in names if option_role(n) != "abstain"]
    best = max((counts[n] for n in candidates), default=0)
    if best == 0:
        return "rejected", (), "no option was approved"
    top = [n for n in candidates if counts[n] == best]
    if len(top) > 1:
        return "tie", (), f"{', '.join(top)} are tied at {best} approvals"
    return "adopted", (top[0],), f"{top[0]} has the most approvals ({best})"


def instant_runoff(
    names: tuple[str, ...], ballots: Sequence[Ballot]
) -> tuple[Outcome, tuple[str, ...], tuple[Counts, ...], str]:
    preferences = [[n for n in preference_list(b) if option_role(n) != "abstain"] for b in ballots]
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
