"""Small factories for the records the contract suite writes, shaped as the node builds them.

Each builder returns the operation list (or the one operation) that the node's own code
would hand to ``Store.apply`` for the same event — a post is its ``Create`` followed by
its ``PutObject``, a like its ``Like`` followed by its ``PutReaction`` — so the
contract tests exercise the engines with the data they really see. Ids are unique per
call (a module counter), clocks are explicit (``T0`` plus seconds): no test depends
on the wall clock or on what another test wrote.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from protocol.vocab import PUBLIC, host_of
from storage.api import AddToHome
from storage.governance import AppendBallot, ProposalRecord, PutGroup, PutProposal, SetRole
from storage.oauth import AuthCodeRecord, PutApp, PutAuthCode, PutToken
from storage.records import (
    AccountKind,
    AccountRecord,
    ActorRecord,
    CreateAccount,
    EnqueueJob,
    Op,
    PutActivity,
    PutBlock,
    PutFollow,
    PutObject,
    PutReaction,
    Visibility,
)

__all__ = [
    "HERE",
    "PUBLIC",
    "T0",
    "Written",
    "account",
    "activity",
    "actor_id",
    "app",
    "auth_code",
    "ballot",
    "block",
    "boost",
    "delivery",
    "follow",
    "group",
    "like",
    "post",
    "proposal",
    "remote_actor",
    "sha",
    "token",
]

HERE = "https://mutual.example"  # the node under test
T0 = 1_700_000_000.0  # "now" for every test; later events are T0 + seconds
_serial = itertools.count(1)
_KINDS = {"person": "Person", "group": "Group", "application": "Application"}


def _next() -> int:
    return next(_serial)


def sha(secret: str) -> str:
    """What the node stores for a secret (token, code, client secret): its SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Written:
    """What one event wrote: the id it minted (activity or object) and its operations."""

    id: str
    ops: list[Op] = field(default_factory=list)
    object_id: str | None = None


# ---- actors ---------------------------------------------------------------------


def actor_id(username: str, *, host: str | None = None, kind: AccountKind = "person") -> str:
    """A member's (or group's) id here, or a Mastodon-shaped one on ``host``."""
    if host is not None:
        return f"https://{host}/users/{username}"
    return f"{HERE}/{'groups' if kind == 'group' else 'users'}/{username}"


def _actor_document(ident: str, type_: str, username: str, name: str,
                    manually_approves: bool, shared_inbox: str | None) -> str:
    doc: dict[str, Any] = {
        "@context": "https://www.w3.org/ns/activitystreams", "id": ident, "type": type_,
        "preferredUsername": username, "name": name, "inbox": f"{ident}/inbox",
        "outbox": f"{ident}/outbox", "followers": f"{ident}/followers",
        "manuallyApprovesFollowers": manually_approves,
    }
    if shared_inbox is not None:
        doc["endpoints"] = {"sharedInbox": shared_inbox}
    return json.dumps(doc)


def account(username: str, *, kind: AccountKind = "person", email: str | None = None,
            admin: bool = False, manually_approves: bool = False, display_name: str = "",
            created_at: float = T0) -> CreateAccount:
    """A local account as ``node.accounts.create_account`` writes it (fake key PEMs:
    the store keeps them opaque, and generating RSA keys would cost the suite seconds)."""
    ident = actor_id(username, kind=kind)
    type_ = _KINDS[kind]
    record = AccountRecord(
        username=username, actor_id=ident, kind=kind, display_name=display_name,
        summary="", email=email, password_hash="$argon2id$v=19$fake" if email else None,
        admin=admin, rsa_private_pem=f"-----BEGIN PRIVATE KEY-----\nrsa-{username}\n",
        ed25519_private_pem=f"-----BEGIN PRIVATE KEY-----\ned-{username}\n",
        manually_approves=manually_approves, created_at=created_at)
    actor = ActorRecord(
        id=ident, local=True, host=host_of(HERE), type=type_, username=username,
        inbox=f"{ident}/inbox", shared_inbox=f"{HERE}/inbox", followers=f"{ident}/followers",
        document=_actor_document(ident, type_, username, display_name or username,
                                 manually_approves, f"{HERE}/inbox"),
        fetched_at=created_at)
    return CreateAccount(account=record, actor=actor)


def remote_actor(username: str, *, host: str = "remote.example", type_: str = "Person",
                 name: str | None = None, shared_inbox: bool = True,
                 manually_approves: bool = False, gone: bool = False,
                 fetched_at: float = T0) -> ActorRecord:
    """A remote actor as the fetcher stores it (``PutActor``)."""
    ident = actor_id(username, host=host)
    shared = f"https://{host}/inbox" if shared_inbox else None
    return ActorRecord(
        id=ident, local=False, host=host, type=type_, username=username,
        inbox=f"{ident}/inbox", shared_inbox=shared, followers=f"{ident}/followers",
        document=_actor_document(ident, type_, username, name or username.title(),
                                 manually_approves, shared),
        fetched_at=fetched_at, gone=gone)


