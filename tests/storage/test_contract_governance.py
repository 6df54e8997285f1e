"""Contract: groups, proposals and the append-only ballot ledger.

Covers ``PutGroup``, ``SetRole``, ``PutProposal``, ``AppendBallot``, ``CloseProposal``,
``SetProposalDocument``, ``PutRefusal`` and ``SetMeta`` and the reads ``get_group``,
``group_roles``, ``get_proposal``, ``reserve_proposal_number``, ``ledger``,
``ledger_size``, ``refusals``, ``in_electorate``, ``electorate``, ``counted_ballots``,
``get_meta`` and ``latest_proposal``. The ledger must verify with the same code an
auditor runs (``protocol.ledger.chain_problems``): the engine, not the caller, assigns
``seq``, ``prev`` and ``supersedes``.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from protocol.ledger import GENESIS, chain_problems, hash_entry
from storage.governance import (
    AlreadyClosed,
    BallotRejected,
    CloseProposal,
    PutGroup,
    PutProposal,
    PutRefusal,
    RefusalRecord,
    SetMeta,
    SetProposalDocument,
    SetRole,
)
from storage.store import AlreadyExists, Store
from tests.storage.builders import T0, account, actor_id, ballot, delivery, group, proposal

ANA, BOB, CY = actor_id("ana"), actor_id("bob"), actor_id("cy")
GROUP = actor_id("gardeners", kind="group")
MEMBERS = (ANA, BOB, CY)


async def _setup(store: Store) -> str:
    """A group with three members and proposal #1 open until T0 + 3600."""
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    put = proposal(GROUP, 1, proposer=ANA, electorate=MEMBERS)
    await store.apply([put])
    return put.proposal.id


async def test_group_reads_back_and_put_group_updates_it(store: Store) -> None:
    assert await store.get_group(GROUP) is None
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    found = await store.get_group(GROUP)
    assert found is not None
    assert (found.actor_id, found.closed, found.rules) == (GROUP, False, "")
    await store.apply([PutGroup(actor_id=GROUP, closed=True, rules="<p>be kind</p>")])
    updated = await store.get_group(GROUP)
    assert updated is not None
    assert (updated.closed, updated.rules) == (True, "<p>be kind</p>")


async def test_roles_are_listed_in_the_order_granted_and_can_be_revoked(
        store: Store) -> None:
    await store.apply([account("ana"), *group("gardeners", owner=ANA, created_at=T0)])
    await store.apply([SetRole(group_id=GROUP, actor=CY, role="moderator", present=True,
                               created_at=T0 + 2),
                       SetRole(group_id=GROUP, actor=BOB, role="moderator", present=True,
                               created_at=T0 + 1),
                       SetRole(group_id=GROUP, actor=BOB, role="moderator", present=True,
                               created_at=T0 + 5)])  # granted twice: listed once
    assert await store.group_roles(GROUP, "moderator") == [ANA, BOB, CY]
    assert await store.group_roles(GROUP, "admin") == []
    await store.apply([SetRole(group_id=GROUP, actor=BOB, role="moderator", present=False,
                               created_at=T0 + 9)])
    assert await store.group_roles(GROUP, "moderator") == [ANA, CY]


async def test_proposal_reads_back_with_its_electorate(store: Store) -> None:
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    action = {"type": "SetRules", "content": "<p>no spam</p>"}
    put = proposal(GROUP, 1, proposer=ANA, electorate=(CY, ANA, BOB), action=action,
                   options=("adopt", "reject", "wait"))
    await store.apply([put])
    assert await store.get_proposal(put.proposal.id) == put.proposal
    assert await store.get_proposal(f"{GROUP}/proposals/99") is None
    assert await store.electorate(put.proposal.id) == sorted(MEMBERS)
    assert await store.in_electorate(put.proposal.id, BOB)
    assert not await store.in_electorate(put.proposal.id, actor_id("latecomer"))


