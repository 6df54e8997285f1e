"""Contract: every kind of write operation is all or nothing inside its list.

One table holds, for every member of the ``Op`` union, an operation and a probe that
reads what it changes. Each case is applied once with a failing operation at the end
of its list — nothing it did may be visible afterwards — and once alone — the probe
must then see the change. A test checks that the table covers the whole union, so a
new kind of operation cannot slip past the contract.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from storage.api import (
    AddToHome,
    DismissNotifications,
    Notify,
    PageQuery,
    PutBookmark,
    PutIdempotency,
    PutMute,
    PutPollVote,
    TimelineQuery,
    UpdateProfile,
)
from storage.governance import (
    AppendBallot,
    CloseProposal,
    PutGroup,
    PutProposal,
    PutRefusal,
    RefusalRecord,
    SetMeta,
    SetProposalDocument,
    SetRole,
)
from storage.oauth import PutApp, PutAuthCode, PutToken, RevokeToken, UseAuthCode
from storage.records import (
    AddToInbox,
    CreateAccount,
    CreateToken,
    DeleteActor,
    DeleteBlock,
    DeleteFollow,
    DeleteReaction,
    EnqueueJob,
    Op,
    PutActivity,
    PutActor,
    PutBlock,
    PutFollow,
    PutKey,
    PutObject,
    PutReaction,
    SetDomainBlock,
    SetFollowState,
    TombstoneObject,
)
from storage.store import AlreadyExists, Store
from tests.storage import builders as b
from tests.storage.builders import T0, account, actor_id, post, remote_actor, sha

ANA, BOB = actor_id("ana"), actor_id("bob")
ZOE, YAN = actor_id("zoe", host="remote.example"), actor_id("yan", host="remote.example")
GROUP = actor_id("gardeners", kind="group")
PROPOSAL = f"{GROUP}/proposals/1"
NEW = "https://remote.example/new"  # the id each case's operation mints, where it mints one


@dataclass(frozen=True, slots=True)
class World:
    """What every case starts from (see ``_setup``)."""

    post: str  # ana's post, with its status, liked by zoe
    status: int
    zoe_post: str  # zoe's post and its Create, in no one's home or inbox
    zoe_create: str
    app_id: int


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    op_kind: type
    ops: Callable[[World], list[Op]]
    probe: Callable[[Store, World], Awaitable[object]]


async def _setup(store: Store) -> World:
    mine, theirs = post(ANA), post(ZOE)
    await store.apply([
        account("ana", email="ana@example.org"), account("bob"),
        PutActor(actor=remote_actor("zoe")), PutActor(actor=remote_actor("yan")),
        *mine.ops, *theirs.ops, *b.follow(ZOE, ANA, state="pending").ops,
        *b.follow(BOB, ANA).ops, *b.like(ZOE, mine.object_id or "").ops,
        *b.block(ANA, YAN).ops, *b.group("gardeners", owner=ANA),
        b.proposal(GROUP, 1, proposer=ANA, electorate=(ANA, BOB)),
        b.app(client_id="tusky"),
        Notify(owner=ANA, type="mention", account=ZOE, activity_id=f"{ZOE}#m",
               object_id=mine.object_id, created_at=T0),
    ])
    found = await store.get_app("tusky")
    status = await store.status_for_object(mine.object_id or "")
    assert found is not None
    assert status is not None
    await store.apply([b.auth_code(found.id, "ana", code="abc"),
                       b.token("ana", app_id=found.id, secret="a1", refresh="r1")])
    return World(post=mine.object_id or "", status=status, zoe_post=theirs.object_id or "",
                 zoe_create=theirs.id, app_id=found.id)


async def _home(store: Store) -> list[int]:
    bundle = await store.timeline(TimelineQuery(kind="home"), PageQuery(), ANA)
    return [s.id for s in bundle.statuses]


async def _notes(store: Store) -> list[str]:
    return [n.type for n in (await store.notifications(ANA, PageQuery()))[0]]


async def _stats(store: Store, who: str) -> tuple[int, int, int]:
    view = (await store.api_accounts([who]))[who]
    return view.statuses_count, view.followers_count, view.following_count


def _new_object() -> list[Op]:
    ops = post(ZOE, content="new").ops
    return [dataclasses.replace(ops[1], id=NEW)]


CASES: list[Case] = [
    Case("put_activity", PutActivity,
         lambda w: [dataclasses.replace(b.activity(ZOE, "Like", w.post), id=NEW)],
         lambda s, w: s.has_activity(NEW)),
    Case("add_to_home", AddToHome, lambda w: [AddToHome(owner=ANA, activity_id=w.zoe_create)],
         lambda s, w: _home(s)),
    Case("notify", Notify, lambda w: [Notify(owner=ANA, type="favourite", account=ZOE,
                                             activity_id=NEW, object_id=w.post, created_at=T0)],
         lambda s, w: _notes(s)),
    Case("dismiss_notifications", DismissNotifications,
         lambda w: [DismissNotifications(owner=ANA)], lambda s, w: _notes(s)),
    Case("put_bookmark", PutBookmark,
         lambda w: [PutBookmark(owner=ANA, status_id=w.status, present=True, created_at=T0)],
         lambda s, w: s.timeline(TimelineQuery(kind="bookmarks"), PageQuery(), ANA)),
    Case("put_mute", PutMute, lambda w: [PutMute(actor=ANA, target=ZOE, present=True,
                                                 created_at=T0)],
         lambda s, w: s.relationships(ANA, [ZOE])),
    Case("put_idempotency", PutIdempotency,
         lambda w: [PutIdempotency(account=ANA, key="k", status_object=w.post, created_at=T0)],
         lambda s, w: s.get_idempotency(ANA, "k", T0 - 1)),
    Case("put_poll_vote", PutPollVote,
         lambda w: [PutPollVote(poll=w.post, voter=BOB, choices=("a", "b"), replace=True,
                                activity_id=NEW, created_at=T0)],
         lambda s, w: s.poll_tally(w.post)),
    Case("update_profile", UpdateProfile,
         lambda w: [UpdateProfile(username="ana", actor_id=ANA, display_name="Ana",
                                  summary="hi", manually_approves=True)],
         lambda s, w: s.get_account("ana")),
    Case("put_app", PutApp, lambda w: [b.app(client_id="new-client")],
         lambda s, w: s.get_app("new-client")),
    Case("put_auth_code", PutAuthCode, lambda w: [b.auth_code(w.app_id, "ana", code="new")],
         lambda s, w: s.get_auth_code(sha("new"))),
    Case("use_auth_code", UseAuthCode, lambda w: [UseAuthCode(code_hash=sha("abc"), at=T0)],
         lambda s, w: s.get_auth_code(sha("abc"))),
    Case("put_token", PutToken, lambda w: [b.token("ana", app_id=w.app_id, secret="new")],
         lambda s, w: s.get_token(sha("new"))),
    Case("revoke_token", RevokeToken, lambda w: [RevokeToken(token_hash=sha("r1"))],
         lambda s, w: s.get_token(sha("a1"))),
    Case("put_group", PutGroup, lambda w: [PutGroup(actor_id=GROUP, closed=True, rules="x")],
         lambda s, w: s.get_group(GROUP)),
    Case("set_role", SetRole, lambda w: [SetRole(group_id=GROUP, actor=BOB, role="moderator",
                                                 present=True, created_at=T0 + 1)],
         lambda s, w: s.group_roles(GROUP, "moderator")),
    Case("put_proposal", PutProposal,
         lambda w: [b.proposal(GROUP, 2, proposer=BOB, electorate=(ANA, BOB))],
         lambda s, w: s.electorate(f"{GROUP}/proposals/2")),
    Case("append_ballot", AppendBallot, lambda w: [b.ballot(PROPOSAL, BOB, ["yes"])],
         lambda s, w: s.ledger_size(PROPOSAL)),
    Case("close_proposal", CloseProposal,
         lambda w: [CloseProposal(id=PROPOSAL, result={"outcome": "yes"}, document="{}")],
         lambda s, w: s.get_proposal(PROPOSAL)),
    Case("put_refusal", PutRefusal, lambda w: [PutRefusal(refusal=RefusalRecord(
        proposal=PROPOSAL, voter=ZOE, reason="not-in-electorate", activity_id=NEW,
        received=T0))], lambda s, w: s.refusals(PROPOSAL)),
    Case("set_meta", SetMeta, lambda w: [SetMeta(key="governing_group", value=GROUP)],
         lambda s, w: s.get_meta("governing_group")),
    Case("set_proposal_document", SetProposalDocument,
         lambda w: [SetProposalDocument(id=PROPOSAL, document='{"votersCount": 1}')],
         lambda s, w: s.get_proposal(PROPOSAL)),
    Case("put_object", PutObject, lambda w: _new_object(),
         lambda s, w: s.get_object(NEW)),
    Case("tombstone_object", TombstoneObject,
         lambda w: [TombstoneObject(id=w.post, document="{}", deleted_at=T0)],
         lambda s, w: _both(s.get_object(w.post), _stats(s, ANA))),
    Case("add_to_inbox", AddToInbox, lambda w: [AddToInbox(owner=ANA, activity_id=w.zoe_create)],
         lambda s, w: s.inbox_page(ANA, None, 10)),
    Case("put_follow", PutFollow, lambda w: [PutFollow(follower=ANA, followee=ZOE,
                                                       activity_id=NEW, state="accepted",
                                                       created_at=T0)],
         lambda s, w: _both(s.get_follow(ANA, ZOE), _stats(s, ANA))),
    Case("set_follow_state", SetFollowState,
         lambda w: [SetFollowState(follower=ZOE, followee=ANA, state="accepted")],
         lambda s, w: _both(s.get_follow(ZOE, ANA), _stats(s, ANA))),
    Case("delete_follow", DeleteFollow, lambda w: [DeleteFollow(follower=BOB, followee=ANA)],
         lambda s, w: _both(s.get_follow(BOB, ANA), _stats(s, ANA))),
    Case("put_reaction", PutReaction, lambda w: [PutReaction(
        kind="announce", actor=BOB, object_id=w.post, activity_id=NEW, created_at=T0)],
         lambda s, w: _both(s.count_reactions(w.post, "announce"), s.reblog_of(BOB, w.post))),
    Case("delete_reaction", DeleteReaction,
         lambda w: [DeleteReaction(kind="like", actor=ZOE, object_id=w.post)],
         lambda s, w: s.count_reactions(w.post, "like")),
    Case("put_block", PutBlock, lambda w: b.block(BOB, ANA).ops[1:],
         lambda s, w: _both(s.is_blocked(BOB, ANA), s.get_follow(BOB, ANA))),
    Case("delete_block", DeleteBlock, lambda w: [DeleteBlock(actor=ANA, target=YAN)],
         lambda s, w: s.is_blocked(ANA, YAN)),
    Case("put_actor", PutActor, lambda w: [PutActor(actor=remote_actor("xi"))],
         lambda s, w: s.get_actor(actor_id("xi", host="remote.example"))),
    Case("delete_actor", DeleteActor, lambda w: [DeleteActor(id=ZOE)],
         lambda s, w: _both(s.get_actor(ZOE), s.get_follow(ZOE, ANA))),
    Case("put_key", PutKey, lambda w: [PutKey(key_id=f"{ZOE}#main-key", owner=ZOE, pem="PEM",
                                              fetched_at=T0)],
         lambda s, w: s.get_key(f"{ZOE}#main-key")),
    Case("create_account", CreateAccount, lambda w: [account("cy")],
         lambda s, w: _both(s.get_account("cy"), s.count_local_accounts())),
    Case("create_token", CreateToken, lambda w: [CreateToken(
        token_hash=sha("cli"), username="bob", scopes="read", created_at=T0)],
         lambda s, w: s.get_token(sha("cli"))),
    Case("set_domain_block", SetDomainBlock,
         lambda w: [SetDomainBlock(domain="remote.example", blocked=True, created_at=T0)],
         lambda s, w: _both(s.blocked_domains(), s.get_follow(ZOE, ANA))),
    Case("enqueue_job", EnqueueJob, lambda w: [b.delivery()],
         lambda s, w: s.count_jobs("deliver")),
]


async def _both(first: Awaitable[object], second: Awaitable[object]) -> tuple[object, object]:
    return await first, await second


def test_every_kind_of_operation_has_a_case() -> None:
    assert {case.op_kind for case in CASES} == set(typing.get_args(Op))
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_operation_is_visible_alone_and_leaves_no_trace_when_its_list_fails(
        store: Store, case: Case) -> None:
    world = await _setup(store)
    ops = case.ops(world)
    before = await case.probe(store, world)
    with pytest.raises(AlreadyExists):
        await store.apply([*ops, account("bob")])  # bob exists: the list fails last
    assert await case.probe(store, world) == before, "a failed list left a trace"
    result = await store.apply(ops)
    assert result.applied
    assert await case.probe(store, world) != before, "the operation had no visible effect"
