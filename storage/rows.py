"""Rows to records, the same for both engines.

The two engines keep the same tables and columns (their migrations are kept in step),
and both hand rows back as mappings by column name (``sqlite3.Row``,
``asyncpg.Record``), so one function per record serves both: a column added to one
engine and not the other fails here, in the contract suite, on both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from storage.governance import ProposalRecord
from storage.oauth import AppRecord
from storage.records import (
    AccountRecord,
    ActivityRecord,
    ActorRecord,
    HostState,
    Job,
    ObjectRecord,
    Page,
    TokenRecord,
)

__all__ = ["account", "activity", "actor", "app", "host_state", "job", "object_",
           "page", "proposal", "token"]


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


def account(row: Row) -> AccountRecord:
    return AccountRecord(
        username=row["username"], actor_id=row["actor_id"], kind=row["kind"],
        display_name=row["display_name"], summary=row["summary"], email=row["email"],
        password_hash=row["password_hash"], admin=bool(row["admin"]),
        rsa_private_pem=row["rsa_private_pem"], ed25519_private_pem=row["ed25519_private_pem"],
        manually_approves=bool(row["manually_approves"]), created_at=row["created_at"],
    )


def actor(row: Row) -> ActorRecord:
    return ActorRecord(
        id=row["id"], local=bool(row["local"]), host=row["host"], type=row["type"],
        username=row["username"], inbox=row["inbox"], shared_inbox=row["shared_inbox"],
        followers=row["followers"], document=row["document"], fetched_at=row["fetched_at"],
        gone=bool(row["gone"]),
    )


def activity(row: Row) -> ActivityRecord:
    return ActivityRecord(
        seq=row["seq"], id=row["id"], type=row["type"], actor=row["actor"],
        object_id=row["object_id"], local=bool(row["local"]), visibility=row["visibility"],
        audience=tuple(json.loads(row["audience"])), document=row["document"],
        created_at=row["created_at"],
    )


def object_(row: Row) -> ObjectRecord:
    return ObjectRecord(
        seq=row["seq"], id=row["id"], type=row["type"], attributed_to=row["attributed_to"],
        in_reply_to=row["in_reply_to"], context=row["context"], visibility=row["visibility"],
        audience=tuple(json.loads(row["audience"])), local=bool(row["local"]),
        document=row["document"], published=row["published"], created_at=row["created_at"],
        deleted_at=row["deleted_at"],
    )


def job(row: Row) -> Job:
    return Job(
        id=row["id"], kind=row["kind"], payload=row["payload"], host=row["host"],
        run_at=row["run_at"], attempts=row["attempts"], last_error=row["last_error"],
    )


def host_state(row: Row) -> HostState:
    return HostState(host=row["host"], failures=row["failures"],
                     paused_until=row["paused_until"], last_error=row["last_error"])


def token(row: Row) -> TokenRecord:
    return TokenRecord(
        token_hash=row["token_hash"], username=row["username"], scopes=row["scopes"],
        created_at=row["created_at"], revoked=bool(row["revoked"]), app_id=row["app_id"],
        refresh_hash=row["refresh_hash"], expires_at=row["expires_at"],
    )


def app(row: Row) -> AppRecord:
    return AppRecord(
        id=row["id"], client_id=row["client_id"], client_secret_hash=row["client_secret_hash"],
        name=row["name"], redirect_uris=row["redirect_uris"], scopes=row["scopes"],
        website=row["website"], created_at=row["created_at"],
    )


def proposal(row: Row) -> ProposalRecord:
    return ProposalRecord(
        id=row["id"], group_id=row["group_id"], number=row["number"],
        proposer=row["proposer"], rule=row["rule"], multiple=bool(row["multiple"]),
        options=tuple(json.loads(row["options"])), end_time=row["end_time"],
        quorum=row["quorum"], threshold=row["threshold"],
        electorate_size=row["electorate_size"],
        electorate_hash=row["electorate_hash"], state=row["state"],
        action=json.loads(row["action"]) if row["action"] else None,
        document=row["document"],
        result=json.loads(row["result"]) if row["result"] else None,
        created_at=row["created_at"],
    )


def page(rows: Sequence[Row], limit: int, item: Callable[[Any], Any],
         total: int) -> Page[Any]:
    """A collection page from up to ``limit + 1`` rows newest first: the extra row only
    says that there is a next page, which starts below the last seq shown."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = rows[-1]["seq"] if more and rows else None
    return Page(items=[item(r) for r in rows], next_cursor=cursor, total=total)
