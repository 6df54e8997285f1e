"""Our signatures against two implementations we did not write, in both directions.

draft-cavage: the PyPI ``httpsig`` package (pycryptodome underneath). RFC 9421: the PyPI
``http-message-signatures`` package, which works on ``requests``-style messages. That
package checks ``created`` against the real clock, so these tests sign at the real now.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)
from httpsig.sign import HeaderSigner
from httpsig.verify import HeaderVerifier

from protocol.errors import DigestMismatch
from protocol.httpsig import (
    body_digest,
    check_digest,
    check_policy,
    parse_signature,
    sign_cavage,
    sign_rfc9421,
    verify_signature,
)
from protocol.keys import (
    PrivateKey,
    generate_ed25519,
    generate_rsa,
    private_key_to_pem,
    public_key_to_pem,
)

URL = "https://remote.example/users/bob/inbox?page=2"
PATH = "/users/bob/inbox?page=2"
KEY_ID = "https://mutual.example/users/ana#main-key"
BODY = b'{"type":"Like","object":"https://remote.example/notes/1"}'
ALGORITHMS = {
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "ed25519": algorithms.ED25519,
}


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return generate_rsa()


@pytest.fixture(scope="module")
def ed_key() -> Ed25519PrivateKey:
    return generate_ed25519()


def accept(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    key: PrivateKey,
    now: datetime,
) -> None:
    """The whole incoming pipeline, on lower-cased headers."""
    lowered = {name.lower(): value for name, value in headers.items()}
    sig = parse_signature(method=method, url=url, headers=lowered)
    check_policy(sig, method=method, now=now, has_body=bool(body))
    if body:
        check_digest(lowered, body)
    verify_signature(sig, key.public_key())


# -- draft-cavage-12 against httpsig ----------------------------------------------------


@pytest.mark.parametrize(("method", "body"), [("POST", BODY), ("GET", None)])
def test_httpsig_verifies_our_cavage_signature(
    method: str, body: bytes | None, rsa_key: RSAPrivateKey
) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    headers = sign_cavage(
        method=method, url=URL, body=body, key_id=KEY_ID, private_key=rsa_key, now=now
    )
    required = ["(request-target)", "host", "date"] + (["digest"] if body else [])
    verifier = HeaderVerifier(
        headers=headers,
        secret=public_key_to_pem(rsa_key),
        required_headers=required,
        method=method,
        path=PATH,
        sign_header="signature",
    )
    assert verifier.verify() is True


def test_httpsig_rejects_our_cavage_signature_on_another_path(rsa_key: RSAPrivateKey) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    headers = sign_cavage(
        method="POST", url=URL, body=BODY, key_id=KEY_ID, private_key=rsa_key, now=now
    )
    verifier = HeaderVerifier(
        headers=headers,
        secret=public_key_to_pem(rsa_key),
        method="POST",
        path="/users/eve/inbox",
        sign_header="signature",
    )
    assert verifier.verify() is False


@pytest.mark.parametrize(("method", "body"), [("POST", BODY), ("GET", None)])
def test_we_verify_a_cavage_signature_made_by_httpsig(
    method: str, body: bytes | None, rsa_key: RSAPrivateKey
) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    headers = {"Host": "remote.example", "Date": "Wed, 01 May 2024 12:00:00 GMT"}
    names = ["(request-target)", "host", "date"]
    if body is not None:
        headers["Digest"] = body_digest(body)
        names.append("digest")
    signer = HeaderSigner(
        KEY_ID,
        private_key_to_pem(rsa_key),
        algorithm="rsa-sha256",
        headers=names,
        sign_header="signature",
    )
    signed = dict(signer.sign(headers, method=method, path=PATH))
    accept(method, URL, signed, body, rsa_key, now)


# -- RFC 9421 against http-message-signatures -------------------------------------------


def prepared(method: str, body: bytes | None, headers: dict[str, str]) -> requests.PreparedRequest:
    return requests.Request(method, URL, headers=headers, data=body).prepare()


@pytest.mark.parametrize(("method", "body"), [("POST", BODY), ("GET", None)])
@pytest.mark.parametrize("alg", ["rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519"])
def test_http_message_signatures_verifies_our_rfc9421_signature(
    method: str, body: bytes | None, alg: str, rsa_key: RSAPrivateKey, ed_key: Ed25519PrivateKey
) -> None:
    key: PrivateKey = ed_key if alg == "ed25519" else rsa_key
    headers = sign_rfc9421(
        method=method,
        url=URL,
        body=body,
        key_id=KEY_ID,
        private_key=key,
        now=datetime.now(UTC),
        algorithm=alg,
    )
    verifier = HTTPMessageVerifier(
        signature_algorithm=ALGORITHMS[alg],
        key_resolver=MappingKeyResolver(public_keys={KEY_ID: key.public_key()}, private_keys={}),
    )
    required = ("@method", "@target-uri") + (("content-digest",) if body else ())
    (result,) = verifier.verify(
        prepared(method, body, headers), require_components=required, body=body
    )
    assert result.label == "sig1"
    assert result.parameters["keyid"] == KEY_ID
    assert result.parameters["alg"] == alg
    if body:
        assert result.body == body


@pytest.mark.parametrize(("method", "body"), [("POST", BODY), ("GET", None)])
@pytest.mark.parametrize("alg", ["rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519"])
def test_we_verify_an_rfc9421_signature_made_by_http_message_signatures(
    method: str, body: bytes | None, alg: str, rsa_key: RSAPrivateKey, ed_key: Ed25519PrivateKey
) -> None:
    key: PrivateKey = ed_key if alg == "ed25519" else rsa_key
    now = datetime.now(UTC).replace(microsecond=0)
    request = prepared(method, body, {"Content-Type": "application/activity+json"})
    signer = HTTPMessageSigner(
        signature_algorithm=ALGORITHMS[alg],
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: key}),
    )
    signer.sign(
        request,
        key_id=KEY_ID,
        created=now,
        label="sig1",
        body=body,
        covered_component_ids=("@method", "@target-uri"),
    )
    headers = dict(request.headers)
    if body:
        assert headers["Content-Digest"].startswith("sha-256=:")
    accept(method, URL, headers, body, key, now)


def test_we_refuse_a_signature_by_http_message_signatures_after_the_body_changed(
    ed_key: Ed25519PrivateKey,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    request = prepared("POST", BODY, {})
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: ed_key}),
    )
    signer.sign(
        request,
        key_id=KEY_ID,
        created=now,
        body=BODY,
        covered_component_ids=("@method", "@target-uri"),
    )
    with pytest.raises(DigestMismatch, match="does not match the body"):
        accept("POST", URL, dict(request.headers), BODY + b"!", ed_key, now)
