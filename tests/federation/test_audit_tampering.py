"""A dishonest admin edits the group node's database after a decision; the audit notices.

One real decision is made once for the module: a group on node A with members on A
(ana) and B (bo, cy) and a Mastodon-shaped member on a peer (mia, HTTP-signed only).
The ledger holds, in order: 1 ana Agree (voter-signed), 2 mia Disagree
(origin-attested), 3 bo Agree (voter-signed), 4 mia Agree (origin-attested,
supersedes 2); cy never votes. Then node A is stopped and its clean database kept
aside; each case restores it, rewrites it with :class:`tests.support.tamper.Tamper`,
restarts A on it and runs ``mutual audit`` from outside.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.federation.test_decisions import (
    iso_in,
    join,
    join_from_peer,
    mastodon_vote,
    proposal_in_inbox,
)
from tests.support.nodes import MutualNode, eventually, free_port
from tests.support.peer import Peer, key_for
from tests.support.tamper import Tamper, forged_entry, signed_entry

pytestmark = pytest.mark.federation

OPTIONS = ["Agree", "Abstain", "Disagree", "Block"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    node: MutualNode
    proposal: str
    group_id: str
    clean: Path
    cy: str
    cy_pem: str

    @property
    def db(self) -> Path:
        return self.node.data / "mutual.db"


@dataclass(frozen=True, slots=True, kw_only=True)
class Audit:
    status: int
    stdout: str
    stderr: str

    @property
    def problems(self) -> list[str]:
        return [line.strip().removeprefix("PROBLEM ") for line in self.stdout.splitlines()
                if line.strip().startswith("PROBLEM ")]

    def assert_failed(self) -> None:
        assert self.status == 1, self.stdout + self.stderr
        assert "VERDICT: FAILED" in self.stdout, self.stdout
        assert "Traceback" not in self.stderr, self.stderr

    def problem(self, start: str, *words: str) -> str:
        """The one problem starting with ``start`` (e.g. "seq 3: evidence") with ``words``."""
        found = [p for p in self.problems if p.startswith(start) and all(w in p for w in words)]
        assert found, f"no problem {start!r} with {words} in:\n{self.stdout}"
        return found[0]


def run_audit(url: str) -> Audit:
    done = subprocess.run([sys.executable, "-m", "node.cli", "audit", url],
                          capture_output=True, text=True, timeout=120, check=False)
    return Audit(status=done.returncode, stdout=done.stdout, stderr=done.stderr)


async def _decide(a: MutualNode, b: MutualNode) -> tuple[str, str, str, str]:
    """Make the module's decision; return the proposal, group, cy and cy's key PEM."""
    ana, bo, cy = a.member("ana"), b.member("bo"), b.member("cy")
    group_id = a.cli("group", "create", "garden", "--owner", "ana")
    await asyncio.gather(a.start(), b.start())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session, \
            Peer() as peer:
        a.session = b.session = session
        mia = peer.actor("mia")
        await join(bo, group_id, a)
        await join(cy, group_id, a)
        await join_from_peer(peer, mia, group_id, a)
        await bo.post({"type": "Question", "name": "Plant an orchard?", "endTime": iso_in(8),
                       "oneOf": [{"type": "Note", "name": n} for n in OPTIONS],
                       "decisionRule": "majority", "quorum": 0.5,
                       "to": [group_id], "audience": group_id})
        proposal = str((await eventually(lambda: proposal_in_inbox(ana)))["id"])

        async def ledger_has(size: int) -> None:
            async def check() -> bool:
                _, doc = await a.get(f"{proposal}/ballots")
                return bool(doc["totalItems"] == size)

            await eventually(check)

        async def from_mia(choice: str, n: int) -> None:
            reply = await peer.signed_post(f"{group_id}/inbox", mastodon_vote(
                mia, proposal, group_id, choice, n), actor=mia)
            assert reply.status == 202, reply

        await ana.post({"type": "Note", "name": "Agree", "inReplyTo": proposal})
        await ledger_has(1)
        await from_mia("Disagree", 1)
        await ledger_has(2)
        await bo.post({"type": "Note", "name": "Agree", "inReplyTo": proposal})
        await ledger_has(3)
        await from_mia("Agree", 2)
        await ledger_has(4)

        async def closed() -> bool:
            _, doc = await a.get(proposal)
            return bool(doc.get("closed"))

        await eventually(closed, within=30)
        _, cy_doc = await b.get(cy.actor_id)
    a.session = b.session = None
    return proposal, group_id, cy.actor_id, str(cy_doc["publicKey"]["publicKeyPem"])


@pytest.fixture(scope="module")
def decision(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Decision]:
    root = tmp_path_factory.mktemp("tampering")
    a = MutualNode(name="a", root=root, session=None)
    b = MutualNode(name="b", root=root, session=None)
    a.init()
    b.init()
    try:
        proposal, group_id, cy, cy_pem = asyncio.run(_decide(a, b))
    finally:
        a.stop()
        b.stop()
    made = Decision(node=a, proposal=proposal, group_id=group_id, clean=root / "clean.db",
                    cy=cy, cy_pem=cy_pem)
    with closing(sqlite3.connect(made.db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(made.db, made.clean)
    yield made
    a.stop()


@pytest.fixture
def tamper(decision: Decision) -> Tamper:
    """The clean database back in node A's data folder, loaded for editing."""
    for suffix in ("-wal", "-shm"):
        decision.db.with_name(decision.db.name + suffix).unlink(missing_ok=True)
    shutil.copyfile(decision.clean, decision.db)
    return Tamper(decision.db, decision.proposal)


