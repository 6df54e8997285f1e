"""One handler per activity type, behind one dispatcher.

A handler is ``async def handle(ctx, activity) -> list[Op]``: guards first (raising
``Refused`` with a reason), then policy, and it returns the write operations for its
effects instead of writing; the caller commits them with the activity itself, in one
transaction. Handlers serve both directions: ``ctx.local_origin`` is true when one of
our members authored the activity (the outbox runs the same code for its effects).
Unknown types are stored and otherwise ignored, as Mastodon does.
"""

from __future__ import annotations

from collections.abc import Mapping

from node.context import Node
from node.inbox import follows, posts, reactions
from node.inbox.base import CleanMemo, Handler, HandlerContext, Refused
from protocol.vocab import PUBLIC, Activity, ObjectValue
from storage.records import Op

__all__ = ["HANDLERS", "HandlerContext", "Refused", "local_recipients", "reachable_recipients",
           "run_handler"]

# What a blocked actor may still send: taking back its own posts and follows, and
# blocking in turn (each only removes something). A Follow is answered with a Reject
# and no follow is recorded, as Mastodon does, so that the follower's server shows it
# refused instead of pending for ever (node/inbox/follows.py).
_ALWAYS_TAKEN = frozenset({"Delete", "Undo", "Block", "Follow"})


HANDLERS: Mapping[str, Handler] = {
        "Follow": follows.handle_follow,
        "Accept": follows.handle_accept,
        "Reject": follows.handle_reject,
        "Create": posts.handle_create,
        "Update": posts.handle_update,
        "Delete": posts.handle_delete,
        "Like": reactions.handle_like,
        "Announce": reactions.handle_announce,
        "Block": reactions.handle_block,
        "Undo": reactions.handle_undo,
}


async def run_handler(node: Node, activity: Activity, *, local_origin: bool,
                      memo: CleanMemo | None = None) -> list[Op]:
    handler = HANDLERS.get(activity.type)
    if handler is None:
        return []
    return await handler(HandlerContext(node=node, local_origin=local_origin, memo=memo),
                         activity)


async def local_recipients(node: Node, activity: Activity) -> list[str]:
    """Local actors whose inbox collection shows this activity.

    Those addressed directly; followers of the actor when it is addressed to Public or
    to the actor's followers; and the author of a local object that is liked, boosted
    or replied to (what Mastodon turns into a notification).
    """
    if activity.type == "Flag":
        # A report is for moderators; it never lands with the reported member, even
        # when the report is addressed to them (as in Mastodon's documented Flag).
        return []
    owners: set[str] = set()
    addressed = set(activity.recipients)
    embedded = activity.object if isinstance(activity.object, ObjectValue) else None
    if embedded is not None:
        addressed.update(embedded.recipients)
        addressed.update(embedded.mentions)
    for target in addressed:
        if node.urls.username_of(target) is not None:
            owners.add(target)
    actor = await node.store.get_actor(activity.actor)
    followers_url = actor.followers if actor is not None else None
    if activity.type in ("Create", "Announce", "Update", "Delete") and (
        PUBLIC in addressed or (followers_url is not None and followers_url in addressed)
    ):
        owners.update(await node.store.local_followers(activity.actor))
    touched = activity.object_id
    if embedded is not None and embedded.in_reply_to:
        touched = embedded.in_reply_to
    if touched and node.urls.is_local(touched):
        if node.urls.username_of(touched) is not None:
            owners.add(touched)  # a Follow / Block of one of ours
        else:
            record = await node.store.get_object(touched)
            if record is not None and record.attributed_to:
                owners.add(record.attributed_to)
    owners.discard(activity.actor)
    return sorted(o for o in owners if node.urls.username_of(o) is not None)


async def reachable_recipients(node: Node, activity: Activity) -> list[str]:
    """``local_recipients`` less the members who block the activity's actor (DESIGN §5:
    blocks hold on every path). An activity that was for local actors, every one of
    whom blocks its sender, is refused (403 ``blocked``) and stored nowhere.

    A group's blocks are not looked at here: they end a membership (node/groups.py),
    and a member of a proposal's electorate may vote whatever its moderators do since."""
    owners = await local_recipients(node, activity)
    groups = node.urls.group("")
    reachable = [o for o in owners if o.startswith(groups)
                 or not await node.store.is_blocked(o, activity.actor)]
    if owners and not reachable and activity.type not in _ALWAYS_TAKEN:
        raise Refused("the recipients of this activity block its actor", reason="blocked",
                      status=403)
    return reachable
