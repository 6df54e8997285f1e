"""Group actors (FEP-1b12): membership, moderation and the Announce of members' posts.

A group is an account of kind ``group``. Members join with Follow (accepted at once for
open groups, by a moderator or a decision for closed ones) and leave with Undo. A
member's activity addressed to the group is wrapped, unmodified, in an ``Announce`` to
all members, so every receiver can verify it against its author. Moderators are the
group's ``attributedTo`` collection, changed with Add/Remove (as Lemmy does).

``react`` is called for every activity — from a remote inbox or from a local member's
outbox — and returns what the addressed local groups do about it.
"""

from __future__ import annotations

import json
import time

from node.accounts import create_account
from node.context import Node
from node.governance.ballots import BallotRefused, Evidence, accept_ballot, ballot_proposal
from node.governance.common import MODERATOR, is_member
from node.governance.proposals import open_proposal
from node.inbox.base import Refused
from node.inbox.posts import clean_document
from node.outbox import prepare
from node.urls import Urls
from protocol.vocab import PUBLIC, Activity, ObjectValue
from storage.governance import PutGroup, SetRole
from storage.records import (
    AccountRecord,
    DeleteFollow,
    Op,
    PutBlock,
    TombstoneObject,
)
from storage.store import Store

__all__ = ["BallotRefused", "create_group", "react"]

_ANNOUNCED = ("Create", "Update", "Delete")


async def create_group(store: Store, urls: Urls, name: str, *, owner: str,
                       closed: bool) -> AccountRecord:
    """A group with its owner as first moderator (and member)."""
    owner_account = await store.get_account(owner)
    if owner_account is None or owner_account.kind != "person":
        raise ValueError(f"no member named {owner!r} on this node")
    group = await create_account(store, urls, name, kind="group", manually_approves=closed,
                                 display_name=name)
    now = time.time()
    from storage.records import PutFollow

    await store.apply([
        PutGroup(actor_id=group.actor_id, closed=closed, rules=""),
        SetRole(group_id=group.actor_id, actor=owner_account.actor_id, role=MODERATOR,
                present=True, created_at=now),
        PutFollow(follower=owner_account.actor_id, followee=group.actor_id,
                  activity_id=f"{group.actor_id}#owner", state="accepted", created_at=now),
    ])
    return group


async def _addressed_groups(node: Node, activity: Activity) -> list[AccountRecord]:
    targets = set(activity.recipients)
    if activity.audience:
        targets.add(activity.audience)
    for obj in activity.objects:
        targets.update(obj.recipients)
        if obj.audience:
            targets.add(obj.audience)
    groups = []
    for target in sorted(targets):
        if target == PUBLIC or not node.urls.is_local(target) or "/groups/" not in target:
            continue
        account = await node.store.get_account_by_actor(target)
        if account is not None and account.kind == "group":
            groups.append(account)
    return groups


async def _announce(node: Node, group: AccountRecord, activity: Activity) -> list[Op]:
    record = await node.store.get_group(group.actor_id)
    public = record is None or not record.closed
    doc = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": node.urls.new_activity(),
        "type": "Announce",
        "actor": group.actor_id,
        # The member's activity as sent (FEP-1b12), but its HTML sanitised: this
        # Announce is stored, served and delivered as the group's own document, and
        # receivers check the relayed object against its origin anyway.
        "object": clean_document(activity.raw),
        "to": [node.urls.followers(group.actor_id)],
        "cc": [PUBLIC] if public else [],
        "audience": group.actor_id,
    }
    _, ops = await prepare(node, group, doc, effects=False)
    return ops


async def _moderate(node: Node, group: AccountRecord, activity: Activity
                    ) -> list[Op] | None:
    """A moderator's action on the group, or None when it is not one."""
    moderators = await node.store.group_roles(group.actor_id, MODERATOR)
    kind = activity.type
    if kind not in ("Delete", "Add", "Remove", "Block") or activity.actor not in moderators:
        return None
    target = activity.object_id or ""
    ops: list[Op]
    if kind == "Delete":
        record = await node.store.get_object(target)
        if record is None or record.attributed_to == activity.actor:
            return None  # an author deleting their own post: the ordinary path
        if group.actor_id not in record.audience:
            raise Refused("that post is not in this group", reason="not-in-group", status=403)
        from node.documents import tombstone

        doc = tombstone(target, record.type, node.now())
        ops = [TombstoneObject(id=target, document=json.dumps(doc), deleted_at=node.now())]
    elif kind in ("Add", "Remove") and activity.target == node.urls.moderators(group.actor_id):
        ops = [SetRole(group_id=group.actor_id, actor=target, role=MODERATOR,
                       present=kind == "Add", created_at=node.now())]
    elif kind == "Remove" or kind == "Block":
        ops = [DeleteFollow(follower=target, followee=group.actor_id)]
        if kind == "Block":
            ops.append(PutBlock(actor=group.actor_id, target=target, activity_id=activity.id,
                                created_at=node.now()))
    else:
        return None
    return ops + await _announce(node, group, activity)


def _is_proposal(activity: Activity) -> ObjectValue | None:
    obj = activity.object
    if activity.type == "Create" and isinstance(obj, ObjectValue) and obj.type == "Question":
        return obj
    return None


async def react(node: Node, activity: Activity, *, evidence: Evidence | None
                ) -> tuple[list[Op], bool]:
    """(ops, handled): what addressed local groups do; ``handled`` means the ordinary
    handler must not also run (a ballot is not a post; a proposal is republished)."""
    proposal_id = ballot_proposal(node, activity)
    if proposal_id is not None:
        return await accept_ballot(node, activity, proposal_id, evidence), True
    ops: list[Op] = []
    handled = False
    for group in await _addressed_groups(node, activity):
        if activity.actor == group.actor_id:
            continue  # the group's own publications
        moderation = await _moderate(node, group, activity)
        if moderation is not None:
            ops.extend(moderation)
            handled = True
            continue
        question = _is_proposal(activity)
        if question is not None:
            ops.extend(await open_proposal(node, group, activity, question))
            handled = True
            continue
        if activity.type not in _ANNOUNCED:
            continue
        if not await is_member(node, group.actor_id, activity.actor):
            if activity.type == "Delete":
                # Authors may always retract: a former member's Delete of their post in
                # the group is relayed; any other is left to the ordinary handler.
                if await _posted_in(node, group, activity):
                    ops.extend(await _announce(node, group, activity))
                continue
            raise Refused("only members may post to this group", reason="not-a-member",
                          status=403)
        ops.extend(await _announce(node, group, activity))
    return ops, handled


async def _posted_in(node: Node, group: AccountRecord, activity: Activity) -> bool:
    """Whether the Delete's object is the actor's own, live post in ``group``."""
    record = await node.store.get_object(activity.object_id or "")
    return (record is not None and record.deleted_at is None
            and record.attributed_to == activity.actor and group.actor_id in record.audience)
