"""Decision rules: each rule's outcomes, ties, quorum edges, and order independence."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.decisions import (
    Ballot,
    DecisionResult,
    DuplicateVoter,
    InvalidBallot,
    InvalidParameters,
    Rule,
    UnknownOption,
    option_role,
    required_turnout,
    tally,
)

AGREE = ("Agree", "Abstain", "Disagree", "Block")
COLOURS = ("Red", "Blue", "Green")


def votes(*choices: str | Sequence[str], start: int = 0) -> list[Ballot]:
    """One ballot per argument: a name is a single choice, a tuple several choices."""
    return [
        Ballot(
            voter=f"https://a.example/u/{start + i}",
            choices=(c,) if isinstance(c, str) else tuple(c),
        )
        for i, c in enumerate(choices)
    ]


def ranked(*rankings: Sequence[str]) -> list[Ballot]:
    return [
        Ballot(voter=f"https://r.example/u/{i}", choices=(r[0],), ranking=tuple(r))
        for i, r in enumerate(rankings)
    ]


def decide(
    rule: Rule,
    ballots: list[Ballot],
    *,
    options: Sequence[str] = AGREE,
    electorate: int | None = None,
    quorum: float = 0.0,
    threshold: float = 0.5,
) -> DecisionResult:
    return tally(
        rule=rule,
        options=options,
        ballots=ballots,
        electorate_size=len(ballots) if electorate is None else electorate,
        quorum=quorum,
        threshold=threshold,
    )


# -- roles and quorum --------------------------------------------------------------------


def test_roles_are_found_by_name_ignoring_case() -> None:
    assert [option_role(n) for n in ("YES", "for", "Approve", "agree")] == ["agree"] * 4
    assert [option_role(n) for n in ("No", "AGAINST", "disagree")] == ["disagree"] * 3
    assert [option_role(n) for n in ("abstain", "Block", "object")] == ["abstain", "block", "block"]
    assert option_role("Maybe") is None


def test_quorum_just_missed_is_no_quorum() -> None:
    result = decide(
        "majority", votes("Agree", "Agree", "Agree", "Abstain"), electorate=10, quorum=0.5
    )
    assert result.outcome == "no-quorum"
    assert not result.quorum_met
    assert result.turnout == 4
    assert result.electorate_size == 10
    assert result.tally == (("Agree", 3), ("Abstain", 1), ("Disagree", 0), ("Block", 0))
    assert result.winners == ()
    assert "below the quorum of 5" in result.reason


def test_quorum_just_met_counts_abstentions() -> None:
    result = decide(
        "majority",
        votes("Agree", "Agree", "Agree", "Abstain", "Abstain"),
        electorate=10,
        quorum=0.5,
    )
    assert result.quorum_met
    assert result.turnout == 5
    assert result.outcome == "adopted"
    assert result.winners == ("Agree",)


def test_quorum_is_read_as_the_decimal_written() -> None:
    # Float arithmetic would give ceil(0.1 * 10) == 2 and ceil(0.3 * 10) == 4.
    assert required_turnout(0.1, 10) == 1
    assert required_turnout(0.3, 10) == 3
    assert required_turnout(0.5, 23) == 12
    assert required_turnout(1, 7) == 7
    assert required_turnout(0, 7) == 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rule": "plurality"}, "rule"),
        ({"options": ()}, "options"),
        ({"options": ("Agree", "Agree")}, "options"),
        ({"quorum": 1.5}, "quorum"),
        ({"quorum": float("nan")}, "quorum"),
        ({"threshold": -0.1}, "threshold"),
        ({"electorate_size": -1}, "electorate"),
    ],
)
def test_unusable_parameters_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    args: dict[str, object] = {
        "rule": "majority",
        "options": AGREE,
        "ballots": [],
        "electorate_size": 3,
        "quorum": 0.5,
        "threshold": 0.5,
    }
    with pytest.raises(InvalidParameters, match=fragment):
        tally(**(args | kwargs))  # type: ignore[arg-type]


# -- majority and supermajority ----------------------------------------------------------


def test_majority_ignores_abstentions_in_the_share() -> None:
    result = decide("majority", votes("Agree", "Agree", "Disagree", "Abstain", "Abstain"))
    assert result.outcome == "adopted"
    assert result.reason.startswith("2 for, 1 against")


def test_majority_split_evenly_is_a_tie() -> None:
    result = decide("majority", votes("Agree", "Disagree", "Abstain"))
    assert result.outcome == "tie"
    assert result.winners == ()


def test_majority_short_of_threshold_is_rejected() -> None:
    assert decide("majority", votes("Agree", "Disagree", "Disagree")).outcome == "rejected"
    # Block counts against under majority.
    assert decide("majority", votes("Agree", "Agree", "Block", "Block", "Disagree")).outcome == (
        "rejected"
    )


def test_majority_with_everyone_abstaining_is_rejected() -> None:
    result = decide("majority", votes("Abstain", "Abstain"))
    assert result.outcome == "rejected"
    assert result.quorum_met


def test_majority_is_strictly_more_than_the_threshold() -> None:
    # 3 of 5 is 0.6: not more than 0.6.
    ballots = votes("Agree", "Agree", "Agree", "Disagree", "Disagree")
    assert decide("majority", ballots, threshold=0.6).outcome == "rejected"
    assert decide("supermajority", ballots, threshold=0.6).outcome == "adopted"


def test_supermajority_two_thirds_exactly_is_adopted() -> None:
    ballots = votes("Yes", "Yes", "No", "Abstain")
    result = decide("supermajority", ballots, options=("Yes", "No", "Abstain"), threshold=2 / 3)
    assert result.outcome == "adopted"
    assert result.winners == ("Yes",)
    one_short = votes("Yes", "No", "Yes", "No", "Yes")
    assert (
        decide("supermajority", one_short, options=("Yes", "No"), threshold=2 / 3).outcome
        == "rejected"
    )
    even = votes("Yes", "No")
    assert decide("supermajority", even, options=("Yes", "No"), threshold=2 / 3).outcome == "tie"


def test_majority_without_roles_needs_one_option_above_threshold() -> None:
    won = decide("majority", votes("Red", "Red", "Blue"), options=COLOURS)
    assert (won.outcome, won.winners) == ("adopted", ("Red",))
    assert won.tally == (("Red", 2), ("Blue", 1), ("Green", 0))
    plurality_only = decide("majority", votes("Red", "Red", "Blue", "Green"), options=COLOURS)
    assert plurality_only.outcome == "rejected"
    tied = decide("majority", votes("Red", "Blue", "Blue", "Red", "Green"), options=COLOURS)
    assert tied.outcome == "tie"
    assert "Red and Blue" in tied.reason


def test_majority_without_roles_lets_abstain_only_count_for_turnout() -> None:
    options = ("Red", "Blue", "Abstain")
    result = decide("majority", votes("Red", "Abstain", "Abstain", "Abstain"), options=options)
    assert (result.outcome, result.winners, result.turnout) == ("adopted", ("Red",), 4)


# -- consensus ---------------------------------------------------------------------------


def test_consensus_one_block_rejects_whatever_the_support() -> None:
    result = decide("consensus", votes("Agree", "Agree", "Agree", "Agree", "Block"))
    assert result.outcome == "rejected"
    assert result.reason == "blocked by 1 ballot"
    assert result.tally[3] == ("Block", 1)


def test_consensus_without_blocks() -> None:
    assert decide("consensus", votes("Agree", "Agree", "Disagree")).outcome == "adopted"
    assert decide("consensus", votes("Agree", "Disagree", "Abstain")).outcome == "tie"
    assert decide("consensus", votes("Agree", "Disagree", "Disagree")).outcome == "rejected"
    assert decide("consensus", votes("Abstain")).outcome == "rejected"


def test_consensus_respects_quorum_before_blocks() -> None:
    result = decide("consensus", votes("Block"), electorate=10, quorum=0.5)
    assert result.outcome == "no-quorum"


# -- approval ----------------------------------------------------------------------------


def test_approval_top_option_wins() -> None:
    ballots = votes(("Red", "Blue"), ("Blue",), ("Green", "Blue"), ("Red",))
    result = decide("approval", ballots, options=COLOURS)
    assert (result.outcome, result.winners) == ("adopted", ("Blue",))
    assert result.tally == (("Red", 2), ("Blue", 3), ("Green", 1))
    assert result.turnout == 4


def test_approval_tie_at_the_top() -> None:
    result = decide(
        "approval", votes(("Red", "Blue"), ("Blue", "Red"), ("Green",)), options=COLOURS
    )
    assert result.outcome == "tie"
    assert result.reason.startswith("Red, Blue are tied at 2")


def test_approval_without_ballots_is_rejected() -> None:
    assert decide("approval", [], options=COLOURS).outcome == "rejected"


def test_approval_ballot_must_choose_something() -> None:
    with pytest.raises(InvalidBallot):
        decide("approval", [Ballot(voter="x", choices=())], options=COLOURS)


# -- ranked (instant-runoff) -------------------------------------------------------------


def test_ranked_first_round_majority_wins_at_once() -> None:
    result = decide("ranked", ranked(("Red", "Blue"), ("Red",), ("Blue", "Red")), options=COLOURS)
    assert (result.outcome, result.winners) == ("adopted", ("Red",))
    assert result.rounds == ((("Red", 2), ("Blue", 1), ("Green", 0)),)


def test_ranked_one_elimination() -> None:
    ballots = ranked(
        ("Red", "Green"),
        ("Red",),
        ("Blue",),
        ("Blue", "Red"),
        ("Green", "Blue"),
        ("Blue",),
        ("Red", "Blue"),
    )
    # Round 1: Red 3, Blue 3, Green 1 of 7 -> Green out; its ballot goes to Blue.
    result = decide("ranked", ballots, options=COLOURS)
    assert result.rounds == (
        (("Red", 3), ("Blue", 3), ("Green", 1)),
        (("Red", 3), ("Blue", 4)),
    )
    assert (result.outcome, result.winners) == ("adopted", ("Blue",))
    assert result.tally == (("Red", 3), ("Blue", 3), ("Green", 1))


def test_ranked_two_eliminations_and_an_exhausted_ballot() -> None:
    options = ("A", "B", "C", "D")
    ballots = ranked(
        ("A",),
        ("A",),
        ("A",),
        ("B", "A"),
        ("B", "C"),
        ("B",),
        ("C", "D"),
        ("C", "B"),
        ("D",),
    )
    result = decide("ranked", ballots, options=options)
    # Round 1: A3 B3 C2 D1 -> D out, its ballot exhausts (no further preference).
    # Round 2 (8 continuing): A3 B3 C2 -> C out: one to D (gone, exhausts), one to B.
    # Round 3: A3 B4 of 7 continuing -> B has more than half.
    assert result.rounds == (
        (("A", 3), ("B", 3), ("C", 2), ("D", 1)),
        (("A", 3), ("B", 3), ("C", 2)),
        (("A", 3), ("B", 4)),
    )
    assert (result.outcome, result.winners) == ("adopted", ("B",))
    assert result.turnout == 9


def test_ranked_all_continuing_tied_is_a_tie() -> None:
    result = decide("ranked", ranked(("Red",), ("Blue",)), options=COLOURS)
    # Green (0) is eliminated first, then Red and Blue are level.
    assert result.outcome == "tie"
    assert len(result.rounds) == 2


def test_ranked_elimination_tie_breaks_on_first_round_then_option_order() -> None:
    options = ("A", "B", "C", "D")
    # Round 1: A2 B2 C1 D1 ... C and D level on 1: both have 1 first-round vote, so the
    # later option (D) goes first.
    ballots = ranked(("A",), ("A",), ("B",), ("B",), ("C", "B"), ("D", "A"))
    result = decide("ranked", ballots, options=options)
    assert [name for name, _ in result.rounds[1]] == ["A", "B", "C"]
    # Round 2: A3 B2 C1 -> C out -> B3: A3 B3 tie.
    assert result.outcome == "tie"


def test_ranked_a_plain_mastodon_vote_is_a_first_preference() -> None:
    ballots = [*votes("Blue", "Blue"), *ranked(("Red", "Blue"))]
    result = decide("ranked", ballots, options=COLOURS)
    assert (result.outcome, result.winners) == ("adopted", ("Blue",))


def test_ranked_with_every_ballot_exhausted_is_rejected() -> None:
    options = ("Red", "Blue", "Abstain")
    result = decide("ranked", votes("Abstain", "Abstain"), options=options)
    assert result.outcome == "rejected"
    assert result.reason == "every ballot is exhausted"


def test_ranked_unranked_ballot_needs_exactly_one_choice() -> None:
    with pytest.raises(InvalidBallot):
        decide("ranked", [Ballot(voter="x", choices=("Red", "Blue"))], options=COLOURS)


# -- ballots the caller should have refused ----------------------------------------------


def test_unknown_options_are_refused() -> None:
    with pytest.raises(UnknownOption, match="'Purple'") as err:
        decide("approval", votes(("Red", "Purple")), options=COLOURS)
    assert err.value.reason == "decision-unknown-option"
    with pytest.raises(UnknownOption):
        decide("ranked", ranked(("Red", "Purple")), options=COLOURS)
    with pytest.raises(UnknownOption):
        decide("majority", votes("agree"))  # names match exactly; roles ignore case


def test_two_ballots_from_one_voter_are_a_caller_bug() -> None:
    twice = [Ballot(voter="https://a.example/u/1", choices=("Agree",))] * 2
    with pytest.raises(DuplicateVoter):
        decide("majority", twice)


def test_single_choice_rules_refuse_several_choices_and_repeats() -> None:
    with pytest.raises(InvalidBallot):
        decide("majority", votes(("Agree", "Disagree")))
    with pytest.raises(InvalidBallot):
        decide("ranked", ranked(("Red", "Red")), options=COLOURS)


# -- properties --------------------------------------------------------------------------

RULES: tuple[Rule, ...] = ("majority", "supermajority", "consensus", "approval", "ranked")
OPTIONS = ("Agree", "Disagree", "Abstain", "Block", "Later")


@st.composite
def ballot_sets(draw: st.DrawFn) -> tuple[Rule, list[Ballot]]:
    rule = draw(st.sampled_from(RULES))
    count = draw(st.integers(min_value=0, max_value=12))
    ballots = []
    for i in range(count):
        if rule == "approval":
            choices = tuple(draw(st.sets(st.sampled_from(OPTIONS), min_size=1)))
            ballots.append(Ballot(voter=f"v{i}", choices=choices))
        elif rule == "ranked":
            ranking = tuple(draw(st.permutations(OPTIONS)))[: draw(st.integers(1, 5))]
            ballots.append(Ballot(voter=f"v{i}", choices=ranking[:1], ranking=ranking))
        else:
            ballots.append(Ballot(voter=f"v{i}", choices=(draw(st.sampled_from(OPTIONS)),)))
    return rule, ballots


@settings(max_examples=300, deadline=None)
@given(ballot_sets(), st.randoms(use_true_random=False), st.integers(0, 12))
def test_the_result_does_not_depend_on_ballot_order(
    case: tuple[Rule, list[Ballot]], rng: random.Random, electorate: int
) -> None:
    rule, ballots = case
    shuffled = list(ballots)
    rng.shuffle(shuffled)
    common = {
        "rule": rule,
        "options": OPTIONS,
        "electorate_size": max(electorate, len(ballots)),
        "quorum": 0.5,
        "threshold": 0.5,
    }
    first = tally(ballots=ballots, **common)  # type: ignore[arg-type]
    second = tally(ballots=shuffled, **common)  # type: ignore[arg-type]
    assert first == second
    assert first.turnout == len(ballots)
    assert (first.outcome == "adopted") == bool(first.winners)