def audit_node(decision: Decision) -> Audit:
    """Start node A on its (edited) database, audit the proposal, stop A."""
    decision.node.start_sync()
    try:
        return run_audit(decision.proposal)
    finally:
        decision.node.stop()


def test_untouched_decision_audits_clean(decision: Decision, tamper: Tamper) -> None:
    entries = tamper.entries
    assert [e["assurance"] for e in entries] == ["voter-signed", "origin-attested",
                                                 "voter-signed", "origin-attested"]
    assert [e["supersedes"] for e in entries] == [None, None, None, 2]
    assert tamper.result["outcome"] == "adopted"
    assert tamper.result["tally"][0] == {"name": "Agree", "count": 3}
    outcome = audit_node(decision)
    assert outcome.status == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout
    assert "4 entries (2 voter-signed, 2 origin-attested)" in outcome.stdout


def test_choices_edited_in_place_are_caught_at_that_entry(decision: Decision,
                                                          tamper: Tamper) -> None:
    tamper.sql("UPDATE ledger SET entry=json_set(entry, '$.choices', json('[\"Disagree\"]'))"
               " WHERE proposal=? AND seq=3", decision.proposal)
    outcome = audit_node(decision)
    outcome.assert_failed()
    outcome.problem("seq 3: evidence evidence-choice", "'Disagree'")
    outcome.problem("seq 4: prev", "is not the hash of entry 3")
    outcome.problem("result: published tally")


@pytest.mark.parametrize(("seq", "link"), [(2, "seq 3: prev"), (4, "seq 4: ledger head")])
def test_edited_entry_with_its_own_hash_recomputed_breaks_the_next_link(
        decision: Decision, tamper: Tamper, seq: int, link: str) -> None:
    tamper.entries[seq - 1]["choices"] = ["Block"]
    tamper.save()  # stores the edited entry's own hash, as a careful admin would
    outcome = audit_node(decision)
    outcome.assert_failed()
    outcome.problem(f"seq {seq}: evidence evidence-choice", "'Block'")
    outcome.problem(link, f"hash of entry {seq}")


def test_edit_the_evidence_does_not_cover_is_caught_by_the_chain(decision: Decision,
                                                                 tamper: Tamper) -> None:
    # bo's ballot is voter-signed: its proof says nothing about when it was received.
    tamper.entries[2]["received"] = tamper.entries[1]["received"]
    tamper.save()
    outcome = audit_node(decision)
    outcome.assert_failed()
    assert [p.split(":")[0] for p in outcome.problems] == ["seq 4"], outcome.stdout
    outcome.problem("seq 4: prev", "is not the hash of entry 3")


def test_removed_entry_is_caught_where_the_chain_breaks(decision: Decision,
                                                        tamper: Tamper) -> None:
    tamper.sql("DELETE FROM ledger WHERE proposal=? AND seq=3", decision.proposal)
    outcome = audit_node(decision)
    outcome.assert_failed()
    outcome.problem("seq 3: seq is 4, expected 3")
    outcome.problem("seq 3: prev", "is not the hash of entry 2")
    outcome.problem("result: published ledgerSize 4", "gives 3")


def test_removed_entry_with_the_chain_relinked_is_caught_by_the_signed_head(
        decision: Decision, tamper: Tamper) -> None:
    del tamper.entries[2]  # bo's ballot
    tamper.relink()
    tamper.save()
    outcome = audit_node(decision)
    outcome.assert_failed()
    outcome.problem("seq 3: ledger head", "is not the hash of entry 3")
    outcome.problem("result: published ledgerSize 4", "gives 3")


