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
import json
import os
import sys
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from node.governance.common import parse_time
from protocol.canonical import CanonicalizationError
from protocol.decisions import DecisionError, tally
from protocol.errors import ProtocolError
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
_POOL_THRESHOLD = 5000  # entries; below this a process pool costs more than it saves
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
            doc = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise AuditFetchError(f"cannot fetch {url}: {exc}") from exc
    if not isinstance(doc, dict):
        raise AuditFetchError(f"{url} did not answer with a JSON object")
    return doc


@dataclass(frozen=True, slots=True)
class Digested:
    """One ledger page, checked: each entry abridged to what the later checks need
    (everything but its evidence), its hash, and its evidence problem if any."""

    entries: list[Any]
    hashes: list[str | None]
    evidence: list[tuple[int, str]]  # (index in this page, problem)
    next: str | None
    well_formed: bool


def _digest_page(body: bytes) -> Digested:
    """Parse, hash and verify one page (in a worker process for large ledgers).

    The expensive part of an audit is per entry — a JSON parse, a JCS hash and an RSA or
    Ed25519 verification — so whole pages go to the workers as raw bytes and only the
    small abridged entries come back.
    """
    try:
        page = json.loads(body)
    except (ValueError, RecursionError):
        return Digested(entries=[], hashes=[], evidence=[], next=None, well_formed=False)
    items = page.get("orderedItems") if isinstance(page, dict) else None
    if not isinstance(items, list):
        return Digested(entries=[], hashes=[], evidence=[], next=None, well_formed=False)
    entries: list[Any] = []
    hashes: list[str | None] = []
    evidence: list[tuple[int, str]] = []
    for index, entry in enumerate(items):
        if not isinstance(entry, dict):
            entries.append(entry)
            hashes.append(None)
            continue
        try:
            hashes.append(hash_entry(entry))
        except CanonicalizationError:
            hashes.append(None)
        try:
            verify_evidence(entry)
        except EvidenceError as exc:
            evidence.append((index, f"{exc.reason}: {exc.message}"))
        entries.append({k: v for k, v in entry.items() if k != "evidence"})
    next_ref = page.get("next")
    return Digested(entries=entries, hashes=hashes, evidence=evidence,
                    next=next_ref if isinstance(next_ref, str) else None, well_formed=True)


@dataclass
class Ledger:
    entries: list[Any] = field(default_factory=list)
    hashes: list[str | None] = field(default_factory=list)
    evidence: list[tuple[int, str]] = field(default_factory=list)

    def add(self, digested: Digested) -> None:
        offset = len(self.entries)
        self.evidence.extend((offset + i + 1, p) for i, p in digested.evidence)
        self.entries.extend(digested.entries)
        self.hashes.extend(digested.hashes)


async def _page_bytes(session: aiohttp.ClientSession, url: str) -> tuple[bytes, str | None]:
    """A page's raw body and, when the server sends one, its ``Link: rel=next``."""
    try:
        async with session.get(url, headers={"Accept": ACCEPT}) as response:
            if response.status != 200:
                raise AuditFetchError(f"{url} answered {response.status}")
            body = await response.read()
            link = response.links.get("next")
            return body, str(link["url"]) if link else None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise AuditFetchError(f"cannot fetch {url}: {exc}") from exc


async def _ledger(session: aiohttp.ClientSession, url: str) -> Ledger:
    """Every page of the ledger, digested in order.

    Big ledgers are digested in a process pool while the next pages download (a Mutual
    node names the next page in a ``Link`` header, so nothing waits on parsing);
    small ones in this process, where a pool would cost more than it saves.
    """
    collection = await _get(session, url)
    first = collection.get("first")
    total = collection.get("totalItems")
    ledger = Ledger()
    if isinstance(first, dict):  # the first page embedded in the collection
        embedded = _digest_page(json.dumps(first).encode())
        ledger.add(embedded)
        first = embedded.next
    big = isinstance(total, int) and total > _POOL_THRESHOLD
    pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 2) if big else None
    loop = asyncio.get_running_loop()
    pages: list[Digested | asyncio.Future[Digested]] = []
    try:
        page_ref = first if isinstance(first, str) else None
        for _ in range(_MAX_PAGES):
            if page_ref is None:
                break
            body, next_ref = await _page_bytes(session, page_ref)
            if pool is not None and next_ref is not None:
                pages.append(loop.run_in_executor(pool, _digest_page, body))
                page_ref = next_ref
            else:
                digested = _digest_page(body)
                pages.append(digested)
                page_ref = next_ref or digested.next
        for page in pages:
            digested = page if isinstance(page, Digested) else await page
            if not digested.well_formed:
                raise AuditFetchError(f"a page of {url} has no list of orderedItems")
            ledger.add(digested)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return ledger


