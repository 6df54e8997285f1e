"""Follow, Accept and Reject (ActivityPub §7.5, §7.6, §7.7)."""

from __future__ import annotations

from typing import Any

from node.inbox.base import HandlerContext, Refused
from protocol.vocab import Activity
from storage.records import DeleteFollow, Op, PutFollow, SetFollowState

__all__ = ["handle_accept", "handle_follow", "handle_reject"]


async def handle_follow(ctx: HandlerContext, activity: Activity) -> list[Op]:
    node = ctx.node
    followee = activity.object_id
    if followee is None:
        raise Refused("Follow has no object", reason="follow-no-object")
    username = node.urls.username_of(followee)
    if username is None:
        if not ctx.local_origin:
            raise Refused("Follow of an actor that is not on this node", reason="not-ours")
        # One of ours follows a remote actor: pending until their server accepts.
        return [PutFollow(follower=activity.actor, followee=followee, activity_id=activity.id,
                          state="pending", created_at=node.now())]
    account = await node.store.get_account(username)
    if account is None:
        raise Refused(f"no such actor {followee}", reason="no-such-actor", status=404)
    if await node.store.is_blocked(followee, activity.actor):
        return await _answer(ctx, account.username, activity, "Reject")
    if account.manually_approves:
        return [PutFollow(follower=activity.actor, followee=followee, activity_id=activity.id,
                          state="pending", created_at=node.now())]
    ops: list[Op] = [PutFollow(follower=activity.actor, followee=followee,
                               activity_id=activity.id, state="accepted",
                               created_at=node.now())]
    ops.extend(await _answer(ctx, account.username, activity, "Accept"))
    return ops


async def _answer(ctx: HandlerContext, username: str, follow: Activity, kind: str) -> list[Op]:
    """The Accept or Reject our member sends back, with the Follow embedded so that
    receivers need not fetch it (Mastodon and GoToSocial embed it too)."""
    from node.outbox import prepare

    node = ctx.node
    account = await node.store.get_account(username)
    assert account is not None
    doc: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": node.urls.new_activity(),
        "type": kind,
        "actor": account.actor_id,
        "object": {"id": follow.id, "type": "Follow", "actor": follow.actor,
                   "object": follow.object_id},
        "to": [follow.actor],
    }
    _, ops = await prepare(node, account, doc, effects=False)
    return ops


def _follow_parts(activity: Activity) -> tuple[str | None, str | None]:
    """(follower, followee) of the Follow an Accept/Reject answers, when embedded."""
    inner = activity.object
    if isinstance(inner, Activity) and inner.type == "Follow":
        return inner.actor, inner.object_id
    return None, None


async def handle_accept(ctx: HandlerContext, activity: Activity) -> list[Op]:
    node = ctx.node
    follower, followee = _follow_parts(activity)
    if ctx.local_origin:
        # Our member approves a pending request made to them.
        if follower is None and activity.object_id:
            found = await node.store.get_activity(activity.object_id)
            follower = found.actor if found else None
        if follower is None:
            raise Refused("Accept names no Follow we know", reason="no-such-follow")
        return [SetFollowState(follower=follower, followee=activity.actor, state="accepted")]
    if followee is not None and followee != activity.actor:
        raise Refused("Accept of a Follow addressed to someone else", reason="not-followee")
    candidates = [follower] if follower else []
    if not candidates and activity.object_id:
        found = await node.store.get_activity(activity.object_id)
        if found is not None:
            candidates = [found.actor]
    for candidate in candidates:
        record = await node.store.get_follow(candidate, activity.actor)
        if record is not None:
            return [SetFollowState(follower=candidate, followee=activity.actor,
                                   state="accepted")]
    raise Refused("Accept of a Follow that was never sent", reason="no-such-follow")


async def handle_reject(ctx: HandlerContext, activity: Activity) -> list[Op]:
    node = ctx.node
    follower, _ = _follow_parts(activity)
    if follower is None and activity.object_id:
        found = await node.store.get_activity(activity.object_id)
        follower = found.actor if found else None
    if follower is None:
        raise Refused("Reject names no Follow we know", reason="no-such-follow")
    return [DeleteFollow(follower=follower, followee=activity.actor)]