@pytest.mark.parametrize("relinked", [False, True])
def test_reordered_entries_are_caught(decision: Decision, tamper: Tamper,
                                      relinked: bool) -> None:
    entries = tamper.entries
    entries[1], entries[2] = entries[2], entries[1]
    if relinked:
        tamper.relink()
    tamper.save()
    outcome = audit_node(decision)
    outcome.assert_failed()
    if relinked:
        outcome.problem("seq 4: ledger head", "is not the hash of entry 4")
    else:
        outcome.problem("seq 2: seq is 3, expected 2")
        outcome.problem("seq 2: prev", "is not the hash of entry 1")
        outcome.problem("seq 3: seq is 2, expected 3")


def test_forged_ballot_inserted_and_republished_is_caught_by_its_evidence(
        decision: Decision, tamper: Tamper) -> None:
    # cy never voted. The admin makes up an origin-attested ballot for her with her
    # server's real public key, re-links the chain after it and re-signs a result that
    # counts it: only the signature, which the admin cannot make, gives it away.
    received = tamper.entries[1]["received"]
    tamper.entries.insert(2, forged_entry(decision.cy, decision.cy_pem, choice="Disagree",
                                          proposal=decision.proposal,
                                          group_id=decision.group_id, received=received))
    tamper.relink()
    tamper.republish()
    tamper.save()
    assert tamper.result["turnout"] == 4
    outcome = audit_node(decision)
    outcome.assert_failed()
    assert all(p.startswith("seq 3: evidence evidence-signature") for p in outcome.problems), \
        outcome.stdout


def test_genuine_ballot_from_outside_the_electorate_is_caught(decision: Decision,
                                                              tamper: Tamper) -> None:
    # eve really voted (her server's signature verifies) but was never a member.
    eve = "https://elsewhere.example/users/eve"
    tamper.entries.insert(2, signed_entry(
        eve, key_for("/users/eve"), proposal=decision.proposal, group_id=decision.group_id,
        choice="Disagree", received=tamper.entries[1]["received"]))
    tamper.relink()
    tamper.republish()
    tamper.save()
    outcome = audit_node(decision)
    outcome.assert_failed()
    assert outcome.problems == [f"seq 3: voter {eve} is not in the electorate"], outcome.stdout


def _set_tally(tamper: Tamper, agree: int) -> None:
    tamper.result["tally"][0] = {"name": "Agree", "count": agree}


def test_published_tally_changed_without_the_group_key_fails_its_proof(
        decision: Decision, tamper: Tamper) -> None:
    _set_tally(tamper, 2)
    tamper.save()
    outcome = audit_node(decision)
    outcome.assert_failed()
    outcome.problem("proposal proof:")
    outcome.problem("result: published tally", "'count': 2", "'count': 3")


@pytest.mark.parametrize(("change", "expected"), [
    (lambda t: _set_tally(t, 1), "result: published tally"),
    (lambda t: t.result.update(outcome="rejected"), "result: published outcome 'rejected'"),
    (lambda t: t.result.update(winners=["Disagree"]), "result: published winners"),
    (lambda t: t.document["oneOf"][2]["replies"].update(totalItems=2),
     "result: published count 2 for 'Disagree' but the ledger gives 0"),
    (lambda t: t.document.update(votersCount=2),
     "result: published votersCount 2 but the ledger gives 3"),
], ids=["tally", "outcome", "winners", "poll-count", "voters-count"])
def test_published_result_changed_and_re_signed_fails_the_re_tally(
        decision: Decision, tamper: Tamper, change: Callable[[Tamper], object],
        expected: str) -> None:
    change(tamper)
    tamper.resign()
    tamper.save()
    outcome = audit_node(decision)
    outcome.assert_failed()
    assert outcome.problems, outcome.stdout
    assert all(p.startswith("result: published") for p in outcome.problems), outcome.stdout
    outcome.problem(expected)


def test_audit_of_an_unreachable_node_fails_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{free_port()}/groups/garden/proposals/1"
    outcome = run_audit(url)
    outcome.assert_failed()
    outcome.problem("fetch: cannot fetch", url)


@pytest.mark.usefixtures("tamper")  # the clean database
def test_audit_of_something_that_is_not_a_proposal_says_so(decision: Decision) -> None:
    decision.node.start_sync()
    try:
        group, ledger = run_audit(decision.group_id), run_audit(f"{decision.proposal}/ballots")
    finally:
        decision.node.stop()
    for outcome, kind in ((group, "Group"), (ledger, "OrderedCollection")):
        outcome.assert_failed()
        outcome.problem("proposal:", f"is a '{kind}', not a Question")
