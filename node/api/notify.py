"""What the client API keeps about every activity: notifications, poll votes, own home.

``api_effects`` is called at the two places where an activity's local recipients are
worked out: the inbox (``node/inbox/pipeline.ingest``, remote activities) and the
outbox (``node/outbox.prepare``, our members' and groups' own). Its operations are
committed with the activity, so a notification exists exactly when its cause does,
and a redelivered activity notifies once (notifications are unique per owner, type
and activity).

Notifications (Mastodon's types): ``follow`` and ``follow_request`` for a member
followed; ``mention`` for a member a post mentions or addresses; ``favourite`` and
``reblog`` of a member's post; ``poll`` when a poll a member voted in or created (or
proposed, for a group decision) closes, which every origin announces with an
``Update(Question)`` carrying ``closed`` — our own group's closing and a member's
expiring poll publish that same Update through the outbox, so one rule serves all.
"""

from __future__ import annotations

import json

from node.context import Node
from node.governance.common import parse_time
from protocol.vocab import Activity, ObjectValue
from storage.api import AddToHome, Notify, PutPollVote
from storage.records import AccountRecord, EnqueueJob, Op

__all__ = ["POLL_EXPIRE", "api_effects", "is_poll_vote", "notification_ops", "vote_ops"]

POLL_EXPIRE = "poll_expire"


def is_poll_vote(obj: ObjectValue) -> bool:
    """Mastodon's vote shape: a Note naming an option, in reply to the poll, no text."""
    return obj.type == "Note" and bool(obj.name) and obj.in_reply_to is not None \
        and not obj.content


async def api_effects(node: Node, activity: Activity, *,
                      author: AccountRecord | None = None) -> list[Op]:
    """Operations to commit with ``activity``; ``author`` is the local account that
    published it (None for what arrived from elsewhere)."""
    ops: list[Op] = []
    if author is not None and author.kind == "person" and activity.type in ("Create",
                                                                           "Announce"):
        ops.append(AddToHome(owner=author.actor_id, activity_id=activity.id))
        ops.extend(_poll_closing(activity))
    ops.extend(await vote_ops(node, activity))
    ops.extend(await notification_ops(node, activity))
    return ops


def _poll_closing(activity: Activity) -> list[Op]:
    """A member's own poll is closed by a job at its end (node/api/polls.expire_poll),
    however it was posted; a poll sent to a group is the group's to close (as a
    proposal) and is not stored as the member's, so its job finds nothing to do."""
    obj = activity.object
    if activity.type != "Create" or not isinstance(obj, ObjectValue) or obj.type != "Question":
        return []
    if obj.audience or activity.audience:
        return []  # posted to a group (FEP-1b12): the group's proposal, the group closes it
    end = parse_time(obj.raw.get("endTime"))
    if end is None:
        return []
    return [EnqueueJob(kind=POLL_EXPIRE, payload=json.dumps({"poll": obj.id}), host=None,
                       run_at=end, dedupe_key=f"poll:{obj.id}")]


async def _member(node: Node, actor_id: str | None) -> AccountRecord | None:
    """The local *person* behind ``actor_id`` (groups and the instance get nothing)."""
    if actor_id is None or node.urls.username_of(actor_id) is None:
        return None
    account = await node.store.get_account_by_actor(actor_id)
    return account if account is not None and account.kind == "person" else None


async def notification_ops(node: Node, activity: Activity) -> list[Op]:
    kind = activity.type
    now = node.now()

    def notify(owner: str, type_: str, object_id: str | None) -> Notify:
        return Notify(owner=owner, type=type_, account=activity.actor,
                      activity_id=activity.id, object_id=object_id, created_at=now)

    if kind == "Follow":
        followee = await _member(node, activity.object_id)
        if followee is None or followee.actor_id == activity.actor:
            return []
        if await node.store.is_blocked(followee.actor_id, activity.actor):
            return []
        type_ = "follow_request" if followee.manually_approves else "follow"
        return [notify(followee.actor_id, type_, None)]
    if kind == "Create" and isinstance(activity.object, ObjectValue):
        obj = activity.object
        if any(is_poll_vote(o) for o in activity.objects):
            return []
        targets = dict.fromkeys([*obj.mentions, *obj.to, *obj.cc, *activity.to, *activity.cc])
        ops: list[Op] = []
        for target in targets:
            member = await _member(node, target)
            if member is not None and member.actor_id != activity.actor:
                ops.append(notify(member.actor_id, "mention", obj.id))
        return ops
    if kind in ("Like", "Announce") and activity.object_id is not None:
        if isinstance(activity.object, Activity) or not node.urls.is_local(activity.object_id):
            return []  # a group relaying an activity, or someone else's post
        record = await node.store.get_object(activity.object_id)
        member = await _member(node, record.attributed_to if record else None)
        if member is None or member.actor_id == activity.actor:
            return []
        type_ = "favourite" if kind == "Like" else "reblog"
        return [notify(member.actor_id, type_, activity.object_id)]
    if kind == "Update" and isinstance(activity.object, ObjectValue):
        return await _poll_closed(node, activity.object, now)
    return []


async def _poll_closed(node: Node, question: ObjectValue, now: float) -> list[Op]:
    if question.type != "Question" or not question.raw.get("closed"):
        return []
    owners: list[str] = []
    author = question.attributed_to
    proposer = question.raw.get("proposer")
    for candidate in [author, proposer if isinstance(proposer, str) else None,
                      *await node.store.poll_voters(question.id)]:
        member = await _member(node, candidate)
        if member is not None and member.actor_id not in owners:
            owners.append(member.actor_id)
    # Keyed by the poll, not the Update: a poll closes once, however often it is said.
    return [Notify(owner=owner, type="poll", account=author or owner, object_id=question.id,
                   activity_id=f"{question.id}#closed", created_at=now) for owner in owners]


async def vote_ops(node: Node, activity: Activity) -> list[Op]:
    """Record a vote on a poll this node is the origin of, or one cast by a member
    (their own votes are shown to them; a remote poll's counts come from its origin)."""
    if activity.type != "Create" or not activity.objects:
        return []
    if not all(is_poll_vote(o) for o in activity.objects):
        return []
    polls = {o.in_reply_to for o in activity.objects}
    poll = polls.pop() if len(polls) == 1 else None
    if poll is None or not (node.urls.is_local(poll) or node.urls.is_local(activity.actor)):
        return []
    record = await node.store.get_object(poll)
    if record is None or record.type != "Question" or record.deleted_at is not None:
        return []
    if record.attributed_to == activity.actor:
        return []
    doc = json.loads(record.document)
    multiple = isinstance(doc.get("anyOf"), list)
    options = doc.get("anyOf") if multiple else doc.get("oneOf")
    names = {o.get("name") for o in options if isinstance(o, dict)} if isinstance(
        options, list) else set()
    choices = tuple(dict.fromkeys(o.name for o in activity.objects if o.name in names))
    if not choices or (not multiple and len(choices) > 1):
        return []
    # A single-choice vote, and a Mutual ballot on a proposal (signed, all choices at
    # once), replace the voter's earlier one; Mastodon sends a multiple-choice vote one
    # option at a time, and so does the client API on a plain poll.
    replace = (not multiple or len(activity.objects) > 1
               or ("proof" in activity.raw and "decisionRule" in doc))
    return [PutPollVote(poll=poll, voter=activity.actor, choices=choices, replace=replace,
                        activity_id=activity.id, created_at=node.now())]
