"""Voters and ballots of every shape, and what a Mastodon server reads from a poll.

Helpers for the federation tests of decisions: remote voters that sign their ballots
(the Mutual shape), GoToSocial's one-Create-many-Notes vote, the proposal's ledger size
and closed state read over public HTTP, and ``mastodon_poll``, which reads a Question
the way Mastodon's ``ActivityPub::Parser::PollParser`` does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.keys import generate_ed25519, public_key_to_multibase
from protocol.proofs import sign_proof
from tests.support.nodes import MutualNode, eventually
from tests.support.peer import AS_CONTEXT, Peer, RemoteActor

__all__ = [
    "SigningVoter",
    "gotosocial_vote",
    "ledger_size",
    "mastodon_poll",
    "signed_vote",
    "signing_voter",
    "wait_closed",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningVoter:
    """A remote actor that also publishes an Ed25519 key (FEP-521a), as Mutual does."""

    actor: RemoteActor
    method: str
    key: Ed25519PrivateKey


def signing_voter(peer: Peer, name: str) -> SigningVoter:
    actor_id = f"{peer.url}/users/{name}"
    key = generate_ed25519()
    method = f"{actor_id}#ed25519-key"
    actor = peer.actor(name, assertionMethod=[{
        "id": method, "type": "Multikey", "controller": actor_id,
        "publicKeyMultibase": public_key_to_multibase(key)}])
    return SigningVoter(actor=actor, method=method, key=key)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_vote(voter: SigningVoter, proposal: str, group_id: str, choice: str, n: int = 1,
                *, method: str | None = None, key: Ed25519PrivateKey | None = None
                ) -> dict[str, Any]:
    """A Mutual ballot: Mastodon's shape plus an FEP-8b32 proof on the Create.

    ``method``/``key`` sign with another verification method or another private key.
    """
    actor_id = voter.actor.id
    doc = {
        "@context": AS_CONTEXT,
        "id": f"{actor_id}#votes/{n}/activity",
        "type": "Create",
        "actor": actor_id,
        "published": _now(),
        "to": [group_id],
        "object": {"id": f"{actor_id}#votes/{n}", "type": "Note", "name": choice,
                   "attributedTo": actor_id, "inReplyTo": proposal, "to": [group_id]},
    }
    return sign_proof(doc, private_key=key or voter.key,
                      verification_method=method or voter.method, created=datetime.now(UTC))


def gotosocial_vote(actor: RemoteActor, proposal: str, group_id: str,
                    choices: Sequence[str], n: int = 1) -> dict[str, Any]:
    """GoToSocial's vote: one Create whose object is a list of Notes, one per option."""
    return {
        "@context": AS_CONTEXT,
        "id": f"{actor.id}#votes/{n}/activity",
        "type": "Create",
        "actor": actor.id,
        "published": _now(),
        "to": group_id,
        "object": [{"id": f"{actor.id}#votes/{n}/{i}", "type": "Note", "name": choice,
                    "attributedTo": actor.id, "inReplyTo": proposal, "to": group_id}
                   for i, choice in enumerate(choices)],
    }


async def ledger_size(node: MutualNode, proposal: str) -> int:
    status, doc = await node.get(f"{proposal}/ballots")
    assert status == 200, (status, doc)
    return int(doc["totalItems"])


async def wait_closed(node: MutualNode, proposal: str, *, within: float = 30.0
                      ) -> dict[str, Any]:
    """The proposal's Question once the group has closed it."""

    async def closed() -> dict[str, Any] | None:
        status, doc = await node.get(proposal)
        return doc if status == 200 and doc.get("closed") else None

    result: dict[str, Any] = await eventually(closed, within=within, interval=0.2)
    return result


def mastodon_poll(question: Mapping[str, Any]) -> dict[str, Any]:
    """What Mastodon's PollParser (app/lib/activitypub/parser/poll_parser.rb) keeps.

    ``valid?`` needs type Question and an array of items (anyOf, else oneOf); options
    are each item's ``name`` (or ``content``); tallies are ``replies.totalItems``;
    ``expires_at`` is ``closed`` when it is a string, else ``endTime``.
    """
    items = question.get("anyOf") or question.get("oneOf")
    assert question.get("type") == "Question", question
    assert isinstance(items, list), question
    closed = question.get("closed")
    return {
        "multiple": isinstance(question.get("anyOf"), list),
        "options": [item.get("name") or item.get("content") for item in items],
        "cached_tallies": [(item.get("replies") or {}).get("totalItems") or 0
                           for item in items],
        "voters_count": question.get("votersCount"),
        "expires_at": closed if isinstance(closed, str) else question.get("endTime"),
    }
