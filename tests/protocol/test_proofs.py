"""FEP-8b32 proofs: the published vectors, round trips, and one mutation per refusal."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.canonical import jcs, sha256_tagged
from protocol.keys import base58btc_decode, generate_ed25519, generate_rsa, multibase_to_public_key
from protocol.proofs import (
    BadProof,
    MalformedProof,
    MalformedProofValue,
    MissingProof,
    ProofError,
    ProofPurposeMismatch,
    UnsupportedCryptosuite,
    UnsupportedProofKey,
    UnsupportedProofType,
    format_created,
    proof_verification_method,
    sign_proof,
    verify_proof,
)

VECTORS = Path(__file__).parent.parent / "fixtures" / "fep-8b32"
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    return json.loads((VECTORS / name).read_text())  # type: ignore[no-any-return]


KEYS = load("vector_keys.json")
UNSIGNED = load("vector_unsigned_create.json")
SIGNED = load("vector_signed_create_eddsa-jcs-2022.json")
OLD = load("vector_OLD_signed_create_jcs-eddsa-2022_no-proof-context.json")
ACTOR = load("vector_actor_multikey_fep-521a.json")


def vector_private_key() -> Ed25519PrivateKey:
    secret = base58btc_decode(KEYS["secretKeyMultibase"][1:])
    assert secret[:2] == b"\x80\x26"  # multicodec ed25519-priv
    return Ed25519PrivateKey.from_private_bytes(secret[2:])


def vector_public_key() -> Ed25519PublicKey:
    key = multibase_to_public_key(KEYS["publicKeyMultibase"])
    assert isinstance(key, Ed25519PublicKey)
    return key


def mutated(document: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    out = copy.deepcopy(document)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


# -- canonical form ----------------------------------------------------------------------


def test_jcs_sorts_keys_and_writes_numbers_per_rfc8785() -> None:
    assert jcs({"b": 1, "a": [1.0, 2.5, 1e21, -0.0], "c": "é"}) == (
        '{"a":[1,2.5,1e+21,0],"b":1,"c":"é"}'.encode()
    )
    assert sha256_tagged(b"abc") == (
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_jcs_refuses_values_without_a_canonical_form() -> None:
    from protocol.canonical import CanonicalizationError

    for value in (float("nan"), 2**53, {1: "x"}, object()):
        with pytest.raises(CanonicalizationError) as err:
            jcs(value)
        assert err.value.reason == "jcs-unrepresentable"


# -- the vectors -------------------------------------------------------------------------


def test_signing_the_unsigned_vector_reproduces_the_signed_vector() -> None:
    signed = sign_proof(
        UNSIGNED,
        private_key=vector_private_key(),
        verification_method=KEYS["verificationMethod"],
        created=datetime.fromisoformat(KEYS["created"]),
    )
    assert signed["proof"]["proofValue"] == SIGNED["proof"]["proofValue"]  # type: ignore[index]
    assert json.dumps(signed, indent=2) == json.dumps(SIGNED, indent=2)
    assert "proof" not in UNSIGNED


def test_the_signed_vector_verifies_with_the_actors_multikey() -> None:
    method = ACTOR["assertionMethod"][0]
    key = multibase_to_public_key(method["publicKeyMultibase"])
    assert isinstance(key, Ed25519PublicKey)
    assert proof_verification_method(SIGNED) == method["id"]
    assert verify_proof(SIGNED, key) == method["id"]


def test_the_old_jcs_eddsa_2022_vector_verifies_too() -> None:
    assert verify_proof(OLD, vector_public_key()) == KEYS["verificationMethod"]


def test_old_cryptosuite_hashing_is_not_accepted_under_the_new_name() -> None:
    renamed = mutated(OLD, ("proof", "cryptosuite"), "eddsa-jcs-2022")
    with pytest.raises(BadProof):
        verify_proof(renamed, vector_public_key())


# -- mutations of the signed vector ------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ("actor",),
        ("object", "content"),
        ("object", "location", "latitude"),
        ("proof", "created"),
        ("proof", "verificationMethod"),
    ],
)
def test_changing_a_signed_field_breaks_the_proof(path: tuple[str, ...]) -> None:
    value = "2023-02-24T23:36:39Z" if path[-1] == "created" else "https://evil.example/x"
    if path[-1] == "latitude":
        value = 25.273963  # type: ignore[assignment]
    with pytest.raises(BadProof) as err:
        verify_proof(mutated(SIGNED, path, value), vector_public_key())
    assert err.value.reason == "proof-invalid"


def test_an_added_field_breaks_the_proof() -> None:
    with pytest.raises(BadProof):
        verify_proof(
            {**SIGNED, "to": ["https://www.w3.org/ns/activitystreams#Public"]}, vector_public_key()
        )


def test_an_altered_proof_value_does_not_verify() -> None:
    value = SIGNED["proof"]["proofValue"]
    middle = len(value) // 2
    altered = value[:middle] + ("2" if value[middle] != "2" else "3") + value[middle + 1 :]
    with pytest.raises(BadProof):
        verify_proof(mutated(SIGNED, ("proof", "proofValue"), altered), vector_public_key())


def test_another_key_does_not_verify() -> None:
    with pytest.raises(BadProof):
        verify_proof(SIGNED, generate_ed25519().public_key())


@pytest.mark.parametrize(
    ("proof_value", "fragment"),
    [
        ("u" + "A" * 86, "multibase"),  # base64url multibase, not base58btc
        ("z0OIl", "base58btc"),  # characters outside the alphabet
        ("z" + "2" * 20, "expected 64"),  # too short
        (12345, "multibase"),
    ],
)
def test_malformed_proof_values_are_named(proof_value: object, fragment: str) -> None:
    with pytest.raises(MalformedProofValue, match=fragment) as err:
        verify_proof(mutated(SIGNED, ("proof", "proofValue"), proof_value), vector_public_key())
    assert err.value.reason == "proof-value-malformed"


def test_missing_proof() -> None:
    with pytest.raises(MissingProof) as err:
        verify_proof(UNSIGNED, vector_public_key())
    assert err.value.reason == "proof-missing"
    with pytest.raises(MissingProof):
        proof_verification_method(UNSIGNED)


def test_wrong_proof_type_and_cryptosuite() -> None:
    with pytest.raises(UnsupportedProofType):
        verify_proof(
            mutated(SIGNED, ("proof", "type"), "Ed25519Signature2020"), vector_public_key()
        )
    with pytest.raises(UnsupportedCryptosuite) as err:
        verify_proof(
            mutated(SIGNED, ("proof", "cryptosuite"), "eddsa-rdfc-2022"), vector_public_key()
        )
    assert err.value.reason == "proof-cryptosuite"


def test_wrong_purpose_is_refused_before_the_crypto() -> None:
    with pytest.raises(ProofPurposeMismatch):
        verify_proof(SIGNED, vector_public_key(), purpose="authentication")
    with pytest.raises(ProofPurposeMismatch):
        verify_proof(
            mutated(SIGNED, ("proof", "proofPurpose"), "authentication"), vector_public_key()
        )


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (("proof",), "not an object", "proof-malformed"),
        (("proof",), [{"type": "DataIntegrityProof"}], "proof-set-unsupported"),
        (("proof", "created"), "yesterday", "proof-malformed"),
        (("proof", "created"), "2023-02-24T23:36:38", "proof-malformed"),
        (("proof", "verificationMethod"), None, "proof-malformed"),
        (("proof", "@context"), ["https://example.com/other"], "proof-context-mismatch"),
        (("@context",), "https://www.w3.org/ns/activitystreams", "proof-context-mismatch"),
        (("object", "big"), 2**60, "proof-malformed"),
    ],
)
def test_malformed_proofs_are_named(path: tuple[str, ...], value: object, reason: str) -> None:
    with pytest.raises(MalformedProof) as err:
        verify_proof(mutated(SIGNED, path, value), vector_public_key())
    assert err.value.reason == reason


def test_an_rsa_key_cannot_verify_an_eddsa_proof() -> None:
    with pytest.raises(UnsupportedProofKey):
        verify_proof(SIGNED, generate_rsa().public_key())  # type: ignore[arg-type]


# -- round trips -------------------------------------------------------------------------


def test_round_trip_with_a_generated_key_and_no_context() -> None:
    key = generate_ed25519()
    ballot = {
        "type": "Create",
        "actor": "https://coop.example/users/ana",
        "object": {"type": "Note", "name": "Agree", "inReplyTo": "https://coop.example/p/1"},
    }
    signed = sign_proof(
        ballot,
        private_key=key,
        verification_method="https://coop.example/users/ana#ed",
        created=NOW.replace(tzinfo=None, microsecond=5),
    )
    proof = signed["proof"]
    assert isinstance(proof, dict)
    assert "@context" not in proof
    assert proof["created"] == "2026-12-01T10:00:00Z"
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-jcs-2022"
    assert verify_proof(signed, key.public_key()) == "https://coop.example/users/ana#ed"
    with pytest.raises(ProofError):
        verify_proof({**signed, "actor": "https://coop.example/users/bo"}, key.public_key())


def test_a_document_with_a_proof_is_not_signed_again() -> None:
    with pytest.raises(ValueError, match="already"):
        sign_proof(SIGNED, private_key=generate_ed25519(), verification_method="x", created=NOW)


def test_created_is_written_in_utc_seconds() -> None:
    from datetime import timedelta, timezone

    moment = datetime(2026, 1, 1, 12, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))
    assert format_created(moment) == "2026-01-01T10:00:00Z"
