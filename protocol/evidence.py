"""Re-verifying one ledger entry's evidence, without trusting the group that kept it.

DESIGN §3.1: every ``BallotRecord`` keeps what is needed to check, later and anywhere,
that the voter really cast that ballot. Two assurances exist:

``origin-attested`` — the vote came as a stock ActivityPub ``Create(Note)`` (Mastodon,
GoToSocial, ...), signed only by the voter's server with an HTTP signature. Evidence:
``{method, target, headers, body, keyId, publicKeyPem, scheme?}`` where ``target`` is
the request path and query, ``headers`` the received headers by lower-case name (at
least host, date or the signature's ``created``, digest or content-digest, and
signature or signature-input + signature), ``body`` the base64 of the raw request body
and ``scheme`` ``https`` unless stated (it is part of RFC 9421's ``@target-uri``).
Checked: the digest matches the body; the signature parses from the stored headers
for ``scheme://host + target``, names the stored ``keyId``, covers what Mastodon
requires (the request target, date/created, the digest) and was within Mastodon's
time window at the entry's ``received`` time (the window the inbox applied:
draft-cavage/RFC 9421 via ``protocol.httpsig.check_policy``, never "now"); the
``keyId`` has the voter's origin; the signature verifies with ``publicKeyPem``.
Whether that key was really the actor's at the time is the auditor's separate check
against the actor document, where it still resolves.

``voter-signed`` — the ballot carries a FEP-8b32 proof by the voter's own Ed25519 key.
Evidence: ``{activity, verificationMethod, publicKeyMultibase}``. Checked: the proof
verifies with the key, was made by ``verificationMethod``, and that method belongs to
the voter (the part before ``#`` is the voter's id).

Either way the vote itself must say what the entry says: a ``Create`` whose ``actor``
is the entry's ``voter`` and whose ``object`` (one object, or a list as GoToSocial
sends) holds ``Note``s with ``inReplyTo`` = the entry's ``proposal``; every name in the
entry's ``choices`` must be the ``name`` of such a Note (a Mastodon multiple-choice
vote may carry several), and an entry's ``ranking`` must equal such a Note's
``ranking`` list (how Mutual clients send ranked ballots; ``name`` is then the first
preference, so other servers see a plain vote).

Errors::

    ProtocolError
    └── EvidenceError     one class; ``reason`` says which check failed:
          evidence-malformed        missing or ill-typed entry/evidence fields
          evidence-assurance        an assurance this module does not know
          evidence-digest           digest absent or not matching the body
          evidence-signature        signature unparsable, too weak or not verifying
          evidence-time             signed time outside the window at ``received``
          evidence-key-mismatch     the signature/proof names another key than stored
          evidence-key-origin       the key is not the voter's (other origin / actor)
          evidence-key              the stored public key is unusable
          evidence-proof            the FEP-8b32 proof does not verify
          evidence-body             the body is not a JSON Create activity
          evidence-actor            the activity or Note is by someone else
          evidence-choice           the vote does not match the entry's choices/ranking
    The underlying protocol error, when there is one, is chained as ``__cause__``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.errors import DateSkew, DigestMismatch, ProtocolError, SignatureError
from protocol.httpsig import check_digest, check_policy, parse_signature, verify_signature
from protocol.keys import KeyFormatError, load_public_pem, multibase_to_public_key
from protocol.proofs import ProofError, verify_proof

__all__ = ["ASSURANCES", "EvidenceError", "verify_evidence"]

ASSURANCES = frozenset({"origin-attested", "voter-signed"})


class EvidenceError(ProtocolError):
    """A ledger entry's evidence does not prove the ballot it records."""

    reason = "evidence"


def verify_evidence(entry: Mapping[str, object]) -> None:
    """Check one ledger entry's evidence; return quietly or raise :class:`EvidenceError`."""
    voter = _text(entry, "voter")
    proposal = _text(entry, "proposal")
    choices = _names(entry, "choices")
    ranking = _names(entry, "ranking")
    if not choices and not ranking:
        raise EvidenceError("entry states neither choices nor ranking", reason="evidence-malformed")
    evidence = entry.get("evidence")
    if not isinstance(evidence, Mapping):
        raise EvidenceError("entry has no evidence object", reason="evidence-malformed")
    assurance = entry.get("assurance")
    if assurance == "origin-attested":
        activity = _origin_attested(evidence, voter=voter, received=_received(entry))
    elif assurance == "voter-signed":
        activity = _voter_signed(evidence, voter=voter)
    else:
        raise EvidenceError(f"unknown assurance {assurance!r}", reason="evidence-assurance")
    _check_vote(activity, voter=voter, proposal=proposal, choices=choices, ranking=ranking)


