"""Ledger evidence: re-verifying a recorded ballot from its HTTP signature or proof."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from protocol.decisions import GENESIS, EvidenceError, verify_evidence
from protocol.httpsig import body_digest, sign_cavage, sign_rfc9421
from protocol.keys import generate_ed25519, generate_rsa, public_key_to_multibase, public_key_to_pem
from protocol.proofs import sign_proof

PROPOSAL = "https://coop.example/groups/garden/proposals/17"
INBOX = "https://coop.example/groups/garden/inbox"
VOTER = "https://other.example/users/bo"
KEY_ID = VOTER + "#main-key"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

PAYLOADS = Path(__file__).parent.parent / "fixtures" / "payloads"

Entry = dict[str, Any]


# -- evidence: origin-attested (HTTP signatures) -----------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return generate_rsa()


@pytest.fixture(scope="module")
def other_rsa_key() -> RSAPrivateKey:
    return generate_rsa()


def vote(*names: str, actor: str = VOTER, proposal: str = PROPOSAL, **extra: Any) -> Entry:
    notes = [
        {"type": "Note", "name": n, "inReplyTo": proposal, "attributedTo": actor, **extra}
        for n in names
    ]
    return {
        "@context": "https://www.w3.org/ns/activitystreams",
        "type": "Create",
        "id": f"{actor}#votes/1",
        "actor": actor,
        "object": notes[0] if len(notes) == 1 else notes,
    }


def attested(
    key: RSAPrivateKey,
    activity: Mapping[str, Any],
    *,
    choices: tuple[str, ...] = ("Agree",),
    signed_at: datetime = NOW,
    received: datetime = NOW,
    key_id: str = KEY_ID,
    scheme: str = "cavage",
    raw: bytes | None = None,
) -> Entry:
    body = json.dumps(activity).encode() if raw is None else raw
    sign = sign_cavage if scheme == "cavage" else sign_rfc9421
    headers = {
        k.lower(): v
        for k, v in sign(
            method="POST", url=INBOX, body=body, key_id=key_id, private_key=key, now=signed_at
        ).items()
    }
    headers.setdefault("host", "coop.example")
    headers["content-type"] = "application/activity+json"
    return {
        "type": "BallotRecord",
        "seq": 1,
        "proposal": PROPOSAL,
        "voter": VOTER,
        "choices": list(choices),
        "ballot": f"{VOTER}#votes/1",
        "received": received.isoformat().replace("+00:00", "Z"),
        "assurance": "origin-attested",
        "evidence": {
            "method": "POST",
            "target": "/groups/garden/inbox",
            "headers": headers,
            "body": base64.b64encode(body).decode(),
            "keyId": key_id,
            "publicKeyPem": public_key_to_pem(key),
        },
        "supersedes": None,
        "prev": GENESIS,
    }


def refused(entry: Mapping[str, Any]) -> str:
    with pytest.raises(EvidenceError) as err:
        verify_evidence(entry)
    return err.value.reason


def test_a_mastodon_style_signed_vote_verifies(rsa_key: RSAPrivateKey) -> None:
    verify_evidence(attested(rsa_key, vote("Agree")))
    verify_evidence(attested(rsa_key, vote("Agree"), received=NOW + timedelta(minutes=30)))


@pytest.mark.parametrize(
    "name",
    [
        "mastodon__docs_poll_vote_orange.json",
        "gotosocial__create_poll_vote_0.json",
        "gotosocial__docs_create_multi_poll_vote.json",
    ],
)
def test_real_vote_payloads_verify_byte_for_byte(rsa_key: RSAPrivateKey, name: str) -> None:
    raw = (PAYLOADS / name).read_bytes()
    activity = json.loads(raw)
    notes = activity["object"] if isinstance(activity["object"], list) else [activity["object"]]
    actor = activity["actor"]
    entry = attested(
        rsa_key,
        activity,
        key_id=actor + "#main-key",
        raw=raw,
        choices=tuple(note["name"] for note in notes),
    )
    entry |= {"voter": actor, "proposal": notes[0]["inReplyTo"]}
    verify_evidence(entry)
    entry["voter"] = VOTER
    assert refused(entry) == "evidence-key-origin"


def test_an_rfc9421_signed_vote_verifies_with_its_scheme(rsa_key: RSAPrivateKey) -> None:
    entry = attested(rsa_key, vote("Agree"), scheme="rfc9421")
    verify_evidence(entry)
    entry["evidence"]["scheme"] = "http"  # @target-uri covers the scheme
    assert refused(entry) == "evidence-signature"


def test_a_gotosocial_multi_choice_vote_verifies(rsa_key: RSAPrivateKey) -> None:
    activity = vote("Red", "Blue")
    verify_evidence(attested(rsa_key, activity, choices=("Red", "Blue")))
    verify_evidence(attested(rsa_key, activity, choices=("Blue",)))
    assert refused(attested(rsa_key, activity, choices=("Red", "Green"))) == "evidence-choice"


def test_a_changed_body_fails_the_digest(rsa_key: RSAPrivateKey) -> None:
    entry = attested(rsa_key, vote("Agree"))
    entry["evidence"]["body"] = base64.b64encode(json.dumps(vote("Disagree")).encode()).decode()
    entry["choices"] = ["Disagree"]
    assert refused(entry) == "evidence-digest"


def test_a_changed_body_with_a_recomputed_digest_fails_the_signature(
    rsa_key: RSAPrivateKey,
) -> None:
    entry = attested(rsa_key, vote("Agree"))
    body = json.dumps(vote("Disagree")).encode()
    entry["evidence"]["body"] = base64.b64encode(body).decode()
    entry["evidence"]["headers"]["digest"] = body_digest(body)
    entry["choices"] = ["Disagree"]
    assert refused(entry) == "evidence-signature"


@pytest.mark.parametrize(
    ("header", "value"),
    [("host", "evil.example"), ("date", "Tue, 01 Dec 2026 10:00:01 GMT")],
)
def test_a_changed_signed_header_fails(rsa_key: RSAPrivateKey, header: str, value: str) -> None:
    entry = attested(rsa_key, vote("Agree"))
    entry["evidence"]["headers"][header] = value
    assert refused(entry) == "evidence-signature"


def test_a_changed_target_fails(rsa_key: RSAPrivateKey) -> None:
    entry = attested(rsa_key, vote("Agree"))
    entry["evidence"]["target"] = "/users/ana/inbox"
    assert refused(entry) == "evidence-signature"


def test_a_swapped_key_fails(rsa_key: RSAPrivateKey, other_rsa_key: RSAPrivateKey) -> None:
    entry = attested(rsa_key, vote("Agree"))
    entry["evidence"]["publicKeyPem"] = public_key_to_pem(other_rsa_key)
    assert refused(entry) == "evidence-signature"
    entry["evidence"]["publicKeyPem"] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
    assert refused(entry) == "evidence-key"


def test_a_stored_key_id_other_than_the_signed_one_fails(rsa_key: RSAPrivateKey) -> None:
    entry = attested(rsa_key, vote("Agree"))
    entry["evidence"]["keyId"] = VOTER + "#other-key"
    assert refused(entry) == "evidence-key-mismatch"


def test_a_key_from_another_server_is_not_the_voters(rsa_key: RSAPrivateKey) -> None:
    entry = attested(rsa_key, vote("Agree"), key_id="https://relay.example/actor#main-key")
    assert refused(entry) == "evidence-key-origin"


@pytest.mark.parametrize("offset", [timedelta(hours=2), -timedelta(hours=1, minutes=1)])
def test_received_far_from_the_signature_time_fails(
    rsa_key: RSAPrivateKey, offset: timedelta
) -> None:
    entry = attested(rsa_key, vote("Agree"), received=NOW + offset)
    assert refused(entry) == "evidence-time"


def test_a_body_outside_the_signature_is_refused(rsa_key: RSAPrivateKey) -> None:
    # Signed like a GET (no digest), with a Digest header added afterwards.
    entry = attested(rsa_key, vote("Agree"))
    body = base64.b64decode(entry["evidence"]["body"])
    headers = {
        k.lower(): v
        for k, v in sign_cavage(
            method="POST", url=INBOX, body=None, key_id=KEY_ID, private_key=rsa_key, now=NOW
        ).items()
    }
    entry["evidence"]["headers"] = {**headers, "digest": body_digest(body)}
    assert refused(entry) == "evidence-signature"


@pytest.mark.parametrize(
    ("activity", "choices", "reason"),
    [
        (vote("Agree"), ("Disagree",), "evidence-choice"),
        (vote("Agree", proposal=PROPOSAL + "8"), ("Agree",), "evidence-choice"),
        (vote("Agree", actor="https://other.example/users/cy"), ("Agree",), "evidence-actor"),
        ({**vote("Agree"), "type": "Update"}, ("Agree",), "evidence-body"),
        (
            {**vote("Agree"), "object": {**vote("Agree")["object"], "attributedTo": "x"}},
            ("Agree",),
            "evidence-actor",
        ),
    ],
)
def test_a_vote_that_does_not_say_what_the_entry_says_fails(
    rsa_key: RSAPrivateKey, activity: Entry, choices: tuple[str, ...], reason: str
) -> None:
    assert refused(attested(rsa_key, activity, choices=choices)) == reason


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("assurance",), "trust-me", "evidence-assurance"),
        (("evidence",), None, "evidence-malformed"),
        (("evidence", "body"), "not base64!", "evidence-malformed"),
        (("evidence", "headers"), {"date": "x"}, "evidence-malformed"),
        (("evidence", "keyId"), 7, "evidence-malformed"),
        (("received",), "soon", "evidence-malformed"),
        (("choices",), None, "evidence-malformed"),
    ],
)
def test_malformed_entries_are_named(
    rsa_key: RSAPrivateKey, path: tuple[str, ...], value: object, reason: str
) -> None:
    entry = copy.deepcopy(attested(rsa_key, vote("Agree")))
    target = entry
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert refused(entry) == reason


# -- evidence: voter-signed (FEP-8b32) ---------------------------------------------------


def signed_entry(
    key: Ed25519PrivateKey,
    activity: Mapping[str, Any],
    *,
    method: str = VOTER + "#ed25519-key",
    **fields: Any,
) -> Entry:
    signed = sign_proof(activity, private_key=key, verification_method=method, created=NOW)
    return {
        "type": "BallotRecord",
        "seq": 1,
        "proposal": PROPOSAL,
        "voter": VOTER,
        "received": "2026-12-01T10:00:00Z",
        "assurance": "voter-signed",
        "evidence": {
            "activity": signed,
            "verificationMethod": method,
            "publicKeyMultibase": public_key_to_multibase(key),
        },
        "supersedes": None,
        "prev": GENESIS,
        **fields,
    }


def test_a_voter_signed_ranked_ballot_verifies() -> None:
    key = generate_ed25519()
    ranking = ["Red", "Green", "Blue"]
    verify_evidence(signed_entry(key, vote("Red", ranking=ranking), ranking=ranking))
    other = ["Red", "Blue", "Green"]
    assert refused(signed_entry(key, vote("Red", ranking=ranking), ranking=other)) == (
        "evidence-choice"
    )
    verify_evidence(signed_entry(key, vote("Red"), choices=["Red"]))


def test_a_tampered_voter_signed_ballot_fails_its_proof() -> None:
    key = generate_ed25519()
    entry = signed_entry(key, vote("Red"), choices=["Blue"])
    entry["evidence"]["activity"]["object"]["name"] = "Blue"
    assert refused(entry) == "evidence-proof"


def test_a_voter_signed_ballot_with_another_key_fails() -> None:
    entry = signed_entry(generate_ed25519(), vote("Red"), choices=["Red"])
    entry["evidence"]["publicKeyMultibase"] = public_key_to_multibase(generate_ed25519())
    assert refused(entry) == "evidence-proof"
    entry["evidence"]["publicKeyMultibase"] = public_key_to_multibase(generate_rsa())
    assert refused(entry) == "evidence-key"


def test_a_voter_signed_ballot_by_someone_elses_key_fails() -> None:
    key = generate_ed25519()
    method = "https://other.example/users/cy#ed25519-key"
    assert refused(signed_entry(key, vote("Red"), method=method, choices=["Red"])) == (
        "evidence-key-origin"
    )
    entry = signed_entry(key, vote("Red"), choices=["Red"])
    entry["evidence"]["verificationMethod"] = VOTER + "#other"
    assert refused(entry) == "evidence-key-mismatch"
