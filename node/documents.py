"""JSON documents the node serves about itself: actors, objects and collections."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from node.urls import INSTANCE_ACTOR, Urls
from protocol.jsonld import standard_context
from protocol.keys import load_private_pem, public_key_to_multibase, public_key_to_pem
from storage.records import AccountRecord, ObjectRecord, Page

__all__ = [
    "AS_CONTEXT",
    "actor_document",
    "collection_page",
    "iso",
    "object_document",
    "tombstone",
]

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
_ACTOR_TYPES = {"person": "Person", "application": "Application", "group": "Group"}


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor_document(urls: Urls, account: AccountRecord) -> dict[str, Any]:
    """The actor as Mastodon expects it (publicKey with owner, endpoints.sharedInbox),
    plus the Ed25519 key as an FEP-521a ``assertionMethod`` Multikey for proofs."""
    name = account.username
    actor_id = account.actor_id
    rsa_public = public_key_to_pem(load_private_pem(account.rsa_private_pem))
    ed_public = public_key_to_multibase(load_private_pem(account.ed25519_private_pem))
    doc: dict[str, Any] = {
        "@context": [*standard_context(), "https://w3id.org/security/multikey/v1"],
        "id": actor_id,
        "type": _ACTOR_TYPES[account.kind],
        "preferredUsername": name,
        "name": account.display_name or name,
        "summary": account.summary,
        "url": urls.profile(name) if name != INSTANCE_ACTOR else actor_id,
        "inbox": urls.inbox(actor_id),
        "outbox": urls.outbox(actor_id),
        "followers": urls.followers(actor_id),
        "following": urls.following(actor_id),
        "liked": urls.liked(actor_id),
        "endpoints": {"sharedInbox": urls.shared_inbox},
        "manuallyApprovesFollowers": account.manually_approves,
        "discoverable": account.kind != "application",
        "published": iso(account.created_at),
        "publicKey": {"id": urls.key_id(actor_id), "owner": actor_id, "publicKeyPem": rsa_public},
        "assertionMethod": [
            {
                "id": urls.ed25519_key_id(actor_id),
                "type": "Multikey",
                "controller": actor_id,
                "publicKeyMultibase": ed_public,
            }
        ],
    }
    if account.kind == "group":
        # FEP-1b12 / Lemmy: the moderators are the group's attributedTo collection.
        doc["attributedTo"] = urls.moderators(actor_id)
        doc["postingRestrictedToMods"] = False
    return doc


def tombstone(object_id: str, former_type: str, deleted: float) -> dict[str, Any]:
    return {
        "@context": AS_CONTEXT,
        "id": object_id,
        "type": "Tombstone",
        "formerType": former_type,
        "deleted": iso(deleted),
    }


def object_document(
    record: ObjectRecord, *, likes: int, shares: int, replies: Sequence[str]
) -> dict[str, Any]:
    """The stored object with live interaction counts, as Mastodon shows them."""
    doc: dict[str, Any] = json.loads(record.document)
    if record.deleted_at is not None:
        return doc
    doc.setdefault("@context", AS_CONTEXT)
    doc["likes"] = {"id": f"{record.id}/likes", "type": "Collection", "totalItems": likes}
    doc["shares"] = {"id": f"{record.id}/shares", "type": "Collection", "totalItems": shares}
    doc["replies"] = {
        "id": f"{record.id}/replies",
        "type": "Collection",
        "totalItems": len(replies),
        "items": list(replies),
    }
    return doc


def collection_page(
    *,
    collection_id: str,
    page: Page[Any],
    items: list[Any],
    cursor: int | None,
    ordered: bool = True,
) -> dict[str, Any]:
    """One page (``?page=true&cursor=N``) or, without a cursor asked, the first page
    embedded in the collection itself, as Mastodon and GoToSocial serve it."""
    kind = "OrderedCollection" if ordered else "Collection"
    key = "orderedItems" if ordered else "items"
    page_id = f"{collection_id}?page=true" + (f"&cursor={cursor}" if cursor else "")
    page_doc: dict[str, Any] = {
        "id": page_id,
        "type": f"{kind}Page",
        "partOf": collection_id,
        "totalItems": page.total,
        key: items,
    }
    if page.next_cursor is not None:
        page_doc["next"] = f"{collection_id}?page=true&cursor={page.next_cursor}"
    if cursor is not None:
        return {"@context": AS_CONTEXT, **page_doc}
    return {
        "@context": AS_CONTEXT,
        "id": collection_id,
        "type": kind,
        "totalItems": page.total,
        "first": page_doc,
    }


def embed_documents(documents: Sequence[str]) -> list[Mapping[str, Any]]:
    return [json.loads(d) for d in documents]
