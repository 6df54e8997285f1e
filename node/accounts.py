"""Creating local actors and their credentials.

Keys are generated here, once per actor, and never leave the database. Bearer tokens
are random, shown once, and stored only as a SHA-256 hash (a stolen database reveals
no usable token); passwords are hashed with argon2.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from node.documents import actor_document
from node.urls import INSTANCE_ACTOR, Urls
from protocol.keys import generate_ed25519, generate_rsa, private_key_to_pem
from protocol.vocab import host_of
from storage.records import AccountKind, AccountRecord, ActorRecord, CreateAccount, CreateToken
from storage.store import Store

__all__ = [
    "AccountError",
    "create_account",
    "create_token",
    "hash_password",
    "hash_token",
    "valid_username",
    "verify_password",
]

_USERNAME = re.compile(r"^[a-z0-9_][a-z0-9_.-]{0,29}$")
DEFAULT_SCOPES = "read write follow push"
_hasher = PasswordHasher()


class AccountError(Exception):
    reason = "account"


def valid_username(name: str) -> bool:
    return bool(_USERNAME.match(name)) and name != INSTANCE_ACTOR


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches. Costs one argon2 hash (tens of ms, run it off the
    event loop) even when there is no hash to check, so that a missing account or one
    without a password answers as slowly as a wrong password and cannot be told apart."""
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash, password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy_hash: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_account(
    store: Store,
    urls: Urls,
    username: str,
    *,
    kind: AccountKind = "person",
    admin: bool = False,
    email: str | None = None,
    password: str | None = None,
    display_name: str = "",
    manually_approves: bool = False,
) -> AccountRecord:
    username = username.lower()
    if kind != "application" and not valid_username(username):
        raise AccountError(
            f"invalid name {username!r}: use 1-30 of a-z, 0-9, _ . - (not starting with . or -)")
    if await store.get_account(username) is not None:
        raise AccountError(f"an account named {username!r} already exists")
    now = time.time()
    account = AccountRecord(
        username=username, kind=kind,
        actor_id=urls.group(username) if kind == "group" else urls.actor(username),
        display_name=display_name, summary="", email=email,
        password_hash=hash_password(password) if password else None, admin=admin,
        rsa_private_pem=private_key_to_pem(generate_rsa()),
        ed25519_private_pem=private_key_to_pem(generate_ed25519()),
        manually_approves=manually_approves, created_at=now,
    )
    document = actor_document(urls, account)
    actor = ActorRecord(
        id=account.actor_id, local=True, host=host_of(account.actor_id),
        type=document["type"], username=username, inbox=document["inbox"],
        shared_inbox=urls.shared_inbox, followers=document["followers"],
        document=json.dumps(document), fetched_at=now,
    )
    await store.apply([CreateAccount(account=account, actor=actor)])
    return account


async def create_token(store: Store, username: str, scopes: str = DEFAULT_SCOPES) -> str:
    """A new bearer token for ``username``; only its hash is stored."""
    if await store.get_account(username) is None:
        raise AccountError(f"no account named {username!r}")
    token = secrets.token_urlsafe(32)
    await store.apply([CreateToken(token_hash=hash_token(token), username=username.lower(),
                                   scopes=scopes, created_at=time.time())])
    return token
