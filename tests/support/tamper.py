"""A dishonest admin's tools: rewrite a stopped node's ledger and result in its database.

The admin of a group's node holds everything the node holds: the sqlite file, and the
group's Ed25519 key that signs the proposal. :class:`Tamper` loads one proposal's
ledger entries and published Question from ``mutual.db``, lets a test change them as
plain JSON, cover its tracks as far as the admin can (:meth:`Tamper.relink` rebuilds
``seq``, ``supersedes`` and ``prev``; :meth:`Tamper.republish` re-tallies and re-signs
the result with the group's own key) and writes them back. What is left for
``mutual audit`` to catch is exactly what the admin cannot forge: the voters' own
signatures, and, unless republished, the result the group signed when it closed.

The factories at the end build ledger entries as the node does (DESIGN §3.1): one
with a genuine HTTP signature by someone's server, one with a made-up signature.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from protocol.decisions import tally
from protocol.httpsig import body_digest, sign_cavage
from protocol.keys import load_private_pem, public_key_to_pem
from protocol.ledger import GENESIS, counted_ballots, hash_entry
from protocol.proofs import sign_proof

__all__ = ["Tamper", "forged_entry", "signed_entry"]

Entry = dict[str, Any]


class Tamper:
    """One proposal's ledger and Question, loaded from ``db`` for editing."""

    def __init__(self, db: Path, proposal: str) -> None:
        self.db = db
        self.proposal = proposal
        with closing(sqlite3.connect(db)) as conn:
            rows = conn.execute("SELECT entry FROM ledger WHERE proposal=? ORDER BY seq",
                                (proposal,)).fetchall()
            document, self.group_id = conn.execute(
                "SELECT document, group_id FROM proposals WHERE id=?", (proposal,)).fetchone()
        self.entries: list[Entry] = [json.loads(row[0]) for row in rows]
        self.document: dict[str, Any] = json.loads(document)

    @property
    def result(self) -> dict[str, Any]:
        result = self.document["result"]
        assert isinstance(result, dict)
        return result

    def sql(self, statement: str, *args: object) -> None:
        """Run one statement on the database as it is, the quickest way to lie."""
        with closing(sqlite3.connect(self.db)) as conn, conn:
            conn.execute(statement, args)

    def relink(self, *, renumber: bool = True) -> None:
        """Make the chain consistent again: seq, supersedes and prev from the order given."""
        prev = GENESIS
        last: dict[str, int] = {}
        for position, entry in enumerate(self.entries, start=1):
            if renumber:
                entry["seq"] = position
            entry["supersedes"] = last.get(entry["voter"])
            entry["prev"] = prev
            last[entry["voter"]] = entry["seq"]
            prev = hash_entry(entry)

    def republish(self) -> None:
        """Re-tally the edited ledger into the published result and poll counts, re-signed."""
        doc = self.document
        key = "oneOf" if "oneOf" in doc else "anyOf"
        outcome = tally(rule=doc.get("decisionRule", "majority"),
                        options=[o["name"] for o in doc[key]],
                        ballots=counted_ballots(self.entries),
                        electorate_size=int(doc["electorateSize"]),
                        quorum=float(doc.get("quorum", 0)),
                        threshold=float(doc.get("threshold", 0.5)))
        self.result.update(
            outcome=outcome.outcome, turnout=outcome.turnout, quorumMet=outcome.quorum_met,
            tally=[{"name": name, "count": count} for name, count in outcome.tally],
            winners=list(outcome.winners), ledgerSize=len(self.entries),
            ledgerHead=hash_entry(self.entries[-1]) if self.entries else GENESIS)
        counts = dict(outcome.tally)
        for option in doc[key]:
            option["replies"] = {"type": "Collection", "totalItems": counts[option["name"]]}
        doc["votersCount"] = outcome.turnout
        self.resign()

    def resign(self) -> None:
        """A fresh FEP-8b32 proof on the Question with the group's key, from the database."""
        unsigned = {k: v for k, v in self.document.items() if k != "proof"}
        with closing(sqlite3.connect(self.db)) as conn:
            (pem,) = conn.execute("SELECT ed25519_private_pem FROM accounts WHERE actor_id=?",
                                  (self.group_id,)).fetchone()
        key = load_private_pem(pem)
        assert isinstance(key, Ed25519PrivateKey)
        self.document = sign_proof(
            unsigned, private_key=key, created=datetime.now(UTC),
            verification_method=self.document["proof"]["verificationMethod"])

    def save(self) -> None:
        """Write the entries (each with its own hash recomputed) and the Question back."""
        with closing(sqlite3.connect(self.db)) as conn, conn:
            columns = [row[1] for row in conn.execute("PRAGMA table_info(ledger)")]
            rows = [self._row(position, entry, columns)
                    for position, entry in enumerate(self.entries, start=1)]
            conn.execute("DELETE FROM ledger WHERE proposal=?", (self.proposal,))
            conn.executemany(f"INSERT INTO ledger ({', '.join(columns)})"
                             f" VALUES ({', '.join('?' * len(columns))})", rows)
            conn.execute("UPDATE proposals SET document=? WHERE id=?",
                         (json.dumps(self.document), self.proposal))

    def _row(self, position: int, entry: Entry, columns: list[str]) -> tuple[object, ...]:
        """A ledger row as the node stores it, whatever columns the schema has grown."""
        values: dict[str, object] = {
            "proposal": self.proposal, "seq": position, "voter": entry["voter"],
            "entry": json.dumps(entry), "hash": hash_entry(entry),
            "ballot": json.dumps({"choices": entry.get("choices", []),
                                  "ranking": entry.get("ranking", []),
                                  "mode": entry.get("mode", "replace")}),
        }
        return tuple(values[column] for column in columns)


