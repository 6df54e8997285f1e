"""FEP-8b32 object integrity proofs with the ``eddsa-jcs-2022`` cryptosuite.

A Mutual node signs everything it authors for a decision (proposals, ballots cast from
Mutual, results) with the actor's Ed25519 ``assertionMethod`` key (FEP-521a), so a copy
fetched from anywhere can be checked without trusting the server that relays it
(DESIGN §2, §3). The algorithm is W3C vc-di-eddsa §3.3 (``eddsa-jcs-2022``)::

    proofConfig  = proof options without proofValue, plus the document's @context
    hashData     = SHA-256(JCS(proofConfig)) || SHA-256(JCS(document without proof))
    proofValue   = "z" + base58btc(Ed25519-sign(hashData))

Verification also accepts ``jcs-eddsa-2022``, the name an older FEP-8b32 revision used
(and its Letterbook test vector): the same hashing, except that the proof options are
hashed as they stand, with no ``@context`` added. It is never produced.

Errors::

    ProtocolError
    └── ProofError
        ├── MissingProof              no ``proof`` member
        ├── MalformedProof            proof present but not usable (shape, created,
        │                             verificationMethod, @context prefix, proof sets)
        ├── UnsupportedProofType      ``type`` is not DataIntegrityProof
        ├── UnsupportedCryptosuite    ``cryptosuite`` is not eddsa-jcs-2022
        ├── ProofPurposeMismatch      ``proofPurpose`` is not the one required
        ├── MalformedProofValue       not multibase base58btc of a 64-byte signature
        ├── UnsupportedProofKey       the key given is not Ed25519
        └── BadProof                  the signature does not verify
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.canonical import CanonicalizationError, jcs
from protocol.errors import ProtocolError
from protocol.keys import KeyFormatError, base58btc_decode, base58btc_encode

__all__ = [
    "CRYPTOSUITE",
    "LEGACY_CRYPTOSUITE",
    "PROOF_TYPE",
    "BadProof",
    "MalformedProof",
    "MalformedProofValue",
    "MissingProof",
    "ProofError",
    "ProofPurposeMismatch",
    "UnsupportedCryptosuite",
    "UnsupportedProofKey",
    "UnsupportedProofType",
    "format_created",
    "proof_verification_method",
    "sign_proof",
    "verify_proof",
]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-jcs-2022"
#: The pre-2023 FEP-8b32 name; verified (without @context in the proof config), never made.
LEGACY_CRYPTOSUITE = "jcs-eddsa-2022"
_SIGNATURE_BYTES = 64  # Ed25519 (RFC 8032 §5.1.6)


class ProofError(ProtocolError):
    reason = "proof"


class MissingProof(ProofError):
    reason = "proof-missing"


class MalformedProof(ProofError):
    reason = "proof-malformed"


class UnsupportedProofType(ProofError):
    reason = "proof-type"


class UnsupportedCryptosuite(ProofError):
    reason = "proof-cryptosuite"


class ProofPurposeMismatch(ProofError):
    reason = "proof-purpose"


class MalformedProofValue(ProofError):
    reason = "proof-value-malformed"


class UnsupportedProofKey(ProofError):
    reason = "proof-key-type"


class BadProof(ProofError):
    reason = "proof-invalid"


def format_created(moment: datetime) -> str:
    """Write a proof's ``created`` as an XML Schema dateTime in UTC, to the second.

    vc-data-integrity §2.1 asks for an XMLSCHEMA11-2 dateTimeStamp; whole seconds with
    ``Z`` is what the FEP-8b32 vectors and other implementations write. Naive datetimes
    are taken as UTC (never local time); fractions of a second are dropped.

    >>> format_created(datetime(2023, 2, 24, 23, 36, 38, 123, tzinfo=UTC))
    '2023-02-24T23:36:38Z'
    """
    utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_proof(
    document: Mapping[str, object],
    *,
    private_key: Ed25519PrivateKey,
    verification_method: str,
    created: datetime,
    purpose: str = "assertionMethod",
) -> dict[str, object]:
    """Return a shallow copy of ``document`` with an ``eddsa-jcs-2022`` proof added.

    vc-di-eddsa §3.3.1 (Create Proof): the proof carries the document's ``@context``
    when it has one (§3.3.5 Proof Configuration), so verifiers bind the proof to the same context.
    A document that already has a ``proof`` is refused (proof sets are out of scope).
    """
    if "proof" in document:
        raise ValueError("document already carries a proof")
    options: dict[str, object] = {}
    if "@context" in document:
        options["@context"] = document["@context"]
    options |= {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "verificationMethod": verification_method,
        "proofPurpose": purpose,
    }
    stamp = format_created(created)
    signature = private_key.sign(_hash_data({**options, "created": stamp}, document))
    # Key order follows the FEP-8b32 vector; JCS makes it irrelevant to the signature.
    proof = {**options, "proofValue": "z" + base58btc_encode(signature), "created": stamp}
    return {**document, "proof": proof}


def verify_proof(
    document: Mapping[str, object],
    public_key: Ed25519PublicKey,
    *,
    purpose: str = "assertionMethod",
) -> str:
    """Verify the document's FEP-8b32 proof with ``public_key``; return its verificationMethod.

    Follows vc-di-eddsa §3.3.2 (Verify Proof). The caller resolves the key for the
    returned verificationMethod beforehand (usually via :func:`proof_verification_method`
    and the actor's ``assertionMethod``) and must still check that the method belongs
    to the actor it expects: this function proves only "signed by this key".
    """
    if not isinstance(public_key, Ed25519PublicKey):
        raise UnsupportedProofKey(
            f"eddsa-jcs-2022 needs an Ed25519 key, not {type(public_key).__name__}"
        )
    proof = _proof(document)
    kind = proof.get("type")
    if kind != PROOF_TYPE:
        raise UnsupportedProofType(f"proof type {kind!r} is not {PROOF_TYPE}")
    suite = proof.get("cryptosuite")
    if suite not in (CRYPTOSUITE, LEGACY_CRYPTOSUITE):
        raise UnsupportedCryptosuite(f"cryptosuite {suite!r} is not {CRYPTOSUITE}")
    if proof.get("proofPurpose") != purpose:
        raise ProofPurposeMismatch(
            f"proofPurpose is {proof.get('proofPurpose')!r}, expected {purpose!r}"
        )
    method = _method(proof)
    _check_created(proof.get("created"))
    signature = _signature(proof.get("proofValue"))
    options = {key: value for key, value in proof.items() if key != "proofValue"}
    unsecured = {key: value for key, value in document.items() if key != "proof"}
    if suite == CRYPTOSUITE and "@context" in options:
        # §3.3.2 (Verify Proof): the document's @context must begin with the proof's, and the
        # proof's is the one that is hashed.
        if not _starts_with(unsecured.get("@context"), options["@context"]):
            raise MalformedProof(
                "document @context does not start with the proof's @context",
                reason="proof-context-mismatch",
            )
        unsecured["@context"] = options["@context"]
    try:
        data = _hash_data(options, unsecured, add_context=suite == CRYPTOSUITE)
    except CanonicalizationError as exc:
        raise MalformedProof(f"document cannot be canonicalised: {exc.message}") from exc
    try:
        public_key.verify(signature, data)
    except InvalidSignature as exc:
        raise BadProof(f"proof by {method} does not verify") from exc
    return method


def proof_verification_method(document: Mapping[str, object]) -> str:
    """The ``verificationMethod`` a document's proof names, to look its key up first."""
    return _method(_proof(document))


# -- helpers ----------------------------------------------------------------------------


def _hash_data(
    options: Mapping[str, object], unsecured: Mapping[str, object], *, add_context: bool = True
) -> bytes:
    """vc-di-eddsa §3.3.5 (proof configuration) and §3.3.4 (hashing)."""
    config = dict(options)
    config.pop("proofValue", None)
    if add_context and "@context" in unsecured:
        config["@context"] = unsecured["@context"]
    document = {key: value for key, value in unsecured.items() if key != "proof"}
    return hashlib.sha256(jcs(config)).digest() + hashlib.sha256(jcs(document)).digest()


def _proof(document: Mapping[str, object]) -> Mapping[str, object]:
    proof = document.get("proof")
    if proof is None:
        raise MissingProof("document carries no proof")
    if isinstance(proof, list):
        raise MalformedProof("proof sets are not supported", reason="proof-set-unsupported")
    if not isinstance(proof, Mapping):
        raise MalformedProof("proof is not an object")
    return proof


def _method(proof: Mapping[str, object]) -> str:
    method = proof.get("verificationMethod")
    if not isinstance(method, str) or not method:
        raise MalformedProof("proof has no verificationMethod string")
    return method


def _check_created(created: object) -> None:
    # vc-data-integrity §2.1: created is optional, but when present it must be a
    # dateTimeStamp; an unreadable one means the proof was not made by a conforming signer.
    if created is None:
        return
    if not isinstance(created, str):
        raise MalformedProof("proof created is not a string")
    try:
        moment = datetime.fromisoformat(created)
    except ValueError as exc:
        raise MalformedProof(f"proof created {created[:40]!r} is not a dateTime") from exc
    if moment.tzinfo is None:
        raise MalformedProof("proof created has no time zone")


def _signature(value: object) -> bytes:
    if not isinstance(value, str) or not value.startswith("z"):
        raise MalformedProofValue("proofValue is not a multibase base58btc string")
    try:
        signature = base58btc_decode(value[1:])
    except KeyFormatError as exc:
        raise MalformedProofValue(f"proofValue is not base58btc: {exc.message}") from exc
    if len(signature) != _SIGNATURE_BYTES:
        raise MalformedProofValue(f"proofValue holds {len(signature)} bytes, expected 64")
    return signature


def _starts_with(document_context: object, proof_context: object) -> bool:
    def as_list(value: object) -> list[object]:
        return list(value) if isinstance(value, list) else [value]

    if document_context is None:
        return False
    doc, prefix = as_list(document_context), as_list(proof_context)
    return doc[: len(prefix)] == prefix