def _origin_attested(
    evidence: Mapping[str, object], *, voter: str, received: datetime
) -> Mapping[str, object]:
    method = _text(evidence, "method").upper()
    target = _text(evidence, "target")
    key_id = _text(evidence, "keyId")
    pem = _text(evidence, "publicKeyPem")
    scheme = evidence.get("scheme", "https")
    if scheme not in ("https", "http"):
        raise EvidenceError(f"scheme {scheme!r} is not http(s)", reason="evidence-malformed")
    if not target.startswith("/"):
        raise EvidenceError("target is not a path", reason="evidence-malformed")
    headers = _headers(evidence.get("headers"))
    try:
        body = base64.b64decode(_text(evidence, "body"), validate=True)
    except ValueError as exc:  # binascii.Error, or text that is not ASCII
        raise EvidenceError("body is not base64", reason="evidence-malformed") from exc
    url = f"{scheme}://{headers['host']}{target}"
    try:
        check_digest(headers, body)
        sig = parse_signature(method=method, url=url, headers=headers)
        check_policy(sig, method=method, now=received, has_body=True)
    except SignatureError as exc:
        raise _from_signature_error(exc) from exc
    if sig.key_id != key_id:
        raise EvidenceError(
            f"request was signed by {sig.key_id}, evidence names {key_id}",
            reason="evidence-key-mismatch",
        )
    if _origin(key_id) != _origin(voter):
        raise EvidenceError(
            f"key {key_id} is not on the voter's server", reason="evidence-key-origin"
        )
    try:
        key = load_public_pem(pem)
        verify_signature(sig, key)
    except KeyFormatError as exc:
        raise EvidenceError(f"publicKeyPem: {exc.message}", reason="evidence-key") from exc
    except SignatureError as exc:
        raise _from_signature_error(exc) from exc
    try:
        activity = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError("request body is not JSON", reason="evidence-body") from exc
    if not isinstance(activity, Mapping):
        raise EvidenceError("request body is not a JSON object", reason="evidence-body")
    return activity


def _voter_signed(evidence: Mapping[str, object], *, voter: str) -> Mapping[str, object]:
    activity = evidence.get("activity")
    if not isinstance(activity, Mapping):
        raise EvidenceError("evidence has no activity object", reason="evidence-malformed")
    method = _text(evidence, "verificationMethod")
    try:
        key = multibase_to_public_key(_text(evidence, "publicKeyMultibase"))
    except KeyFormatError as exc:
        raise EvidenceError(f"publicKeyMultibase: {exc.message}", reason="evidence-key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError("publicKeyMultibase is not an Ed25519 key", reason="evidence-key")
    try:
        signed_by = verify_proof(activity, key)
    except ProofError as exc:
        raise EvidenceError(f"{exc.reason}: {exc.message}", reason="evidence-proof") from exc
    if signed_by != method:
        raise EvidenceError(
            f"proof was made by {signed_by}, evidence names {method}",
            reason="evidence-key-mismatch",
        )
    if method.partition("#")[0] != voter:
        raise EvidenceError(
            f"verification method {method} is not the voter's", reason="evidence-key-origin"
        )
    return activity


def _check_vote(
    activity: Mapping[str, object],
    *,
    voter: str,
    proposal: str,
    choices: tuple[str, ...],
    ranking: tuple[str, ...],
) -> None:
    if activity.get("type") != "Create":
        raise EvidenceError(
            f"ballot activity is a {activity.get('type')!r}, not a Create", reason="evidence-body"
        )
    if _id(activity.get("actor")) != voter:
        raise EvidenceError(
            f"activity actor {_id(activity.get('actor'))!r} is not the voter {voter}",
            reason="evidence-actor",
        )
    objects = activity.get("object")
    notes = [
        note
        for note in (objects if isinstance(objects, list) else [objects])
        if isinstance(note, Mapping)
        and _is_note(note.get("type"))
        and _id(note.get("inReplyTo")) == proposal
    ]
    if not notes:
        raise EvidenceError(
            f"activity holds no Note in reply to {proposal}", reason="evidence-choice"
        )
    for note in notes:
        author = note.get("attributedTo")
        if author is not None and _id(author) != voter:
            raise EvidenceError(
                f"vote Note is attributed to {_id(author)!r}", reason="evidence-actor"
            )
    names = {note.get("name") for note in notes}
    missing = [name for name in choices if name not in names]
    if missing:
        raise EvidenceError(
            f"entry records {missing[0]!r} but the vote does not choose it",
            reason="evidence-choice",
        )
    if ranking and not any(note.get("ranking") == list(ranking) for note in notes):
        raise EvidenceError(
            "entry's ranking is not the ranking in the vote", reason="evidence-choice"
        )


# -- helpers ----------------------------------------------------------------------------


def _from_signature_error(exc: SignatureError) -> EvidenceError:
    if isinstance(exc, DigestMismatch):
        reason = "evidence-digest"
    elif isinstance(exc, DateSkew):
        reason = "evidence-time"
    else:
        reason = "evidence-signature"
    return EvidenceError(f"{exc.reason}: {exc.message}", reason=reason)


def _text(mapping: Mapping[str, object], name: str) -> str:
    value = mapping.get(name)
    if not isinstance(value, str) or not value:
        raise EvidenceError(f"{name} is missing or not a string", reason="evidence-malformed")
    return value


def _names(entry: Mapping[str, object], name: str) -> tuple[str, ...]:
    value = entry.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EvidenceError(f"{name} is not a list of names", reason="evidence-malformed")
    return tuple(value)


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise EvidenceError("headers is not an object of strings", reason="evidence-malformed")
    headers = {key.lower(): item for key, item in value.items()}
    if "host" not in headers:
        raise EvidenceError("headers have no host", reason="evidence-malformed")
    return headers


def _received(entry: Mapping[str, object]) -> datetime:
    text = _text(entry, "received")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EvidenceError("received is not a date-time", reason="evidence-malformed") from exc
    if moment.tzinfo is None:
        raise EvidenceError("received has no time zone", reason="evidence-malformed")
    return moment


def _id(value: object) -> str | None:
    """An AS2 reference: an id string, or an embedded object's ``id``."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _is_note(kind: object) -> bool:
    return kind == "Note" or (isinstance(kind, list) and "Note" in kind)


def _origin(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower()
    except ValueError:
        return "", url