# -- ledger entries as the node writes them -------------------------------------------


def _vote(voter: str, proposal: str, group_id: str, choice: str) -> bytes:
    """A stock Mastodon poll vote, as raw request bytes."""
    return json.dumps({
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{voter}#votes/forged/activity", "type": "Create", "actor": voter,
        "to": group_id,
        "object": {"id": f"{voter}#votes/forged", "type": "Note", "name": choice,
                   "attributedTo": voter, "inReplyTo": proposal, "to": group_id},
    }).encode()


def _entry(voter: str, proposal: str, choice: str, received: str, *, target: str,
           headers: Mapping[str, str], body: bytes, key_id: str, pem: str) -> Entry:
    return {
        "type": "BallotRecord", "proposal": proposal, "voter": voter,
        "ballot": f"{voter}#votes/forged", "received": received,
        "choices": [choice], "assurance": "origin-attested", "mode": "replace",
        "evidence": {"method": "POST", "target": target, "scheme": "http",
                     "headers": {k.lower(): v for k, v in headers.items()},
                     "body": base64.b64encode(body).decode(), "keyId": key_id,
                     "publicKeyPem": pem},
        "supersedes": None, "prev": GENESIS,
    }


def signed_entry(voter: str, key: RSAPrivateKey, *, proposal: str, group_id: str,
                 choice: str, received: str) -> Entry:
    """An entry whose evidence is a genuine signature by ``voter``'s server key."""
    inbox = f"{group_id}/inbox"
    body = _vote(voter, proposal, group_id, choice)
    moment = datetime.fromisoformat(received)
    headers = sign_cavage(method="POST", url=inbox, body=body, key_id=f"{voter}#main-key",
                          private_key=key, now=moment)
    return _entry(voter, proposal, choice, received, target=urlsplit(inbox).path,
                  headers=headers, body=body, key_id=f"{voter}#main-key",
                  pem=public_key_to_pem(key.public_key()))


def forged_entry(voter: str, pem: str, *, proposal: str, group_id: str, choice: str,
                 received: str) -> Entry:
    """An entry claiming ``voter``'s server signed a vote: real key, made-up signature."""
    inbox = urlsplit(f"{group_id}/inbox")
    body = _vote(voter, proposal, group_id, choice)
    date = datetime.fromisoformat(received).strftime("%a, %d %b %Y %H:%M:%S GMT")
    signature = base64.b64encode(os.urandom(256)).decode()
    headers = {
        "host": inbox.netloc, "date": date, "digest": body_digest(body),
        "signature": f'keyId="{voter}#main-key",algorithm="rsa-sha256",'
                     f'headers="(request-target) host date digest",signature="{signature}"',
    }
    return _entry(voter, proposal, choice, received, target=inbox.path, headers=headers,
                  body=body, key_id=f"{voter}#main-key", pem=pem)
