"""Binding actions: what an adopted proposal does to its group or to the node.

They run inside the closing transaction, so they happen exactly once, and only when
the outcome is ``adopted``. Membership and moderator changes also tell the fediverse,
the way the same change made by a moderator would (Accept/Reject of a Follow,
Add/Remove on the moderators collection). New rules and domain blocks change this
node's state only: the group's actor document does not carry its rules yet.
"""

from __future__ import annotations

import json
from typing import Any

from node.context import Node
from node.governance.common import MODERATOR
from node.outbox import prepare
from protocol.vocab import host_of
from storage.governance import PutGroup, SetRole
from storage.records import (
    AccountRecord,
    DeleteFollow,
    Op,
    SetDomainBlock,
    SetFollowState,
)

__all__ = ["action_ops"]


async def _publish(node: Node, group: AccountRecord, kind: str, obj: Any,
                   to: list[str], **extra: Any) -> list[Op]:
    doc = {"@context": "https://www.w3.org/ns/activitystreams", "id": node.urls.new_activity(),
           "type": kind, "actor": group.actor_id, "object": obj, "to": to, **extra}
    _, ops = await prepare(node, group, doc, effects=False)
    return ops


async def action_ops(node: Node, group: AccountRecord, action: dict[str, Any],
                     proposal_id: str) -> list[Op]:
    kind = action["type"]
    target = action.get("object", "")
    followers = node.urls.followers(group.actor_id)
    now = node.now()
    if kind == "AdmitMember":
        follow = await node.store.get_follow(target, group.actor_id)
        if follow is None:
            return []  # nobody asked to join: there is no request to accept
        ops: list[Op] = [SetFollowState(follower=target, followee=group.actor_id,
                                        state="accepted")]
        obj = {"id": follow.activity_id, "type": "Follow", "actor": target,
               "object": group.actor_id}
        return ops + await _publish(node, group, "Accept", obj, [target])
    if kind == "RemoveMember":
        follow = await node.store.get_follow(target, group.actor_id)
        if follow is None:
            return []
        obj = {"id": follow.activity_id, "type": "Follow", "actor": target,
               "object": group.actor_id}
        return [DeleteFollow(follower=target, followee=group.actor_id),
                *await _publish(node, group, "Reject", obj, [target])]
    if kind in ("AppointModerator", "RemoveModerator"):
        present = kind == "AppointModerator"
        ops = [SetRole(group_id=group.actor_id, actor=target, role=MODERATOR,
                       present=present, created_at=now)]
        return ops + await _publish(node, group, "Add" if present else "Remove", target,
                                    [followers], target=node.urls.moderators(group.actor_id))
    if kind == "ChangeRules":
        record = await node.store.get_group(group.actor_id)
        closed = record.closed if record is not None else False
        return [PutGroup(actor_id=group.actor_id, closed=closed, rules=action["content"])]
    if kind in ("BlockDomain", "UnblockDomain"):
        domain = target.lower()
        if "://" in domain:
            domain = host_of(domain)
        return [SetDomainBlock(domain=domain, blocked=kind == "BlockDomain", created_at=now)]
    raise ValueError(f"unknown action {json.dumps(action)}")
