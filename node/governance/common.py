"""What the governance modules share: job kinds, vocabulary, and small lookups."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.context import Node
from protocol.keys import load_private_pem
from storage.records import AccountRecord

__all__ = [
    "ACTION_TYPES",
    "CLOSE",
    "COUNTS",
    "DOMAIN_ACTIONS",
    "GOVERNING_GROUP",
    "MUTUAL_CONTEXT",
    "RULES",
    "group_signer_ed25519",
    "is_member",
    "iso",
    "iso_precise",
    "members_of",
    "parse_time",
]

CLOSE = "close_proposal"
COUNTS = "proposal_counts"
GOVERNING_GROUP = "governing_group"
RULES = ("majority", "supermajority", "consensus", "approval", "ranked")
DOMAIN_ACTIONS = ("BlockDomain", "UnblockDomain")
ACTION_TYPES = ("AdmitMember", "RemoveMember", "AppointModerator", "RemoveModerator",
                "ChangeRules", *DOMAIN_ACTIONS)
MODERATOR = "moderator"


def MUTUAL_CONTEXT(node: Node) -> str:
    """Our extension terms' context: served by every node at the same path and shipped
    with the package, so loaders map it by suffix and never fetch it."""
    return f"{node.config.url}/ns/mutual-v1.jsonld"


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_precise(timestamp: float) -> str:
    """Receipt times keep milliseconds: ballots a second apart must stay ordered."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


async def is_member(node: Node, group_id: str, actor: str) -> bool:
    follow = await node.store.get_follow(actor, group_id)
    return follow is not None and follow.state == "accepted"


async def members_of(node: Node, group_id: str) -> set[str]:
    """Accepted followers of the group: its members (FEP-1b12)."""
    members: set[str] = set()
    cursor: int | None = None
    while True:
        page = await node.store.follows_page(followee=group_id, follower=None, cursor=cursor,
                                             limit=1000)
        members.update(page.items)
        if page.next_cursor is None:
            return members
        cursor = page.next_cursor


def group_signer_ed25519(node: Node, account: AccountRecord) -> tuple[str, Ed25519PrivateKey]:
    key = load_private_pem(account.ed25519_private_pem)
    assert isinstance(key, Ed25519PrivateKey)
    return node.urls.ed25519_key_id(account.actor_id), key
