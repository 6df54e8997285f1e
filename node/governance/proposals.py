"""Opening a proposal: a member's Create(Question) becomes the group's own Question.

The member proposes; the *group* publishes (``attributedTo`` = the group), so every
vote — including one from a stock Mastodon app — goes to the group's inbox, and the
group's node is the one place that tallies (DESIGN §3). The electorate is snapshotted
now, the closing job is queued in the same transaction, and the Question carries an
FEP-8b32 proof by the group's key.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from node.context import Node
from node.governance.common import (
    ACTION_TYPES,
    CLOSE,
    DOMAIN_ACTIONS,
    GOVERNING_GROUP,
    MUTUAL_CONTEXT,
    RULES,
    group_signer_ed25519,
    iso,
    members_of,
    parse_time,
)
from node.inbox.base import Refused
from node.outbox import prepare
from protocol.ledger import electorate_hash
from protocol.proofs import sign_proof
from protocol.vocab import PUBLIC, Activity, ObjectValue
from storage.governance import ProposalRecord, PutProposal
from storage.records import AccountRecord, EnqueueJob, Op

__all__ = ["open_proposal", "validate_proposal"]

MAX_OPTIONS = 20
MAX_DURATION = 90 * 24 * 3600.0
_DEFAULT_THRESHOLD = {"majority": 0.5, "supermajority": 2 / 3, "consensus": 0.5,
                      "approval": 0.0, "ranked": 0.5}


def _fraction(raw: Any, name: str, default: float) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise Refused(f"{name} must be a number between 0 and 1", reason=f"bad-{name}")
    if not 0 <= raw <= 1:
        raise Refused(f"{name} must be between 0 and 1", reason=f"bad-{name}")
    return float(raw)


def validate_proposal(raw: dict[str, Any], *, now: float, governing: bool
                      ) -> dict[str, Any]:
    """Check what a member proposes; returns the normalised terms or raises Refused."""
    rule = raw.get("decisionRule", "majority")
    if rule not in RULES:
        raise Refused(f"decisionRule must be one of {', '.join(RULES)}", reason="bad-rule")
    multiple = "anyOf" in raw
    choices = raw.get("anyOf") if multiple else raw.get("oneOf")
    if rule == "approval" and not multiple:
        raise Refused("approval voting needs anyOf options", reason="bad-rule")
    if rule != "approval" and multiple:
        raise Refused(f"{rule} needs oneOf options", reason="bad-rule")
    if not isinstance(choices, list) or not 2 <= len(choices) <= MAX_OPTIONS:
        raise Refused(f"a proposal needs 2 to {MAX_OPTIONS} options", reason="bad-options")
    names: list[str] = []
    for choice in choices:
        name = choice.get("name") if isinstance(choice, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise Refused("every option needs a name of 1-200 characters",
                          reason="bad-options")
        if name in names:
            raise Refused(f"option {name!r} is listed twice", reason="bad-options")
        names.append(name)
    end = parse_time(raw.get("endTime"))
    if end is None or end <= now:
        raise Refused("endTime must be a time in the future", reason="bad-end-time")
    if end - now > MAX_DURATION:
        raise Refused("a proposal may stay open for at most 90 days", reason="bad-end-time")
    action = raw.get("action")
    if action is not None:
        if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
            raise Refused(f"action type must be one of {', '.join(ACTION_TYPES)}",
                          reason="bad-action")
        if action["type"] in DOMAIN_ACTIONS and not governing:
            raise Refused("only the node's governing group may decide on domain blocks",
                          reason="not-governing")
        value = action.get("object", action.get("content"))
        if not isinstance(value, str) or not value or len(value) > 5000:
            raise Refused("the action needs an object (or content for rules)",
                          reason="bad-action")
        action = {"type": action["type"],
                  ("content" if action["type"] == "ChangeRules" else "object"): value}
    return {
        "rule": rule, "multiple": multiple, "options": names, "end": end,
        "quorum": _fraction(raw.get("quorum"), "quorum", 0.0),
        "threshold": _fraction(raw.get("threshold"), "threshold", _DEFAULT_THRESHOLD[rule]),
        "action": action,
    }


async def open_proposal(node: Node, group: AccountRecord, activity: Activity,
                        question: ObjectValue) -> list[Op]:
    """Ops that open a proposal sent to ``group`` by a member."""
    members = await members_of(node, group.actor_id)
    if activity.actor not in members:
        raise Refused("only members may propose", reason="not-a-member", status=403)
    governing = await node.store.get_meta(GOVERNING_GROUP) == group.actor_id
    terms = validate_proposal(dict(question.raw), now=node.now(), governing=governing)
    # The number is in the signed Question's id, so it is reserved before the proposal's
    # own transaction; the store hands each number out once, whatever the concurrency.
    number = await node.store.reserve_proposal_number(group.actor_id)
    proposal_id = node.urls.proposal(group.actor_id, number)
    electorate = sorted(members)
    followers = node.urls.followers(group.actor_id)
    record = await node.store.get_group(group.actor_id)
    public = record is None or not record.closed
    key = "anyOf" if terms["multiple"] else "oneOf"
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/activitystreams", MUTUAL_CONTEXT(node)],
        "id": proposal_id,
        "type": "Question",
        "attributedTo": group.actor_id,
        "proposer": activity.actor,
        "name": (question.name or "Proposal")[:500],
        "content": question.raw.get("content", "") if question.content else "",
        key: [{"type": "Note", "name": n, "replies": {"type": "Collection", "totalItems": 0}}
              for n in terms["options"]],
        "endTime": iso(terms["end"]),
        "votersCount": 0,
        "decisionRule": terms["rule"],
        "quorum": terms["quorum"],
        "threshold": terms["threshold"],
        "electorate": f"{proposal_id}/electorate",
        "electorateSize": len(electorate),
        "electorateHash": electorate_hash(electorate),
        "ballots": f"{proposal_id}/ballots",
        "published": iso(node.now()),
        "audience": group.actor_id,
        "to": [followers],
        "cc": [PUBLIC] if public else [],
    }
    if terms["action"] is not None:
        doc["action"] = terms["action"]
    from protocol.html import sanitize

    doc["content"] = sanitize(str(doc["content"]))
    method, key_obj = group_signer_ed25519(node, group)
    signed = sign_proof(doc, private_key=key_obj, verification_method=method,
                        created=datetime.now(UTC))
    create = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{proposal_id}/create",
        "type": "Create",
        "actor": group.actor_id,
        "object": signed,
        "to": doc["to"],
        "cc": doc["cc"],
        "audience": group.actor_id,
    }
    _, publish_ops = await prepare(node, group, create)
    proposal = ProposalRecord(
        id=proposal_id, group_id=group.actor_id, number=number, proposer=activity.actor,
        rule=terms["rule"], multiple=terms["multiple"], options=tuple(terms["options"]),
        end_time=terms["end"], quorum=terms["quorum"], threshold=terms["threshold"],
        electorate_size=len(electorate), electorate_hash=doc["electorateHash"], state="open",
        action=terms["action"], document=json.dumps(signed), result=None,
        created_at=node.now(),
    )
    close = EnqueueJob(kind=CLOSE, payload=json.dumps({"proposal": proposal_id}), host=None,
                       run_at=terms["end"], dedupe_key=f"close:{proposal_id}")
    return [PutProposal(proposal=proposal, electorate=tuple(electorate)), close, *publish_ops]