async def test_proposal_id_and_number_are_unique(store: Store) -> None:
    pid = await _setup(store)
    with pytest.raises(AlreadyExists):
        await store.apply([proposal(GROUP, 1, proposer=BOB, electorate=(BOB,))])
    same_number = proposal(GROUP, 1, proposer=BOB, electorate=(BOB,))
    renamed = dataclasses.replace(same_number.proposal, id=f"{GROUP}/proposals/other")
    with pytest.raises(AlreadyExists):
        await store.apply([PutProposal(proposal=renamed, electorate=(BOB,))])
    assert await store.get_proposal(renamed.id) is None
    assert await store.electorate(pid) == sorted(MEMBERS)


async def test_proposal_numbers_are_handed_out_once_per_group(store: Store) -> None:
    await store.apply([account("ana"), *group("gardeners", owner=ANA),
                       *group("cooks", owner=ANA)])
    numbers = [await store.reserve_proposal_number(GROUP) for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert await store.reserve_proposal_number(actor_id("cooks", kind="group")) == 1


async def test_reserving_a_number_for_a_non_group_fails(store: Store) -> None:
    with pytest.raises(LookupError):
        await store.reserve_proposal_number(actor_id("nobody", kind="group"))


async def test_ballots_form_a_hash_chain_with_supersedes(store: Store) -> None:
    pid = await _setup(store)
    for op in [ballot(pid, ANA, ["yes"]), ballot(pid, BOB, ["no"]),
               ballot(pid, ANA, ["no"], received=T0 + 120)]:
        await store.apply([op])
    rows = await store.ledger(pid, 0, 100)
    entries = [json.loads(r.entry) for r in rows]
    assert [r.seq for r in rows] == [1, 2, 3]
    assert [r.voter for r in rows] == [ANA, BOB, ANA]
    assert [r.hash for r in rows] == [hash_entry(e) for e in entries]
    assert chain_problems(entries, head=rows[-1].hash) == []
    assert entries[0]["prev"] == GENESIS
    assert [e["supersedes"] for e in entries] == [None, None, 1]
    assert [e["choices"] for e in entries] == [["yes"], ["no"], ["no"]]
    assert await store.ledger_size(pid) == 3


async def test_ledger_pages_after_a_seq(store: Store) -> None:
    pid = await _setup(store)
    for voter in [*MEMBERS, ANA, BOB]:
        await store.apply([ballot(pid, voter, ["yes"])])
    assert [r.seq for r in await store.ledger(pid, 0, 2)] == [1, 2]
    assert [r.seq for r in await store.ledger(pid, 2, 2)] == [3, 4]
    assert [r.seq for r in await store.ledger(pid, 4, 2)] == [5]
    assert await store.ledger(pid, 5, 2) == []
    assert await store.ledger(f"{GROUP}/proposals/2", 0, 10) == []
    assert await store.ledger_size(f"{GROUP}/proposals/2") == 0


async def test_counted_ballots_carry_the_vote_and_the_ledger_head(store: Store) -> None:
    pid = await _setup(store)
    assert await store.counted_ballots(pid) == ([], GENESIS)
    await store.apply([ballot(pid, ANA, ["yes"], ranking=["yes", "no"])])
    await store.apply([ballot(pid, BOB, ["no"], mode="add")])
    counted, head = await store.counted_ballots(pid)
    rows = await store.ledger(pid, 0, 10)
    assert head == rows[-1].hash
    assert [(c.seq, c.voter, c.choices, c.ranking, c.mode) for c in counted] == [
        (1, ANA, ("yes",), ("yes", "no"), "replace"), (2, BOB, ("no",), (), "add")]


async def test_ballot_after_the_end_time_is_rejected_with_what_came_with_it(
        store: Store) -> None:
    pid = await _setup(store)
    with pytest.raises(BallotRejected) as refused:
        await store.apply([ballot(pid, ANA, ["yes"], received=T0 + 3600),
                           delivery(kind="proposal_counts")])
    assert refused.value.reason == "vote-closed"
    assert await store.ledger_size(pid) == 0
    assert await store.count_jobs("proposal_counts") == 0


async def test_ballot_on_an_unknown_proposal_is_rejected(store: Store) -> None:
    with pytest.raises(BallotRejected) as refused:
        await store.apply([ballot(f"{GROUP}/proposals/404", ANA, ["yes"])])
    assert refused.value.reason == "no-such-proposal"


async def test_close_happens_once_and_then_refuses_ballots(store: Store) -> None:
    pid = await _setup(store)
    await store.apply([ballot(pid, ANA, ["yes"])])
    result = {"outcome": "yes", "counts": {"yes": 1, "no": 0}}
    await store.apply([CloseProposal(id=pid, result=result, document='{"closed": true}')])
    closed = await store.get_proposal(pid)
    assert closed is not None
    assert (closed.state, closed.result, closed.document) == (
        "closed", result, '{"closed": true}')
    with pytest.raises(AlreadyClosed):
        await store.apply([CloseProposal(id=pid, result={"outcome": "no"}, document="{}"),
                           SetMeta(key="closed-twice", value="yes")])
    assert await store.get_meta("closed-twice") is None
    still = await store.get_proposal(pid)
    assert still is not None
    assert still.result == result
    with pytest.raises(BallotRejected) as refused:
        await store.apply([ballot(pid, BOB, ["no"])])
    assert refused.value.reason == "vote-closed"


async def test_document_refresh_applies_only_while_open(store: Store) -> None:
    pid = await _setup(store)
    await store.apply([SetProposalDocument(id=pid, document='{"votersCount": 2}')])
    found = await store.get_proposal(pid)
    assert found is not None
    assert found.document == '{"votersCount": 2}'
    await store.apply([CloseProposal(id=pid, result={}, document='{"final": true}')])
    await store.apply([SetProposalDocument(id=pid, document='{"votersCount": 3}')])
    final = await store.get_proposal(pid)
    assert final is not None
    assert final.document == '{"final": true}'


async def test_refusals_are_kept_in_arrival_order(store: Store) -> None:
    pid = await _setup(store)
    late = RefusalRecord(proposal=pid, voter=BOB, reason="vote-closed",
                         activity_id="https://remote.example/a/1", received=T0 + 4000)
    outsider = RefusalRecord(proposal=pid, voter=actor_id("eve", host="remote.example"),
                             reason="not-in-electorate",
                             activity_id="https://remote.example/a/2", received=T0 + 10)
    await store.apply([PutRefusal(refusal=late)])
    await store.apply([PutRefusal(refusal=outsider)])
    assert await store.refusals(pid) == [late, outsider]
    assert await store.refusals(f"{GROUP}/proposals/2") == []


async def test_meta_is_set_replaced_and_cleared(store: Store) -> None:
    assert await store.get_meta("governing_group") is None
    await store.apply([SetMeta(key="governing_group", value=GROUP)])
    assert await store.get_meta("governing_group") == GROUP
    await store.apply([SetMeta(key="governing_group", value=actor_id("cooks", kind="group"))])
    assert await store.get_meta("governing_group") == actor_id("cooks", kind="group")
    await store.apply([SetMeta(key="governing_group", value=None)])
    assert await store.get_meta("governing_group") is None


async def test_latest_proposal_is_the_proposers_highest_number(store: Store) -> None:
    await store.apply([account("ana"), *group("gardeners", owner=ANA)])
    for number, proposer in [(1, ANA), (2, BOB), (3, ANA), (4, BOB)]:
        await store.apply([proposal(GROUP, number, proposer=proposer, electorate=MEMBERS)])
    assert await store.latest_proposal(GROUP, ANA) == f"{GROUP}/proposals/3"
    assert await store.latest_proposal(GROUP, BOB) == f"{GROUP}/proposals/4"
    assert await store.latest_proposal(GROUP, CY) is None
