"""HTTP signatures: published vectors, round trips, and one mutation per refusal."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import (
    BadSignature,
    DateSkew,
    DigestMismatch,
    MalformedSignature,
    MissingComponent,
    MissingSignature,
    SignatureError,
    UnsupportedAlgorithm,
)
from protocol.httpsig import (
    SignatureInput,
    body_digest,
    check_digest,
    check_policy,
    content_digest,
    parse_signature,
    sign_cavage,
    sign_rfc9421,
    verify_signature,
)
from protocol.keys import (
    PrivateKey,
    PublicKey,
    generate_ed25519,
    generate_rsa,
    load_private_pem,
    load_public_pem,
)

CAVAGE = Path(__file__).parent.parent / "fixtures" / "httpsig" / "cavage12"
RFC = CAVAGE.parent / "rfc9421"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
INBOX = "https://remote.example/users/bob/inbox"
BODY = b'{"type": "Follow", "actor": "https://mutual.example/users/ana"}'


def read_http(path: Path) -> tuple[str, str, dict[str, str], bytes]:
    """A request file -> (method, target, lower-cased headers joined with ", ", body)."""
    head, _, body = path.read_bytes().replace(b"\r\n", b"\n").partition(b"\n\n")
    request_line, *lines = head.decode().split("\n")
    method, target, _ = request_line.split(" ")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name, value = name.lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return method, target, headers, body.rstrip(b"\n")


def header_lines(path: Path) -> dict[str, str]:
    return {
        k.lower(): v for k, _, v in (ln.partition(": ") for ln in path.read_text().splitlines())
    }


def public(name: str) -> PublicKey:
    return load_public_pem((RFC / f"test-key-{name}.pub.pem").read_text())


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return generate_rsa()


@pytest.fixture(scope="module")
def ed_key() -> Ed25519PrivateKey:
    return generate_ed25519()


# -- draft-cavage-12 Appendix C ---------------------------------------------------------


@pytest.mark.parametrize("case", ["C1", "C2", "C3"])
def test_cavage_appendix_c_strings_verify_and_re_sign_byte_for_byte(case: str) -> None:
    method, target, headers, body = read_http(CAVAGE / "request.http")
    headers["signature"] = (CAVAGE / f"{case}.signature-header.txt").read_text().strip()
    sig = parse_signature(method=method, url=f"http://example.com{target}", headers=headers)
    assert sig.scheme == "cavage"
    assert (sig.key_id, sig.algorithm) == ("Test", "rsa-sha256")
    assert sig.bases[0] == (CAVAGE / f"{case}.signing-string.txt").read_bytes()
    verify_signature(sig, load_public_pem((CAVAGE / "test-key-Test.pub.pem").read_text()))
    private = load_private_pem((CAVAGE / "test-key-Test.priv.pem").read_text())
    assert isinstance(private, RSAPrivateKey)
    resigned = private.sign(sig.bases[0], padding.PKCS1v15(), hashes.SHA256())
    assert resigned == sig.signature
    assert headers["digest"] == body_digest(body)
    check_digest(headers, body)


def test_sign_cavage_reproduces_appendix_c2_byte_for_byte() -> None:
    private = load_private_pem((CAVAGE / "test-key-Test.priv.pem").read_text())
    out = sign_cavage(
        method="POST",
        url="http://example.com/foo?param=value&pet=dog",
        body=None,  # C.2 signs no digest
        key_id="Test",
        private_key=private,
        now=datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC),
    )
    assert out == {
        "Host": "example.com",
        "Date": "Sun, 05 Jan 2014 21:31:40 GMT",
        "Signature": (CAVAGE / "C2.signature-header.txt").read_text().strip(),
    }


def test_cavage_c3_as_printed_in_the_draft_is_refused_per_its_own_section_2_3() -> None:
    # The draft's C.3 header adds (created) (expires) to an rsa-sha256 signature, which
    # §2.3 forbids (and the signature does not cover them; see SOURCE.md).
    method, target, headers, _ = read_http(CAVAGE / "request.http")
    printed = (CAVAGE / "C3.signature-header.txt").read_text().strip()
    headers["signature"] = printed.replace(
        'headers="(request-target) host',
        'created=1402170695,headers="(request-target) (created) host',
    )
    with pytest.raises(MalformedSignature, match=r"\(created\) cannot be signed"):
        parse_signature(method=method, url=f"http://example.com{target}", headers=headers)


# -- RFC 9421 appendix B and §4.3 -------------------------------------------------------


def rfc_vector(name: str) -> SignatureInput:
    method, target, headers, _ = read_http(RFC / "test-request.http")
    headers |= header_lines(RFC / f"{name}.headers.txt")
    return parse_signature(method=method, url=f"https://example.com{target}", headers=headers)


@pytest.mark.parametrize("name", ["b21", "b22", "b23", "b25", "b26"])
def test_rfc9421_signature_bases_are_reproduced_byte_for_byte(name: str) -> None:
    sig = rfc_vector(name)
    assert sig.scheme == "rfc9421"
    assert sig.label == f"sig-{name}"
    assert sig.bases == ((RFC / f"{name}.sigbase.txt").read_bytes(),)
    assert sig.created == datetime.fromtimestamp(1618884473, UTC)


@pytest.mark.parametrize(
    ("name", "key"),
    [("b21", "rsa-pss"), ("b22", "rsa-pss"), ("b23", "rsa-pss"), ("b26", "ed25519")],
)
def test_rfc9421_vector_signatures_verify(name: str, key: str) -> None:
    verify_signature(rfc_vector(name), public(key))


def test_rfc9421_b26_re_signs_byte_identically() -> None:
    sig = rfc_vector("b26")
    private = load_private_pem((RFC / "test-key-ed25519.priv.pem").read_text())
    assert isinstance(private, Ed25519PrivateKey)
    assert private.sign(sig.bases[0]) == sig.signature


def test_rfc9421_hmac_vector_b25_is_parsed_but_hmac_is_unsupported() -> None:
    sig = replace(rfc_vector("b25"), algorithm="hmac-sha256")
    with pytest.raises(UnsupportedAlgorithm, match="hmac-sha256"):
        verify_signature(sig, public("rsa"))


def test_proxy_signature_of_section_4_3_is_chosen_by_label_verified_and_re_signed() -> None:
    method, target, headers, _ = read_http(RFC / "multi-final-request.http")
    url = f"https://origin.host.internal.example{target}"
    assert parse_signature(method=method, url=url, headers=headers).label == "sig1"
    sig = parse_signature(method=method, url=url, headers=headers, label="proxy_sig")
    assert sig.bases == ((RFC / "proxy_sig.sigbase.txt").read_bytes(),)
    assert sig.algorithm == "rsa-v1_5-sha256"
    assert sig.expires == datetime.fromtimestamp(1618884540, UTC)
    verify_signature(sig, public("rsa"))
    private = load_private_pem((RFC / "test-key-rsa.priv.pem").read_text())
    assert isinstance(private, RSAPrivateKey)
    assert private.sign(sig.bases[0], padding.PKCS1v15(), hashes.SHA256()) == sig.signature


@pytest.mark.parametrize(
    ("request_file", "verifies"),
    [
        ("transform.request.http", True),
        ("transform-valid-1-added-header-and-query.http", True),
        ("transform-valid-2-date-removed-accept-collapsed.http", True),
        ("transform-valid-3-reordered-fields.http", True),
        ("transform-INVALID-4-method-and-authority-changed.http", False),
        ("transform-INVALID-5-accept-order-swapped.http", False),
    ],
)
def test_appendix_b4_transformations(request_file: str, verifies: bool) -> None:
    method, target, headers, _ = read_http(RFC / request_file)
    sig = parse_signature(method=method, url=f"https://{headers['host']}{target}", headers=headers)
    if verifies:
        assert sig.bases == ((RFC / "transform.sigbase.txt").read_bytes(),)
        verify_signature(sig, public("ed25519"))
    else:
        with pytest.raises(BadSignature):
            verify_signature(sig, public("ed25519"))


def base_lines(url: str, components: str, headers: dict[str, str] | None = None) -> list[str]:
    signature_input = f'sig1=({components});keyid="k"'
    all_headers = {
        "signature-input": signature_input,
        "signature": "sig1=:AA==:",
        **(headers or {}),
    }
    sig = parse_signature(method="POST", url=url, headers=all_headers)
    return sig.bases[0].decode().split("\n")[:-1]


def test_derived_components_match_the_examples_of_section_2_2() -> None:
    names = '"@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query"'
    assert base_lines("https://www.example.com/path?param=value", names) == [
        '"@method": POST',
        '"@target-uri": https://www.example.com/path?param=value',
        '"@authority": www.example.com',
        '"@scheme": https',
        '"@request-target": /path?param=value',
        '"@path": /path',
        '"@query": ?param=value',
    ]
    assert base_lines("HTTP://WWW.Example.com:80", '"@authority" "@scheme" "@path" "@query"') == [
        '"@authority": www.example.com',
        '"@scheme": http',
        '"@path": /',
        '"@query": ?',
    ]
    assert base_lines("https://example.com:8443/", '"@authority"') == [
        '"@authority": example.com:8443'
    ]


def test_query_params_are_re_encoded_as_in_section_2_2_8() -> None:
    url = (
        "https://example.com/path?var=this%20is%20a%20big%0Avalue&bar=with+plus+whitespace"
        "&fa%C3%A7ade%22%3A%20=something&qux="
    )
    names = '"@query-param";name="var" "@query-param";name="bar" '
    names += '"@query-param";name="fa%C3%A7ade%22%3A%20" "@query-param";name="qux"'
    assert base_lines(url, names) == [
        '"@query-param";name="var": this%20is%20a%20big%0Avalue',
        '"@query-param";name="bar": with%20plus%20whitespace',
        '"@query-param";name="fa%C3%A7ade%22%3A%20": something',
        '"@query-param";name="qux": ',
    ]


def test_header_values_are_trimmed_and_empty_ones_kept() -> None:
    headers = {"x-a": "  padded\t", "x-b": ""}
    assert base_lines(INBOX, '"x-a" "x-b"', headers) == ['"x-a": padded', '"x-b": ']


# -- outgoing formats -------------------------------------------------------------------


def test_sign_cavage_post_looks_exactly_like_mastodon(rsa_key: RSAPrivateKey) -> None:
    out = sign_cavage(
        method="POST",
        url=INBOX + "?x=1",
        body=BODY,
        key_id="https://m.example/u/a#main-key",
        private_key=rsa_key,
        now=NOW,
    )
    assert out["Host"] == "remote.example"
    assert out["Date"] == "Wed, 01 May 2024 12:00:00 GMT"
    assert out["Digest"] == body_digest(BODY)
    assert out["Signature"].startswith(
        'keyId="https://m.example/u/a#main-key",algorithm="rsa-sha256",'
        'headers="(request-target) host date digest",signature="'
    )
    sig = parse_signature(method="POST", url=INBOX + "?x=1", headers=lower(out))
    assert sig.bases[0].startswith(b"(request-target): post /users/bob/inbox?x=1\nhost: ")


def test_sign_cavage_get_has_no_digest_and_ed25519_says_hs2019(ed_key: Ed25519PrivateKey) -> None:
    out = sign_cavage(method="GET", url=INBOX, body=None, key_id="k", private_key=ed_key, now=NOW)
    assert "Digest" not in out
    assert 'algorithm="hs2019",headers="(request-target) host date",' in out["Signature"]


def test_sign_rfc9421_writes_mastodon_s_profile(rsa_key: RSAPrivateKey) -> None:
    out = sign_rfc9421(
        method="POST", url=INBOX, body=BODY, key_id='k"1', private_key=rsa_key, now=NOW
    )
    assert out["Content-Digest"] == content_digest(BODY)
    assert out["Signature-Input"] == (
        'sig1=("@method" "@target-uri" "content-digest");created=1714564800;'
        'keyid="k\\"1";alg="rsa-v1_5-sha256"'
    )
    assert out["Signature"].startswith("sig1=:")
    assert out["Signature"].endswith(":")
    get = sign_rfc9421(method="GET", url=INBOX, body=None, key_id="k", private_key=rsa_key, now=NOW)
    assert get.keys() == {"Signature-Input", "Signature"}
    assert get["Signature-Input"].startswith('sig1=("@method" "@target-uri");')


def test_sign_rfc9421_refuses_an_algorithm_the_key_cannot_do(ed_key: Ed25519PrivateKey) -> None:
    with pytest.raises(UnsupportedAlgorithm):
        sign_rfc9421(
            method="GET",
            url=INBOX,
            body=None,
            key_id="k",
            private_key=ed_key,
            now=NOW,
            algorithm="rsa-pss-sha512",
        )
    with pytest.raises(ValueError, match="structured-field key"):
        sign_rfc9421(
            method="GET",
            url=INBOX,
            body=None,
            key_id="k",
            private_key=ed_key,
            now=NOW,
            label="Sig1",
        )


def test_content_digest_supports_sha_512_only_besides_sha_256() -> None:
    assert content_digest(b"", "SHA-512").startswith("sha-512=:z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXc")
    with pytest.raises(ValueError, match="md5"):
        content_digest(b"", "md5")


# -- round trips ------------------------------------------------------------------------


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def signed(
    scheme: str,
    key: PrivateKey,
    method: str = "POST",
    url: str = INBOX,
    body: bytes | None = BODY,
    now: datetime = NOW,
    **kw: str,
) -> dict[str, str]:
    sign = sign_cavage if scheme == "cavage" else sign_rfc9421
    out = lower(
        sign(
            method=method,
            url=url,
            body=body,
            key_id="https://m.example/a#k",
            private_key=key,
            now=now,
            **kw,
        )
    )
    return {"host": "remote.example", "content-type": "application/activity+json", **out}


def accept(
    scheme: str,
    key: PrivateKey,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    url: str = INBOX,
    now: datetime = NOW,
) -> SignatureInput:
    sig = parse_signature(method=method, url=url, headers=headers)
    check_policy(sig, method=method, now=now, has_body=bool(body))
    if body:
        check_digest(headers, body)
    verify_signature(sig, key.public_key())
    return sig


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
@pytest.mark.parametrize("method", ["POST", "GET"])
@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_sign_then_parse_policy_digest_verify(
    scheme: str, method: str, key_type: str, request: pytest.FixtureRequest
) -> None:
    key = request.getfixturevalue(f"{'rsa' if key_type == 'rsa' else 'ed'}_key")
    body = BODY if method == "POST" else None
    url = INBOX + "?page=2&q=a%20b"
    sig = accept(scheme, key, method, signed(scheme, key, method, url, body), body, url)
    assert sig.key_id == "https://m.example/a#k"
    assert sig.scheme == scheme


def test_rsa_pss_sha512_round_trip(rsa_key: RSAPrivateKey) -> None:
    headers = signed("rfc9421", rsa_key, algorithm="rsa-pss-sha512")
    assert accept("rfc9421", rsa_key, "POST", headers, BODY).algorithm == "rsa-pss-sha512"


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_a_changed_body_is_a_digest_mismatch(scheme: str, rsa_key: RSAPrivateKey) -> None:
    with pytest.raises(DigestMismatch, match="does not match the body"):
        accept(scheme, rsa_key, "POST", signed(scheme, rsa_key), BODY + b" ")


@pytest.mark.parametrize(
    ("scheme", "header"),
    [("cavage", "date"), ("cavage", "digest"), ("cavage", "host"), ("rfc9421", "content-digest")],
)
def test_a_changed_signed_header_is_a_bad_signature(
    scheme: str, header: str, rsa_key: RSAPrivateKey
) -> None:
    headers = signed(scheme, rsa_key)
    other = signed(
        scheme, rsa_key, url="https://evil.example/x", body=b"{}", now=NOW + timedelta(seconds=1)
    )
    sig = parse_signature(method="POST", url=INBOX, headers=headers | {header: other[header]})
    with pytest.raises(BadSignature, match="does not verify"):
        verify_signature(sig, rsa_key.public_key())


def test_a_different_target_uri_is_a_bad_signature(ed_key: Ed25519PrivateKey) -> None:
    sig = parse_signature(method="POST", url=INBOX + "2", headers=signed("rfc9421", ed_key))
    with pytest.raises(BadSignature):
        verify_signature(sig, ed_key.public_key())


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
def test_the_wrong_key_is_a_bad_signature(scheme: str, rsa_key: RSAPrivateKey) -> None:
    sig = parse_signature(method="POST", url=INBOX, headers=signed(scheme, rsa_key))
    with pytest.raises(BadSignature):
        verify_signature(sig, generate_rsa().public_key())


@pytest.mark.parametrize("scheme", ["cavage", "rfc9421"])
@pytest.mark.parametrize(
    ("age", "ok"),
    [
        (timedelta(hours=-2), False),
        (timedelta(minutes=-59), True),
        (timedelta(minutes=64), True),
        (timedelta(minutes=66), False),
        (timedelta(hours=2), False),
    ],
)
def test_the_time_window_is_mastodon_s(
    scheme: str, age: timedelta, ok: bool, rsa_key: RSAPrivateKey
) -> None:
    sig = parse_signature(method="POST", url=INBOX, headers=signed(scheme, rsa_key))
    if ok:
        check_policy(sig, method="POST", now=NOW + age, has_body=True)
    else:
        with pytest.raises(DateSkew):
            check_policy(sig, method="POST", now=NOW + age, has_body=True)


def test_expires_is_honoured_but_capped_at_12_hours(ed_key: Ed25519PrivateKey) -> None:
    sig = parse_signature(
        method="GET", url=INBOX, headers=signed("rfc9421", ed_key, "GET", body=None)
    )
    long = replace(sig, expires=NOW + timedelta(days=2))
    check_policy(long, method="GET", now=NOW + timedelta(hours=12, minutes=59), has_body=False)
    with pytest.raises(DateSkew, match="expired"):
        check_policy(long, method="GET", now=NOW + timedelta(hours=13, minutes=1), has_body=False)


def test_an_unsigned_created_parameter_cannot_extend_a_cavage_window(
    rsa_key: RSAPrivateKey,
) -> None:
    headers = signed("cavage", rsa_key)
    later = NOW + timedelta(hours=2)
    headers["signature"] += f",created={int(later.timestamp())}"
    sig = parse_signature(method="POST", url=INBOX, headers=headers)
    assert sig.created is None
    with pytest.raises(DateSkew):
        check_policy(sig, method="POST", now=later, has_body=True)


def cavage_header(
    key: RSAPrivateKey,
    names: str,
    headers: dict[str, str],
    method: str = "POST",
    url: str = INBOX,
    algorithm: str = "rsa-sha256",
    extra: str = "",
) -> str:
    """A cavage Signature over ``names``; the base is the one proven on the vectors."""
    draft = f'keyId="k",algorithm="{algorithm}",{extra}headers="{names}",signature="AA=="'
    base = parse_signature(method=method, url=url, headers=headers | {"signature": draft}).bases[-1]
    raw = key.sign(base, padding.PKCS1v15(), hashes.SHA256())
    return draft.replace("AA==", base64.b64encode(raw).decode())


@pytest.mark.parametrize(
    ("names", "method", "message"),
    [
        ("(request-target) host date", "POST", "body but content-digest or digest"),
        ("host date digest", "POST", r"does not cover \(request-target\)"),
        ("(request-target) date", "GET", "does not cover host"),
        ("(request-target) host digest", "POST", "neither date nor created"),
    ],
)
def test_weak_cavage_coverage_is_a_missing_component(
    names: str, method: str, message: str, rsa_key: RSAPrivateKey
) -> None:
    headers = signed("cavage", rsa_key)
    headers["signature"] = cavage_header(rsa_key, names, headers, method)
    sig = parse_signature(method=method, url=INBOX, headers=headers)
    with pytest.raises(MissingComponent, match=message):
        check_policy(sig, method=method, now=NOW, has_body=method == "POST")
    verify_signature(sig, rsa_key.public_key())  # the signature itself is fine


@pytest.mark.parametrize(
    ("components", "message"),
    [
        (("@method", "content-digest"), "@target-uri"),
        (("@target-uri", "content-digest"), "@method"),
        (("@method", "@target-uri"), "content-digest is unsigned"),
    ],
)
def test_weak_rfc9421_coverage_is_a_missing_component(
    components: tuple[str, ...], message: str, ed_key: Ed25519PrivateKey
) -> None:
    sig = parse_signature(method="POST", url=INBOX, headers=signed("rfc9421", ed_key))
    with pytest.raises(MissingComponent, match=message):
        check_policy(replace(sig, components=components), method="POST", now=NOW, has_body=True)
    with pytest.raises(MissingComponent, match="neither date nor created"):
        check_policy(replace(sig, created=None), method="POST", now=NOW, has_body=True)


def test_hs2019_with_a_signed_created_is_timed_by_created(rsa_key: RSAPrivateKey) -> None:
    headers = signed("cavage", rsa_key)
    extra = f"created={int(NOW.timestamp())},"
    headers["signature"] = cavage_header(
        rsa_key, "(request-target) (created) host digest", headers, algorithm="hs2019", extra=extra
    )
    sig = accept("cavage", rsa_key, "POST", headers, BODY)
    assert (sig.algorithm, sig.created) == ("hs2019", NOW)


def test_a_signature_over_the_path_without_its_query_is_accepted(rsa_key: RSAPrivateKey) -> None:
    headers = signed("cavage", rsa_key)
    headers["signature"] = cavage_header(rsa_key, "(request-target) host date digest", headers)
    accept("cavage", rsa_key, "POST", headers, BODY, url=INBOX + "?a=1")


@pytest.mark.parametrize("algorithm", ["ecdsa-sha256", "hmac-sha256", "rsa-sha1"])
def test_an_unsupported_algorithm_is_refused(algorithm: str, rsa_key: RSAPrivateKey) -> None:
    headers = signed("cavage", rsa_key)
    headers["signature"] = headers["signature"].replace("rsa-sha256", algorithm)
    sig = parse_signature(method="POST", url=INBOX, headers=headers)
    with pytest.raises(UnsupportedAlgorithm, match=algorithm):
        check_policy(sig, method="POST", now=NOW, has_body=True)
    with pytest.raises(UnsupportedAlgorithm):
        verify_signature(sig, rsa_key.public_key())


def test_an_algorithm_of_the_wrong_key_type_is_refused(
    rsa_key: RSAPrivateKey, ed_key: Ed25519PrivateKey
) -> None:
    sig = parse_signature(method="POST", url=INBOX, headers=signed("cavage", rsa_key))
    with pytest.raises(UnsupportedAlgorithm, match="Ed25519PublicKey"):
        verify_signature(sig, ed_key.public_key())
    with pytest.raises(UnsupportedAlgorithm, match="RSAPublicKey"):
        verify_signature(replace(sig, algorithm="ed25519"), rsa_key.public_key())


def test_no_signature_header_is_a_missing_signature() -> None:
    with pytest.raises(MissingSignature):
        parse_signature(method="GET", url=INBOX, headers={"host": "remote.example"})


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"signature": "garbage"}, "not a parameter list"),
        ({"signature": 'keyId="a",signature="!!!"'}, "not base64"),
        ({"signature": 'keyId="a"'}, "no signature"),
        ({"signature": 'signature="AA=="'}, "no keyId"),
        ({"signature": 'keyId="a",keyId="b",signature="AA=="'}, "repeats"),
        ({"signature": 'keyId="a",headers="",signature="AA=="'}, "no signed headers"),
        ({"signature": 'keyId="a",headers="(nonsense)",signature="AA=="'}, "unknown pseudo"),
        (
            {"signature": 'keyId="a",signature="AA==",headers="date"', "date": "yesterday"},
            "not an HTTP date",
        ),
        ({"signature": 'keyId="a",algorithm="hs2019",signature="AA=="'}, r"\(created\) is signed"),
        ({"signature-input": "sig1=("}, "not a structured-field dictionary"),
        ({"signature-input": 'sig1=();keyid="k"'}, "without a Signature"),
        ({"signature-input": "sig1=();created=1", "signature": "sig1=:AA==:"}, "keyid"),
        ({"signature-input": 'sig1=();keyid="k"', "signature": "sig2=:AA==:"}, "byte-sequence"),
        ({"signature-input": 'sig1=("Date");keyid="k"', "signature": "sig1=:AA==:"}, "lower-case"),
        ({"signature-input": 'sig1=(date);keyid="k"', "signature": "sig1=:AA==:"}, "lower-case"),
        (
            {"signature-input": 'sig1=("@path" "@path");keyid="k"', "signature": "sig1=:AA==:"},
            "covered twice",
        ),
        (
            {"signature-input": 'sig1=("@status");keyid="k"', "signature": "sig1=:AA==:"},
            "not supported",
        ),
        (
            {"signature-input": 'sig1=("@query-param");keyid="k"', "signature": "sig1=:AA==:"},
            '"name"',
        ),
        (
            {"signature-input": 'sig1=("date";sf);keyid="k"', "signature": "sig1=:AA==:"},
            "unsupported",
        ),
        (
            {"signature-input": 'sig1=();keyid="k";created="1"', "signature": "sig1=:AA==:"},
            "not an integer",
        ),
        ({"signature-input": 'sig1=();keyid="k";alg=1', "signature": "sig1=:AA==:"}, "alg"),
        (
            {
                "signature-input": 'sig1=();keyid="k";created=999999999999999',
                "signature": "sig1=:AA==:",
            },
            "not a usable time",
        ),
        (
            {"signature-input": 'sig1=("x-é");keyid="k"', "signature": "sig1=:AA==:", "x-é": "1"},
            "dictionary",
        ),
        (
            {"signature-input": 'sig1=("x");keyid="k"', "signature": "sig1=:AA==:", "x": "é"},
            "not ASCII",
        ),
    ],
)
def test_garbage_signatures_are_malformed(headers: dict[str, str], message: str) -> None:
    with pytest.raises(MalformedSignature, match=message):
        parse_signature(method="GET", url=INBOX + "?a=1&a=2", headers=headers)


@pytest.mark.parametrize(
    "signature_input", ['sig1=("digest");keyid="k"', 'sig1=("@query-param";name="b");keyid="k"']
)
def test_a_covered_component_absent_from_the_request_is_missing(signature_input: str) -> None:
    headers = {"signature-input": signature_input, "signature": "sig1=:AA==:"}
    with pytest.raises(MissingComponent, match="absent from the request"):
        parse_signature(method="GET", url=INBOX + "?a=1", headers=headers)


# -- digests ----------------------------------------------------------------------------


SHA256 = body_digest(BODY).removeprefix("SHA-256=")


@pytest.mark.parametrize(
    "headers",
    [
        {"digest": f"SHA-256={SHA256}"},
        {"digest": f"sha-256={SHA256}"},
        {"digest": f"MD5=abc, SHA-256={SHA256}"},
        {"content-digest": content_digest(BODY)},
        {"content-digest": f"{content_digest(BODY, 'sha-512')}, unixsum=:AA==:"},
        {"digest": f"SHA-256={SHA256}", "content-digest": content_digest(BODY)},
    ],
)
def test_matching_digests_are_accepted(headers: dict[str, str]) -> None:
    check_digest(headers, BODY)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "no digest header"),
        ({"digest": "MD5=abc"}, "no supported algorithm"),
        ({"digest": "SHA-256=!!"}, "not base64"),
        ({"digest": f"SHA-256={SHA256},SHA-512=AAAA"}, "sha-512 does not match"),
        ({"content-digest": "sha-256=AAAA"}, "not a byte sequence"),
        ({"content-digest": "sha-256=:AA==:,"}, "not a dictionary"),
        ({"content-digest": "md5=:AA==:"}, "no supported algorithm"),
        ({"digest": f"SHA-256={SHA256}", "content-digest": content_digest(b"")}, "Content-Digest"),
    ],
)
def test_bad_digests_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(DigestMismatch, match=message):
        check_digest(headers, BODY)


# -- robustness -------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        'keyId="k"',
        'algorithm="hs2019"',
        'headers="(request-target) date"',
        'signature="AA=="',
        "created=1",
        "sig1=",
        '("@method" "date")',
        ";keyid=",
        ":AA==:",
        '"k"',
        ",",
        " ",
        "(",
        ")",
        ";",
        "=",
        '"',
    ]
)
_TEXT = st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=12).map("".join))


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["signature", "signature-input", "date", "host", "digest", "x"]), _TEXT
    )
)
def test_parse_signature_raises_only_signature_errors(headers: dict[str, str]) -> None:
    try:
        sig = parse_signature(method="POST", url=INBOX + "?a=b", headers=headers)
        check_policy(sig, method="POST", now=NOW, has_body=True)
    except SignatureError:
        pass
