"""Like, Announce, Block and Undo (ActivityPub §7.8-§7.10, §7.11-§7.12)."""

from __future__ import annotations

import contextlib

from node.fetcher import FetchError
from node.inbox.base import HandlerContext, Refused
from node.inbox.posts import object_ops
from protocol.errors import MalformedActivity, ProtocolError
from protocol.vocab import (
    Activity,
    ObjectValue,
    parse_activity,
    parse_object,
    require_same_origin,
)
from storage.records import DeleteBlock, DeleteFollow, DeleteReaction, Op, PutBlock, PutReaction

__all__ = ["handle_announce", "handle_block", "handle_like", "handle_undo"]


def _object_id(activity: Activity) -> str:
    if activity.object_id is None:
        raise MalformedActivity(f"{activity.type} has no object")
    return activity.object_id


async def handle_like(ctx: HandlerContext, activity: Activity) -> list[Op]:
    return [PutReaction(kind="like", actor=activity.actor, object_id=_object_id(activity),
                        activity_id=activity.id, created_at=ctx.node.now())]


async def handle_announce(ctx: HandlerContext, activity: Activity) -> list[Op]:
    """A boost. The boosted object is never trusted inline: we use our stored copy or
    fetch it from its origin (DESIGN §5), so a forged embedded post cannot be planted."""
    node = ctx.node
    object_id = _object_id(activity)
    if isinstance(activity.object, Activity):
        return await _relayed(ctx, activity.object)
    ops: list[Op] = [PutReaction(kind="announce", actor=activity.actor, object_id=object_id,
                                 activity_id=activity.id, created_at=node.now())]
    if node.urls.is_local(object_id) or await node.store.get_object(object_id) is not None:
        return ops
    obj, creator = await _from_origin(ctx, object_id)
    ops.extend(await object_ops(ctx, creator, obj))
    return ops


async def _relayed(ctx: HandlerContext, inner: Activity) -> list[Op]:
    """FEP-1b12: a group relays its members' activities, unmodified, inside an Announce.

    The group's signature covers only the wrapper, so the inner activity is a claim: a
    relayed Create or Update is taken as its object refetched from the object's origin;
    other relayed activities (votes, deletes) are kept with the Announce, not acted on.
    An Announce of an activity is a relay, not a boost, so it counts as no share.
    """
    if inner.type not in ("Create", "Update") or inner.object_id is None:
        return []
    require_same_origin(inner.actor, inner.object_id, "relayed object")
    if inner.type == "Create" and await ctx.node.store.get_object(inner.object_id) is not None:
        return []
    obj, creator = await _from_origin(ctx, inner.object_id)
    if obj.attributed_to != inner.actor:
        raise Refused("the relayed object's origin names another author",
                      reason="announce-unverifiable")
    return await object_ops(ctx, creator, obj)


async def _from_origin(ctx: HandlerContext, object_id: str) -> tuple[ObjectValue, Activity]:
    """The object as its origin serves it, and a Create by its author to store it with."""
    try:
        document = await ctx.node.fetcher.get_json(object_id)
        obj = parse_object(document)
    except (FetchError, ProtocolError) as exc:
        raise Refused(f"the boosted object cannot be fetched from its origin: {exc}",
                      reason="announce-unverifiable") from exc
    if obj.id != object_id or obj.attributed_to is None:
        raise Refused("the boosted object's origin served something else",
                      reason="announce-unverifiable")
    # Its author too: apps show a post only with its author's account (client API).
    with contextlib.suppress(FetchError, ProtocolError):
        await ctx.node.resolve_actor(obj.attributed_to)
    # Record it as its author's: the origin served it, so the origin check holds.
    creator = parse_activity({"id": f"{obj.id}#fetched", "type": "Create",
                              "actor": obj.attributed_to, "object": document})
    return obj, creator


async def handle_block(ctx: HandlerContext, activity: Activity) -> list[Op]:
    if activity.target is not None:
        # Lemmy bans a user from a community (or an instance) with a Block whose target
        # is that community: moderation of the group, not a block between two people.
        return []
    return [PutBlock(actor=activity.actor, target=_object_id(activity),
                     activity_id=activity.id, created_at=ctx.node.now())]


async def handle_undo(ctx: HandlerContext, activity: Activity) -> list[Op]:
    """Undo dispatches on the inner activity, which must be the same actor's."""
    node = ctx.node
    inner = activity.object
    inner_type: str | None = None
    inner_object: str | None = None
    if isinstance(inner, Activity):
        inner_actor, inner_type, inner_object = inner.actor, inner.type, inner.object_id
    else:
        stored = await node.store.get_activity(_object_id(activity))
        if stored is None:
            return []  # undoing something we never saw: nothing to do
        inner_actor, inner_type, inner_object = stored.actor, stored.type, stored.object_id
    if inner_actor != activity.actor:
        raise Refused("an actor may only undo its own activities", reason="not-own-activity",
                      status=403)
    if inner_object is None:
        raise MalformedActivity("the undone activity has no object")
    if inner_type == "Follow":
        return [DeleteFollow(follower=activity.actor, followee=inner_object)]
    if inner_type == "Like":
        return [DeleteReaction(kind="like", actor=activity.actor, object_id=inner_object)]
    if inner_type == "Announce":
        return [DeleteReaction(kind="announce", actor=activity.actor, object_id=inner_object)]
    if inner_type == "Block":
        return [DeleteBlock(actor=activity.actor, target=inner_object)]
    return []