def _link(question: Mapping[str, Any], name: str) -> str:
    value = question.get(name)
    if not isinstance(value, str) or not value:
        raise AuditFetchError(f"the proposal has no {name} link")
    return value


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
                   entries: list[Any], electorate: set[str]) -> None:
    end = parse_time(question.get("endTime"))
    for seq, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            continue  # reported by chain_problems
        if entry.get("proposal") != url:
            report.problems.append(f"seq {seq}: entry belongs to {entry.get('proposal')}")
        if entry.get("voter") not in electorate:
            report.problems.append(f"seq {seq}: voter {entry.get('voter')} is not in the "
                                   "electorate")
        received = parse_time(entry.get("received"))
        if received is None or end is None or received >= end:
            report.problems.append(f"seq {seq}: received {entry.get('received')} is not "
                                   f"before endTime {question.get('endTime')}")


def _compare(report: AuditReport, question: Mapping[str, Any], entries: list[Any],
             electorate: list[str], hashes: list[str | None]) -> None:
    listed = question.get("oneOf", question.get("anyOf", []))
    options = [o.get("name") for o in listed if isinstance(o, dict)] if isinstance(
        listed, list) else []
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
    head = hashes[-1] if hashes else GENESIS  # None was reported by chain_problems
    expected = {
        "outcome": result.outcome,
        "tally": [{"name": n, "count": c} for n, c in result.tally],
        "turnout": result.turnout,
        "quorumMet": result.quorum_met,
        "ledgerSize": len(entries),
        "ledgerHead": head,
        "electorateHash": electorate_hash(electorate),
        "electorateSize": len(electorate),
        "winners": list(result.winners),
    }
    for key, value in expected.items():
        if published.get(key) != value:
            report.problems.append(f"result: published {key} {published.get(key)!r} but the "
                                   f"ledger gives {value!r}")
    _compare_poll(report, question, dict(result.tally), result.turnout)


def _compare_poll(report: AuditReport, question: Mapping[str, Any], counts: Mapping[str, int],
                  turnout: int) -> None:
    """The counts Mastodon and other apps show: each option's replies and votersCount."""
    if question.get("votersCount") != turnout:
        report.problems.append(f"result: published votersCount {question.get('votersCount')!r}"
                               f" but the ledger gives {turnout}")
    for option in question.get("oneOf", question.get("anyOf", [])):
        replies = option.get("replies") if isinstance(option, dict) else None
        shown = replies.get("totalItems") if isinstance(replies, dict) else None
        name = option.get("name") if isinstance(option, dict) else None
        if shown != counts.get(str(name), 0):
            report.problems.append(f"result: published count {shown!r} for {name!r} but the "
                                   f"ledger gives {counts.get(str(name), 0)}")


async def audit(session: aiohttp.ClientSession, url: str) -> AuditReport:
    report = AuditReport(url=url)
    try:
        question = await _get(session, url)
        if question.get("type") != "Question":
            report.problems.append(f"proposal: {url} is a {question.get('type')!r}, "
                                   "not a Question")
            return report
        try:
            verify_proof(question, await _group_key(session, question))
            report.notes.append("proposal: signed by its group")
        except ProtocolError as exc:  # ProofError, or a malformed group key
            report.problems.append(f"proposal proof: {exc.reason}: {exc.message}")
        electorate_doc = await _get(session, _link(question, "electorate"))
        members = electorate_doc.get("orderedItems", [])
        electorate = [str(m) for m in members] if isinstance(members, list) else []
        if electorate_hash(electorate) != question.get("electorateHash"):
            report.problems.append("electorate: its hash does not match the proposal's")
        if len(electorate) != question.get("electorateSize"):
            report.problems.append("electorate: its size does not match the proposal's")
        report.notes.append(f"electorate: {len(electorate)} members")
        ledger = await _ledger(session, _link(question, "ballots"))
    except AuditFetchError as exc:
        report.problems.append(f"fetch: {exc}")
        return report
    entries = ledger.entries
    published = question.get("result") if isinstance(question.get("result"), dict) else {}
    head = published.get("ledgerHead") if question.get("closed") else None
    chain = chain_problems(entries, head=head, hashes=ledger.hashes)
    for seq, problem in chain + supersede_problems(entries):
        report.problems.append(f"seq {seq}: {problem}")
    for seq, problem in ledger.evidence:
        report.problems.append(f"seq {seq}: evidence {problem}")
    _check_entries(report, question, url, entries, set(electorate))
    assurances = {a: sum(1 for e in entries if isinstance(e, dict) and e.get("assurance") == a)
                  for a in ("voter-signed", "origin-attested")}
    report.notes.append(f"ledger: {len(entries)} entries ({assurances['voter-signed']} "
                        f"voter-signed, {assurances['origin-attested']} origin-attested)")
    _compare(report, question, entries, electorate, ledger.hashes)
    return report


async def run_audit(url: str) -> int:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        report = await audit(session, url)
    print(report.render())
    sys.stdout.flush()
    return 0 if report.clean else 1
