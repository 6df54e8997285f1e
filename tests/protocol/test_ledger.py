"""The ballot ledger: hash chain, superseding ballots, the ballots that count.

Each entry's evidence is tested in ``test_evidence.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.canonical import jcs, sha256_tagged
from protocol.decisions import (
    GENESIS,
    Ballot,
    InvalidBallot,
    chain_problems,
    counted_ballots,
    electorate_hash,
    final_ballots,
    hash_entry,
    supersede_problems,
    tally,
)

PROPOSAL = "https://coop.example/groups/garden/proposals/17"
Entry = dict[str, Any]


def link(records: list[Entry]) -> list[Entry]:
    """Number records 1.. and chain them with prev, as the group's node appends them."""
    entries: list[Entry] = []
    prev = GENESIS
    for seq, record in enumerate(records, start=1):
        entry = {"type": "BallotRecord", **record, "seq": seq, "prev": prev}
        entries.append(entry)
        prev = hash_entry(entry)
    return entries


def record(voter: str, choice: str, supersedes: int | None = None) -> Entry:
    return {
        "proposal": PROPOSAL,
        "voter": voter,
        "choices": [choice],
        "supersedes": supersedes,
        "assurance": "origin-attested",
        "received": "2026-12-01T10:00:00Z",
    }


def sample_ledger(size: int) -> list[Entry]:
    return link([record(f"https://n{i % 3}.example/u/{i}", "Agree") for i in range(size)])


# -- hashes ------------------------------------------------------------------------------


def test_entry_hash_is_sha256_over_jcs() -> None:
    entry = {"seq": 1, "b": [1, 2], "a": "x"}
    assert hash_entry(entry) == sha256_tagged(b'{"a":"x","b":[1,2],"seq":1}')
    assert GENESIS == "sha256:" + "0" * 64


def test_electorate_hash_ignores_order_and_repeats() -> None:
    members = ["https://b.example/u/2", "https://a.example/u/1"]
    assert electorate_hash(members) == electorate_hash([*reversed(members), members[0]])
    assert electorate_hash(members) == sha256_tagged(jcs(sorted(members)))
    assert electorate_hash(members) != electorate_hash(members[:1])


# -- the chain ---------------------------------------------------------------------------


def test_an_intact_chain_has_no_problems() -> None:
    entries = sample_ledger(5)
    assert chain_problems(entries, head=hash_entry(entries[-1])) == []
    assert chain_problems([], head=GENESIS) == []


def test_an_edited_entry_is_named_by_the_next_seq() -> None:
    entries = sample_ledger(5)
    entries[2]["choices"] = ["Disagree"]
    problems = chain_problems(entries)
    assert [seq for seq, _ in problems] == [4]
    assert "not the hash of entry 3" in problems[0][1]


def test_an_edited_last_entry_is_caught_by_the_head() -> None:
    entries = sample_ledger(3)
    head = hash_entry(entries[-1])
    entries[-1]["choices"] = ["Disagree"]
    assert chain_problems(entries) == []
    assert chain_problems(entries, head=head) == [
        (3, f"ledger head {head} is not the hash of entry 3")
    ]


def test_a_fully_relinked_forgery_is_caught_only_by_the_head() -> None:
    entries = sample_ledger(4)
    head = hash_entry(entries[-1])
    forged = link([{k: v for k, v in e.items() if k not in ("seq", "prev")} for e in entries])
    forged[1]["choices"] = ["Block"]
    forged = link([{k: v for k, v in e.items() if k not in ("seq", "prev")} for e in forged])
    assert [seq for seq, _ in chain_problems(forged, head=head)] == [4]


def test_malformed_entries_are_reported_not_raised() -> None:
    entries: list[Any] = [*sample_ledger(2), "junk"]
    entries[0]["seq"] = True
    entries[1]["big"] = 2**60
    problems = chain_problems(entries)
    assert problems[0] == (1, "seq is True, expected 1")
    assert (
        2,
        "entry cannot be hashed: value has no RFC 8785 form: "
        f"{2**60} exceeds safe integer domain for JSON floats",
    ) in problems
    assert problems[-1] == (3, "entry is not a JSON object")


MUTATIONS = ("edit", "remove", "swap", "insert")


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 9), st.data())
def test_chain_problems_name_the_seq_where_the_chain_breaks(size: int, data: st.DataObject) -> None:
    entries = sample_ledger(size)
    head = hash_entry(entries[-1])
    mutation = data.draw(st.sampled_from(MUTATIONS))
    k = data.draw(st.integers(1, size - 1 if mutation == "swap" else size))  # 1-based
    if mutation == "edit":
        entries[k - 1]["choices"] = ["Disagree"]
        expected = k + 1 if k < size else size  # the next prev, or the head
    elif mutation == "remove":
        del entries[k - 1]
        expected = k if k < size else size - 1
    elif mutation == "swap":
        entries[k - 1], entries[k] = entries[k], entries[k - 1]
        expected = k
    else:  # a competent forger: right seq and prev, but the next entry no longer links
        prev = hash_entry(entries[k - 2]) if k > 1 else GENESIS
        forged = {
            **record("https://evil.example/u/x", "Block"),
            "type": "BallotRecord",
            "seq": k,
            "prev": prev,
        }
        entries.insert(k - 1, forged)
        expected = k + 1
    problems = chain_problems(entries, head=head)
    assert problems, mutation
    assert min(seq for seq, _ in problems) == expected, (mutation, k, problems)


