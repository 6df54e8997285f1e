"""Live counts and closing: tally the ledger, publish, and carry out the decision.

Both run as queued jobs. Closing is durable (queued when the proposal opens, so a
restart cannot skip it) and happens exactly once: ``CloseProposal`` fails when the
proposal is already closed, and the binding action, the result and its announcements
are in the same transaction as that state change.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from node.context import Node
from node.governance.actions import action_ops
from node.governance.common import group_signer_ed25519, iso
from node.outbox import prepare
from protocol.decisions import DecisionResult, tally
from protocol.ledger import counted_ballots
from protocol.proofs import sign_proof
from storage.governance import AlreadyClosed, CloseProposal, ProposalRecord, SetProposalDocument
from storage.records import AccountRecord, Op

__all__ = ["close_proposal", "publish_counts"]

log = logging.getLogger("mutual.governance")


async def _entries(node: Node, proposal_id: str) -> tuple[list[dict[str, Any]], str]:
    """The ledger's votes (without their evidence, which the tally does not need) and
    its head hash."""
    rows, head = await node.store.counted_ballots(proposal_id)
    return [{"seq": r.seq, "voter": r.voter, "choices": list(r.choices),
             "ranking": list(r.ranking), "mode": r.mode} for r in rows], head


def _result(proposal: ProposalRecord, entries: list[dict[str, Any]]) -> DecisionResult:
    return tally(rule=proposal.rule, options=proposal.options,  # type: ignore[arg-type]
                 ballots=counted_ballots(entries), electorate_size=proposal.electorate_size,
                 quorum=proposal.quorum, threshold=proposal.threshold)


def _question(node: Node, group: AccountRecord, proposal: ProposalRecord,
              result: DecisionResult, extra: dict[str, Any]) -> dict[str, Any]:
    """The proposal's Question with fresh counts, re-signed by the group."""
    doc = json.loads(proposal.document)
    doc.pop("proof", None)
    counts = dict(result.tally)
    key = "anyOf" if proposal.multiple else "oneOf"
    for option in doc.get(key, []):
        option["replies"] = {"type": "Collection", "totalItems": counts.get(option["name"], 0)}
    doc["votersCount"] = result.turnout
    doc["updated"] = iso(node.now())
    doc.update(extra)
    method, private = group_signer_ed25519(node, group)
    return sign_proof(doc, private_key=private, verification_method=method,
                      created=datetime.now(UTC))


async def _update_ops(node: Node, group: AccountRecord, question: dict[str, Any]
                      ) -> list[Op]:
    update = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": node.urls.new_activity(),
        "type": "Update",
        "actor": group.actor_id,
        "object": question,
        "to": question.get("to", []),
        "cc": question.get("cc", []),
        "audience": group.actor_id,
    }
    _, ops = await prepare(node, group, update)
    return ops


async def publish_counts(node: Node, proposal_id: str) -> None:
    """Batched live results, so Mastodon shows the poll's counts while it is open."""
    proposal = await node.store.get_proposal(proposal_id)
    if proposal is None or proposal.state != "open":
        return
    group = await node.store.get_account_by_actor(proposal.group_id)
    assert group is not None
    entries, _ = await _entries(node, proposal_id)
    question = _question(node, group, proposal, _result(proposal, entries), {})
    ops: list[Op] = [SetProposalDocument(id=proposal_id, document=json.dumps(question))]
    ops.extend(await _update_ops(node, group, question))
    await node.store.apply(ops)
    node.wake_delivery()


def _announcement(proposal: ProposalRecord, question: dict[str, Any],
                  result: DecisionResult) -> str:
    words = {"adopted": "was adopted", "rejected": "was rejected",
             "no-quorum": "did not reach its quorum", "tie": "ended in a tie"}
    tallies = ", ".join(f"{name}: {count}" for name, count in result.tally)
    return (f"<p>The proposal “{question.get('name', '')}” {words[result.outcome]}.</p>"
            f"<p>{tallies}. Turnout {result.turnout} of {proposal.electorate_size}.</p>"
            f"<p><a href=\"{proposal.id}\">{proposal.id}</a></p>")


async def close_proposal(node: Node, proposal_id: str) -> bool:
    """Close, tally, publish and act; False when there was nothing (left) to close."""
    proposal = await node.store.get_proposal(proposal_id)
    if proposal is None or proposal.state != "open":
        return False
    group = await node.store.get_account_by_actor(proposal.group_id)
    assert group is not None
    entries, head = await _entries(node, proposal_id)
    result = _result(proposal, entries)
    closed_at = iso(max(node.now(), proposal.end_time))
    result_doc: dict[str, Any] = {
        "type": "DecisionResult",
        "outcome": result.outcome,
        "decisionRule": proposal.rule,
        "quorum": proposal.quorum,
        "threshold": proposal.threshold,
        "tally": [{"name": name, "count": count} for name, count in result.tally],
        "turnout": result.turnout,
        "electorateSize": proposal.electorate_size,
        "quorumMet": result.quorum_met,
        "winners": list(result.winners),
        "ledgerSize": len(entries),
        "ledgerHead": head,
        "electorateHash": proposal.electorate_hash,
        "closedAt": closed_at,
    }
    question = _question(node, group, proposal, result,
                         {"closed": closed_at, "result": result_doc})
    ops: list[Op] = [CloseProposal(id=proposal_id, result=result_doc,
                                   document=json.dumps(question))]
    ops.extend(await _update_ops(node, group, question))
    note = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": node.urls.new_activity(),
        "type": "Create",
        "actor": group.actor_id,
        "object": {
            "id": node.urls.new_object(),
            "type": "Note",
            "attributedTo": group.actor_id,
            "content": _announcement(proposal, question, result),
            "inReplyTo": proposal_id,
            "published": closed_at,
            "to": question.get("to", []),
            "cc": question.get("cc", []),
            "audience": group.actor_id,
        },
        "to": question.get("to", []),
        "cc": question.get("cc", []),
        "audience": group.actor_id,
    }
    _, note_ops = await prepare(node, group, note)
    ops.extend(note_ops)
    if result.outcome == "adopted" and proposal.action is not None:
        ops.extend(await action_ops(node, group, proposal.action, proposal_id))
    try:
        await node.store.apply(ops)
    except AlreadyClosed:
        return False
    node.wake_delivery()
    log.info("closed %s: %s", proposal_id, result.outcome)
    return True