# ---- posts and activities -------------------------------------------------------


def _origin(ident: str) -> str:
    return ident.split("/", 3)[0] + "//" + host_of(ident)


def _addressing(author: str, visibility: Visibility, mentions: tuple[str, ...]
                ) -> tuple[list[str], list[str]]:
    followers = f"{author}/followers"
    if visibility == "public":
        return [PUBLIC], [followers, *mentions]
    if visibility == "unlisted":
        return [followers], [PUBLIC, *mentions]
    if visibility == "followers":
        return [followers], list(mentions)
    return list(mentions), []


def post(author: str, *, visibility: Visibility = "public", content: str = "hello",
         mentions: tuple[str, ...] = (), in_reply_to: str | None = None,
         tags: tuple[str, ...] = (), media: bool = False, group: str | None = None,
         type_: str = "Note", created_at: float = T0, status: bool = True,
         extra: dict[str, Any] | None = None) -> Written:
    """A post and the Create that carries it: ``[PutActivity, PutObject]``, the object
    addressed as Mastodon addresses it for ``visibility``. ``local`` follows the author."""
    n = _next()
    origin = _origin(author)
    local = origin == HERE
    object_id = f"{origin}/objects/{n}"
    activity_id = f"{origin}/activities/{n}"
    to, cc = _addressing(author, visibility, mentions)
    if group is not None:
        to.append(group)
    doc: dict[str, Any] = {
        "id": object_id, "type": type_, "attributedTo": author, "content": f"<p>{content}</p>",
        "to": to, "cc": cc, "published": "2023-11-14T22:13:20Z",
        "tag": [{"type": "Mention", "href": m} for m in mentions]
        + [{"type": "Hashtag", "name": f"#{t}"} for t in tags],
    }
    if in_reply_to is not None:
        doc["inReplyTo"] = in_reply_to
    if media:
        doc["attachment"] = [{"type": "Document", "mediaType": "image/png",
                              "url": f"{origin}/media/{n}.png"}]
    if group is not None:
        doc["audience"] = group
    doc.update(extra or {})
    audience = tuple(dict.fromkeys(to + cc))
    create = {"@context": "https://www.w3.org/ns/activitystreams", "id": activity_id,
              "type": "Create", "actor": author, "object": doc, "to": to, "cc": cc}
    ops: list[Op] = [
        PutActivity(id=activity_id, type="Create", actor=author, object_id=object_id,
                    local=local, visibility=visibility, audience=audience,
                    document=json.dumps(create), created_at=created_at, dedupe=not local),
        PutObject(id=object_id, type=type_, attributed_to=author, in_reply_to=in_reply_to,
                  context=None, visibility=visibility, audience=audience, local=local,
                  document=json.dumps(doc), published=doc["published"],
                  created_at=created_at, tags=tags, status=status),
    ]
    if local:  # an author's own post joins their home (node/api/notify.api_effects)
        ops.append(AddToHome(owner=author, activity_id=activity_id))
    return Written(id=activity_id, ops=ops, object_id=object_id)


def activity(actor: str, type_: str, object_id: str | None, *, visibility: Visibility = "public",
             created_at: float = T0, dedupe: bool | None = None,
             embedded: dict[str, Any] | None = None) -> PutActivity:
    """A bare activity (a Like, a Follow, an Announce...) as the inbox or outbox stores it."""
    origin = _origin(actor)
    ident = f"{origin}/activities/{_next()}"
    doc = {"@context": "https://www.w3.org/ns/activitystreams", "id": ident, "type": type_,
           "actor": actor, "object": embedded if embedded is not None else object_id}
    audience = (PUBLIC,) if visibility == "public" else (f"{actor}/followers",)
    return PutActivity(id=ident, type=type_, actor=actor, object_id=object_id,
                       local=origin == HERE, visibility=visibility, audience=audience,
                       document=json.dumps(doc), created_at=created_at,
                       dedupe=origin != HERE if dedupe is None else dedupe)


def like(actor: str, object_id: str, *, created_at: float = T0) -> Written:
    act = activity(actor, "Like", object_id, created_at=created_at)
    return Written(id=act.id, ops=[act, PutReaction(kind="like", actor=actor, object_id=object_id,
                                                    activity_id=act.id, created_at=created_at)])


def boost(actor: str, object_id: str, *, visibility: Visibility = "public",
          created_at: float = T0) -> Written:
    act = activity(actor, "Announce", object_id, visibility=visibility, created_at=created_at)
    return Written(id=act.id, ops=[
        act, PutReaction(kind="announce", actor=actor, object_id=object_id,
                         activity_id=act.id, created_at=created_at)])


