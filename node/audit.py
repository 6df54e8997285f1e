"""``mutual audit PROPOSAL_URL``: verify a decision without trusting the group's node.

Runs on any machine. It fetches the proposal, the group's key, the electorate and the
whole ledger over plain HTTP(S), then checks everything with the pure functions in
``protocol``: the group's proof on the Question, the electorate's hash, every ledger
entry's hash link and evidence, eligibility, one-member-one-ballot, and finally a
re-tally under the declared rule compared with the published result. Each problem is
reported with the ``seq`` it concerns; the exit status is 0 only when all is clean.

Verifying evidence is CPU-bound (an RSA verification or an Ed25519 proof per ballot),
so large ledgers are checked in a process pool across the machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from node.governance.common import parse_time
from protocol.decisions import DecisionError, tally
from protocol.evidence import EvidenceError, verify_evidence
from protocol.keys import multibase_to_public_key
from protocol.ledger import (
    GENESIS,
    chain_problems,
    counted_ballots,
    electorate_hash,
    hash_entry,
    supersede_problems,
)
from protocol.proofs import ProofError, proof_verification_method, verify_proof

__all__ = ["AuditReport", "audit", "run_audit"]

ACCEPT = "application/activity+json, application/ld+json"
_CHUNK = 2000
_MAX_PAGES = 10_000


@dataclass
class AuditReport:
    url: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def render(self) -> str:
        lines = [f"Audit of {self.url}", *(f"  {n}" for n in self.notes)]
        lines.extend(f"  PROBLEM {p}" for p in self.problems)
        verdict = "CLEAN" if self.clean else f"FAILED ({len(self.problems)} problems)"
        lines.append(f"VERDICT: {verdict}")
        return "\n".join(lines)


class AuditFetchError(Exception):
    pass


async def _get(session: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with session.get(url, headers={"Accept": ACCEPT}) as response:
            if response.status != 200:
                raise AuditFetchError(f"{url} answered {response.status}")
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise AuditFetchError(f"cannot fetch {url}: {exc}") from exc


def _check_chunk(entries: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """Evidence of a slice of the ledger (runs in a worker process)."""
    problems = []
    for entry in entries:
        try:
            verify_evidence(entry)
        except EvidenceError as exc:
            problems.append((int(entry.get("seq", 0)), f"{exc.reason}: {exc.message}"))
    return problems


async def _evidence_problems(entries: list[dict[str, Any]]) -> list[tuple[int, str]]:
    if len(entries) < 2 * _CHUNK:
        return _check_chunk(entries)
    loop = asyncio.get_running_loop()
    chunks = [entries[i:i + _CHUNK] for i in range(0, len(entries), _CHUNK)]
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = await asyncio.gather(
            *(loop.run_in_executor(pool, _check_chunk, chunk) for chunk in chunks))
    return [p for chunk in results for p in chunk]


async def _ledger(session: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    collection = await _get(session, url)
    entries: list[dict[str, Any]] = []
    page_ref = collection.get("first")
    seen = 0
    while page_ref is not None and seen < _MAX_PAGES:
        page = page_ref if isinstance(page_ref, dict) else await _get(session, page_ref)
        entries.extend(page.get("orderedItems", []))
        page_ref = page.get("next")
        seen += 1
    return entries


async def _group_key(session: aiohttp.ClientSession, question: Mapping[str, Any]) -> Any:
    group_id = question.get("attributedTo")
    method = proof_verification_method(question)
    if not isinstance(group_id, str) or method.split("#")[0] != group_id:
        raise ProofError("the proposal is not signed by its group", reason="proof-not-group")
    group = await _get(session, group_id)
    methods = group.get("assertionMethod")
    for item in methods if isinstance(methods, list) else [methods]:
        if isinstance(item, dict) and item.get("id") == method:
            return multibase_to_public_key(str(item.get("publicKeyMultibase")))
    raise ProofError(f"the group publishes no key {method}", reason="proof-key-unknown")


def _check_entries(report: AuditReport, question: Mapping[str, Any], url: str,
                   entries: list[dict[str, Any]], electorate: set[str]) -> None:
    end = parse_time(question.get("endTime"))
    for entry in entries:
        seq = entry.get("seq")
        if entry.get("proposal") != url:
            report.problems.append(f"seq {seq}: entry belongs to {entry.get('proposal')}")
        if entry.get("voter") not in electorate:
            report.problems.append(f"seq {seq}: voter {entry.get('voter')} is not in the "
                                   "electorate")
        received = parse_time(entry.get("received"))
        if received is None or end is None or received >= end:
            report.problems.append(f"seq {seq}: received {entry.get('received')} is not "
                                   f"before endTime {question.get('endTime')}")


def _compare(report: AuditReport, question: Mapping[str, Any], entries: list[dict[str, Any]],
             electorate: list[str]) -> None:
    options = [o.get("name") for o in question.get("oneOf", question.get("anyOf", []))]
    try:
        result = tally(rule=question.get("decisionRule", "majority"), options=options,
                       ballots=counted_ballots(entries), electorate_size=len(electorate),
                       quorum=float(question.get("quorum", 0)),
                       threshold=float(question.get("threshold", 0.5)))
    except (DecisionError, ValueError, TypeError) as exc:
        report.problems.append(f"tally: the ledger cannot be counted: {exc}")
        return
    counts = ", ".join(f"{name} {count}" for name, count in result.tally)
    report.notes.append(f"re-tally: {counts}; turnout {result.turnout}; "
                        f"outcome {result.outcome}")
    published = question.get("result")
    if not question.get("closed"):
        report.notes.append("the proposal is still open: no result to compare")
        return
    if not isinstance(published, dict):
        report.problems.append("result: the closed proposal publishes no result")
        return
    head = hash_entry(entries[-1]) if entries else GENESIS
    expected = {
        "outcome": result.outcome,
        "tally": [{"name": n, "count": c} for n, c in result.tally],
        "turnout": result.turnout,
        "quorumMet": result.quorum_met,
        "ledgerSize": len(entries),
        "ledgerHead": head,
        "electorateHash": electorate_hash(electorate),
        "electorateSize": len(electorate),
    }
    for key, value in expected.items():
        if published.get(key) != value:
            report.problems.append(f"result: published {key} {published.get(key)!r} but the "
                                   f"ledger gives {value!r}")


async def audit(session: aiohttp.ClientSession, url: str) -> AuditReport:
    report = AuditReport(url=url)
    try:
        question = await _get(session, url)
        try:
            verify_proof(question, await _group_key(session, question))
            report.notes.append("proposal: signed by its group")
        except ProofError as exc:
            report.problems.append(f"proposal proof: {exc.reason}: {exc.message}")
        electorate_doc = await _get(session, str(question.get("electorate")))
        electorate = [str(m) for m in electorate_doc.get("orderedItems", [])]
        if electorate_hash(electorate) != question.get("electorateHash"):
            report.problems.append("electorate: its hash does not match the proposal's")
        if len(electorate) != question.get("electorateSize"):
            report.problems.append("electorate: its size does not match the proposal's")
        report.notes.append(f"electorate: {len(electorate)} members")
        entries = await _ledger(session, str(question.get("ballots")))
    except AuditFetchError as exc:
        report.problems.append(f"fetch: {exc}")
        return report
    published = question.get("result") if isinstance(question.get("result"), dict) else {}
    head = published.get("ledgerHead") if question.get("closed") else None
    for seq, problem in chain_problems(entries, head=head) + supersede_problems(entries):
        report.problems.append(f"seq {seq}: {problem}")
    for seq, problem in await _evidence_problems(entries):
        report.problems.append(f"seq {seq}: evidence {problem}")
    _check_entries(report, question, url, entries, set(electorate))
    assurances = {a: sum(1 for e in entries if e.get("assurance") == a)
                  for a in ("voter-signed", "origin-attested")}
    report.notes.append(f"ledger: {len(entries)} entries ({assurances['voter-signed']} "
                        f"voter-signed, {assurances['origin-attested']} origin-attested)")
    _compare(report, question, entries, electorate)
    return report


async def run_audit(url: str) -> int:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        report = await audit(session, url)
    print(report.render())
    sys.stdout.flush()
    return 0 if report.clean else 1
