"""Local actions become activities: addressed, stored and queued in one transaction.

``prepare`` turns an activity a local actor authored into the list of write operations
that records it, applies its effects on this node (through the same handlers the inbox
uses, so a local like counts like a remote one), fills local inboxes and queues one
delivery per remote inbox — one per *shared* inbox where a host offers one. The caller
commits that list in one ``Store.apply``: a crash can never keep the activity and lose
its deliveries (DESIGN §4).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from node.context import Node
from node.fetcher import FetchError
from protocol.errors import ProtocolError
from protocol.vocab import PUBLIC, Activity, host_of, parse_activity, visibility_of
from storage.records import AccountRecord, AddToInbox, EnqueueJob, Op, PutActivity

__all__ = ["DELIVER", "prepare", "publish"]

DELIVER = "deliver"


async def publish(node: Node, account: AccountRecord, doc: dict[str, Any], *,
                  effects: bool = True) -> Activity:
    """Record and send an activity authored by ``account``; returns it parsed."""
    activity, ops = await prepare(node, account, doc, effects=effects)
    await node.store.apply(ops)
    node.wake_delivery()
    return activity


async def prepare(node: Node, account: AccountRecord, doc: dict[str, Any], *,
                  effects: bool = True) -> tuple[Activity, list[Op]]:
    # The handlers and the groups publish through this module: import them late.
    from node.api.notify import api_effects
    from node.groups import react
    from node.inbox.dispatch import local_recipients, run_handler

    activity = parse_activity(doc)
    followers = node.urls.followers(account.actor_id)
    visibility = visibility_of(activity.to, activity.cc, followers)
    # bto/bcc are for delivery only and never leave in the document (AS2 §5.1.1).
    stored = {k: v for k, v in doc.items() if k not in ("bto", "bcc")}
    ops: list[Op] = [
        PutActivity(
            id=activity.id, type=activity.type, actor=activity.actor,
            object_id=activity.object_id, local=True, visibility=visibility,  # type: ignore[arg-type]
            audience=activity.recipients, document=json.dumps(stored), created_at=node.now(),
            dedupe=False,
        )
    ]
    group_ops, handled = await react(node, activity, evidence=None)
    if effects and not handled:
        ops.extend(await run_handler(node, activity, local_origin=True))
    ops.extend(group_ops)
    owners = await local_recipients(node, activity)
    ops.extend(AddToInbox(owner=o, activity_id=activity.id) for o in owners
               if o != account.actor_id)
    ops.extend(await api_effects(node, activity, author=account))
    for inbox in await _remote_inboxes(node, account, activity):
        payload = json.dumps({"activity": activity.id, "inbox": inbox,
                              "signer": account.username})
        ops.append(EnqueueJob(kind=DELIVER, payload=payload, host=host_of(inbox),
                              run_at=node.now()))
    return activity, ops


# What still goes to an actor the author blocks: the block, its undo, and the Reject of
# their follow (as Mastodon does, so their server does not show it pending for ever).
_TO_THE_BLOCKED = frozenset({"Block", "Undo", "Reject"})


async def _remote_inboxes(node: Node, account: AccountRecord, activity: Activity) -> list[str]:
    """Where to POST: followers' shared inboxes plus each addressed remote actor.

    A personal inbox is dropped when the same host already gets the activity through its
    shared inbox: the receiving server routes by the addressing (Mastodon does the same).
    """
    followers_url = node.urls.followers(account.actor_id)
    targets = set(activity.recipients)
    if activity.audience:
        targets.add(activity.audience)
    shared: set[str] = set()
    if PUBLIC in targets or followers_url in targets:
        shared.update(await node.store.remote_follower_inboxes(account.actor_id))
    personal: set[str] = set()
    for target in _actor_targets(node, targets, followers_url):
        if activity.type not in _TO_THE_BLOCKED and await node.store.is_blocked(
                account.actor_id, target):
            continue  # nothing goes to whom the author blocks but what only says no
        try:
            actor = await node.resolve_actor(target)
        except (FetchError, ProtocolError):
            continue  # not an actor we can reach (a collection, a dead host): skip it
        personal.add(actor.inbox)
    shared_hosts = {host_of(u) for u in shared}
    inboxes = shared | {u for u in personal if host_of(u) not in shared_hosts}
    blocked = set(await node.store.blocked_domains())
    return sorted(u for u in inboxes if host_of(u) not in blocked)


def _actor_targets(node: Node, targets: Iterable[str], followers_url: str) -> list[str]:
    out = []
    for target in targets:
        if target in (PUBLIC, followers_url) or node.urls.is_local(target):
            continue
        if target.endswith("/followers"):
            continue  # someone else's followers collection: their server fans it out
        out.append(target)
    return sorted(out)