# -- superseding -------------------------------------------------------------------------


def test_a_later_ballot_replaces_the_earlier_one() -> None:
    entries = link(
        [
            record("https://a.example/u/ana", "Agree"),
            record("https://b.example/u/bo", "Disagree"),
            record("https://a.example/u/ana", "Block", supersedes=1),
            record("https://a.example/u/ana", "Abstain", supersedes=3),
        ]
    )
    final = final_ballots(entries)
    assert {voter: entry["seq"] for voter, entry in final.items()} == {
        "https://b.example/u/bo": 2,
        "https://a.example/u/ana": 4,
    }
    assert list(final) == ["https://b.example/u/bo", "https://a.example/u/ana"]
    assert supersede_problems(entries) == []


@pytest.mark.parametrize(
    ("supersedes", "fragment"),
    [
        (None, "supersedes None but https://a.example/u/ana's previous ballot is 1"),
        (2, "supersedes 2 but https://a.example/u/ana's previous ballot is 1"),
        ("1", "supersedes '1' is not a seq"),
    ],
)
def test_a_wrong_supersedes_is_reported(supersedes: object, fragment: str) -> None:
    entries = link(
        [
            record("https://a.example/u/ana", "Agree"),
            record("https://b.example/u/bo", "Disagree"),
            {**record("https://a.example/u/ana", "Block"), "supersedes": supersedes},
        ]
    )
    assert supersede_problems(entries) == [(3, fragment)]
    assert final_ballots(entries)["https://a.example/u/ana"]["seq"] == 3


def test_a_first_ballot_must_not_supersede() -> None:
    entries = link([record("https://a.example/u/ana", "Agree", supersedes=1)])
    assert supersede_problems(entries) == [
        (1, "supersedes 1 but this is https://a.example/u/ana's first ballot")
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["Agree", "Disagree", "Abstain"])), max_size=30
    )
)
def test_replacing_ballots_never_counts_a_member_twice(raw: list[tuple[int, str]]) -> None:
    last: dict[str, int] = {}
    records = []
    for seq, (member, choice) in enumerate(raw, start=1):
        voter = f"https://m.example/u/{member}"
        records.append(record(voter, choice, supersedes=last.get(voter)))
        last[voter] = seq
    entries = link(records)
    assert supersede_problems(entries) == []
    final = final_ballots(entries)
    result = tally(
        rule="majority",
        options=("Agree", "Disagree", "Abstain"),
        ballots=counted_ballots(entries),
        electorate_size=6,
        quorum=0,
        threshold=0.5,
    )
    assert result.turnout == len({member for member, _ in raw})
    for voter, entry in final.items():
        assert entry["seq"] == last[voter]


def test_counted_ballots_read_choices_and_rankings_from_entries() -> None:
    entries = link(
        [
            record("https://a.example/u/ana", "Red"),
            {
                **record("https://b.example/u/bo", "Red"),
                "choices": None,
                "ranking": ["Blue", "Red"],
            },
            record("https://a.example/u/ana", "Green", supersedes=1),
        ]
    )
    assert counted_ballots(entries) == [
        Ballot(voter="https://b.example/u/bo", choices=(), ranking=("Blue", "Red")),
        Ballot(voter="https://a.example/u/ana", choices=("Green",)),
    ]
    with pytest.raises(InvalidBallot):
        Ballot.from_entry({**entries[0], "choices": "Red"})


def test_mastodon_multiple_choice_entries_add_to_the_ballot() -> None:
    ana = "https://a.example/u/ana"
    entries = link(
        [
            record(ana, "Red"),
            {**record(ana, "Blue", supersedes=1), "mode": "add"},
            {**record(ana, "Red", supersedes=2), "mode": "add"},
        ]
    )
    assert supersede_problems(entries) == []
    assert final_ballots(entries)[ana]["choices"] == ["Red", "Blue"]
    assert counted_ballots(entries) == [Ballot(voter=ana, choices=("Red", "Blue"))]
    replaced = link([*entries[:2], {**record(ana, "Green", supersedes=2), "mode": "replace"}])
    assert counted_ballots(replaced) == [Ballot(voter=ana, choices=("Green",))]
    odd = link([{**record(ana, "Red"), "mode": "merge"}])
    assert supersede_problems(odd) == [(1, "mode 'merge' is neither add nor replace")]