def follow(follower: str, followee: str, *, state: str = "accepted",
           created_at: float = T0) -> Written:
    act = activity(follower, "Follow", followee, created_at=created_at)
    return Written(id=act.id, ops=[act, PutFollow(
        follower=follower, followee=followee, activity_id=act.id,
        state="accepted" if state == "accepted" else "pending", created_at=created_at)])


def block(actor: str, target: str, *, created_at: float = T0) -> Written:
    act = activity(actor, "Block", target, created_at=created_at)
    return Written(id=act.id, ops=[act, PutBlock(actor=actor, target=target,
                                                 activity_id=act.id, created_at=created_at)])


# ---- queue ----------------------------------------------------------------------


def delivery(inbox: str = "https://remote.example/inbox", *, run_at: float = T0,
             kind: str = "deliver", dedupe_key: str | None = None) -> EnqueueJob:
    """One delivery job, payload as ``node.outbox.prepare`` writes it."""
    payload = json.dumps({"activity": f"{HERE}/activities/{_next()}", "inbox": inbox,
                          "signer": "ana"})
    return EnqueueJob(kind=kind, payload=payload, host=host_of(inbox), run_at=run_at,
                      dedupe_key=dedupe_key)


# ---- groups and decisions -------------------------------------------------------


def group(name: str, *, owner: str, closed: bool = False, created_at: float = T0) -> list[Op]:
    """A group as ``node.groups.create_group`` makes it: its account, its row, its owner
    as first moderator and member."""
    ident = actor_id(name, kind="group")
    return [
        account(name, kind="group", manually_approves=closed, display_name=name,
                created_at=created_at),
        PutGroup(actor_id=ident, closed=closed, rules=""),
        SetRole(group_id=ident, actor=owner, role="moderator", present=True,
                created_at=created_at),
        PutFollow(follower=owner, followee=ident, activity_id=f"{ident}#owner",
                  state="accepted", created_at=created_at),
    ]


def proposal(group_id: str, number: int, *, proposer: str, electorate: tuple[str, ...],
             options: tuple[str, ...] = ("yes", "no"), end_time: float = T0 + 3600,
             multiple: bool = False, action: dict[str, Any] | None = None) -> PutProposal:
    ident = f"{group_id}/proposals/{number}"
    doc = {"id": ident, "type": "Question", "attributedTo": group_id, "proposer": proposer,
           "oneOf": [{"type": "Note", "name": o} for o in options]}
    return PutProposal(proposal=ProposalRecord(
        id=ident, group_id=group_id, number=number, proposer=proposer, rule="majority",
        multiple=multiple, options=options, end_time=end_time, quorum=0.0, threshold=0.5,
        electorate_size=len(electorate), electorate_hash=sha("\n".join(sorted(electorate))),
        state="open", action=action, document=json.dumps(doc), result=None,
        created_at=T0), electorate=electorate)


def ballot(proposal_id: str, voter: str, choices: list[str], *, received: float = T0 + 60,
           mode: str = "replace", ranking: list[str] | None = None) -> AppendBallot:
    """A ballot entry as ``node.governance.ballots`` builds it (without seq/prev/supersedes,
    which the engine assigns)."""
    entry: dict[str, Any] = {"type": "BallotRecord", "proposal": proposal_id, "voter": voter,
                             "ballot": f"{voter}#vote-{_next()}", "received": str(received),
                             "choices": choices, "assurance": "origin-attested",
                             "mode": mode, "evidence": {"headers": {"host": "remote.example"}}}
    if ranking is not None:
        entry["ranking"] = ranking
    return AppendBallot(proposal=proposal_id, voter=voter, entry=entry, received=received)


# ---- OAuth ----------------------------------------------------------------------


def app(name: str = "Tusky", *, client_id: str | None = None,
        created_at: float = T0) -> PutApp:
    return PutApp(client_id=client_id or f"client-{_next()}",
                  client_secret_hash=sha(f"secret-{name}"), name=name,
                  redirect_uris="urn:ietf:wg:oauth:2.0:oob https://app.example/cb",
                  scopes="read write follow push", website="https://app.example",
                  created_at=created_at)


def auth_code(app_id: int, username: str, *, expires_at: float = T0 + 600,
              code: str | None = None) -> PutAuthCode:
    return PutAuthCode(code=AuthCodeRecord(
        code_hash=sha(code or f"code-{_next()}"), app_id=app_id, username=username,
        scopes="read write", redirect_uri="https://app.example/cb", challenge="E9Melhoa2Ow",
        challenge_method="S256", expires_at=expires_at, used=False))


def token(username: str | None, *, app_id: int | None = None, refresh: str | None = None,
          expires_at: float | None = None, secret: str | None = None,
          created_at: float = T0) -> PutToken:
    return PutToken(token_hash=sha(secret or f"token-{_next()}"), username=username,
                    scopes="read write", app_id=app_id,
                    refresh_hash=sha(refresh) if refresh is not None else None,
                    expires_at=expires_at, created_at=created_at)
