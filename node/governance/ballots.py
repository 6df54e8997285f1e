"""Ballots: a vote on a proposal, checked, then appended to its hash-chained ledger.

Two shapes arrive. A stock Mastodon vote is a ``Create(Note)`` with ``name`` (the
option) and ``inReplyTo`` (the Question), HTTP-signed by the voter's server: we keep
the raw request as evidence (``origin-attested``). A Mutual ballot has the same shape
plus an FEP-8b32 proof by the voter's own key (``voter-signed``), verifiable forever.
Mastodon sends one Create per option of a multiple-choice poll, so on an ``anyOf``
proposal such single-option, origin-attested ballots *add* to the voter's choices;
every other ballot replaces the voter's previous one.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any

from node.context import Node
from node.governance.common import COUNTS, iso_precise
from protocol.errors import ProtocolError
from protocol.keys import multibase_to_public_key, public_key_to_multibase, public_key_to_pem
from protocol.proofs import proof_verification_method, verify_proof
from protocol.vocab import Activity, ObjectValue
from storage.governance import AppendBallot, ProposalRecord
from storage.records import EnqueueJob, Op

__all__ = ["BallotRefused", "Evidence", "accept_ballot", "ballot_proposal"]

COUNTS_MARGIN = 1.0  # seconds after a window ends, for ballots committing at its edge


class BallotRefused(Exception):
    def __init__(self, message: str, *, reason: str, status: int = 422) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """The HTTP request a ballot came in, enough to re-verify its signature later."""

    method: str
    target: str
    scheme: str
    headers: dict[str, str]
    body: bytes
    key_id: str
    public_key: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "target": self.target,
            "scheme": self.scheme,
            "headers": self.headers,
            "body": base64.b64encode(self.body).decode(),
            "keyId": self.key_id,
            "publicKeyPem": public_key_to_pem(self.public_key),
        }


def ballot_proposal(node: Node, activity: Activity) -> str | None:
    """The local proposal this Create votes on, or None when it is not a vote."""
    if activity.type != "Create" or not activity.objects:
        return None
    targets = {o.in_reply_to for o in activity.objects}
    if len(targets) != 1:
        return None
    target = targets.pop()
    if not target or not node.urls.is_local(target) or "/proposals/" not in target:
        return None
    if not all(o.type == "Note" and o.name for o in activity.objects):
        return None
    return target


def _choices(objects: tuple[ObjectValue, ...]) -> tuple[list[str], list[str]]:
    choices = [o.name for o in objects if o.name]
    raw_ranking = objects[0].raw.get("ranking") if len(objects) == 1 else None
    ranking = [r for r in raw_ranking if isinstance(r, str)] if isinstance(
        raw_ranking, list) else []
    return choices, ranking


async def _voter_key(node: Node, voter: str, method: str) -> Any:
    actor = await node.resolve_actor(voter)
    methods = actor.raw.get("assertionMethod")
    for item in methods if isinstance(methods, list) else [methods]:
        if isinstance(item, dict) and item.get("id") == method:
            value = item.get("publicKeyMultibase")
            if isinstance(value, str):
                return multibase_to_public_key(value)
    raise BallotRefused(f"{voter} publishes no key {method}", reason="unknown-proof-key",
                        status=401)


def _check_choices(proposal: ProposalRecord, choices: list[str], ranking: list[str]) -> None:
    options = set(proposal.options)
    unknown = [c for c in [*choices, *ranking] if c not in options]
    if unknown:
        raise BallotRefused(f"not an option of this proposal: {unknown[0]!r}",
                            reason="unknown-option")
    if not choices:
        raise BallotRefused("a ballot needs at least one choice", reason="no-choice")
    if len(set(choices)) != len(choices) or len(set(ranking)) != len(ranking):
        raise BallotRefused("an option is chosen twice", reason="duplicate-choice")
    if not proposal.multiple and len(choices) > 1:
        raise BallotRefused("this proposal takes one option", reason="several-options")
    if ranking and proposal.rule != "ranked":
        raise BallotRefused("only ranked proposals take a ranking", reason="unexpected-ranking")
    if ranking and ranking[0] != choices[0]:
        raise BallotRefused("the chosen option must be the first preference",
                            reason="ranking-mismatch")


async def accept_ballot(node: Node, activity: Activity, proposal_id: str,
                        evidence: Evidence | None) -> list[Op]:
    """Check a ballot; return the ops that append it (and refresh live counts)."""
    proposal = await node.store.get_proposal(proposal_id)
    if proposal is None:
        raise BallotRefused("no such proposal", reason="no-such-proposal", status=404)
    received = node.now()
    voter = activity.actor
    if proposal.state != "open" or received >= proposal.end_time:
        raise BallotRefused("the vote has closed", reason="vote-closed")
    if not await node.store.in_electorate(proposal_id, voter):
        # Members who joined after the proposal opened are not in the snapshot either.
        raise BallotRefused("only members at the time the proposal opened may vote",
                            reason="not-in-electorate", status=403)
    for obj in activity.objects:
        if obj.attributed_to not in (None, voter):
            raise BallotRefused("a ballot must be attributed to its voter",
                                reason="ballot-not-voters", status=403)
    choices, ranking = _choices(activity.objects)
    _check_choices(proposal, choices, ranking)
    entry: dict[str, Any] = {
        "type": "BallotRecord",
        "proposal": proposal_id,
        "voter": voter,
        "ballot": activity.objects[0].id,
        "received": iso_precise(received),
    }
    if ranking:
        entry["ranking"] = ranking
    entry["choices"] = choices
    if "proof" in activity.raw:
        try:
            method = proof_verification_method(activity.raw)
        except ProtocolError as exc:
            raise BallotRefused(f"malformed proof: {exc}", reason="forged-proof",
                                status=401) from exc
        if method.split("#")[0] != voter:
            raise BallotRefused("the ballot is signed by someone other than its voter",
                                reason="signer-not-voter", status=401)
        key = await _voter_key(node, voter, method)
        try:
            verify_proof(activity.raw, key)
        except ProtocolError as exc:
            raise BallotRefused(f"the ballot's proof does not verify: {exc}",
                                reason="forged-proof", status=401) from exc
        entry["assurance"] = "voter-signed"
        entry["mode"] = "replace"
        entry["evidence"] = {"activity": dict(activity.raw), "verificationMethod": method,
                             "publicKeyMultibase": public_key_to_multibase(key)}
    elif evidence is not None:
        entry["assurance"] = "origin-attested"
        single = len(activity.objects) == 1
        entry["mode"] = "add" if proposal.multiple and single else "replace"
        entry["evidence"] = evidence.as_json()
    else:
        raise BallotRefused("a ballot needs a signature", reason="unsigned-ballot", status=401)
    # Live counts, batched: one job per proposal per window of counts_interval, run just
    # after the window ends (every update goes to every member's server, so a big
    # group must not get one per ballot). A single key per proposal would swallow a
    # ballot that lands while that job is running (its row still holds the key).
    interval = node.config.counts_interval
    window = math.floor(received / interval)
    counts = EnqueueJob(kind=COUNTS, payload=json.dumps({"proposal": proposal_id}), host=None,
                        run_at=(window + 1) * interval + min(interval, COUNTS_MARGIN),
                        dedupe_key=f"counts:{proposal_id}:{window}")
    return [AppendBallot(proposal=proposal_id, voter=voter, entry=entry, received=received),
            counts]
