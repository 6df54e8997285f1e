"""Keys: generation, PEM in and out, FEP-521a Multikey, against published vectors."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from protocol import keys
from protocol.errors import ProtocolError
from protocol.keys import (
    KeyFormatError,
    base58btc_decode,
    base58btc_encode,
    generate_ed25519,
    generate_rsa,
    load_private_pem,
    load_public_pem,
    multibase_to_public_key,
    private_key_to_pem,
    public_key_to_multibase,
    public_key_to_pem,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "httpsig"


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return generate_rsa()


def test_generated_rsa_key_is_2048_bits_with_exponent_65537(rsa_key: RSAPrivateKey) -> None:
    assert rsa_key.key_size == 2048
    assert rsa_key.public_key().public_numbers().e == 65537


def test_rsa_pem_round_trip_uses_pkcs8_and_spki(rsa_key: RSAPrivateKey) -> None:
    private_pem = private_key_to_pem(rsa_key)
    public_pem = public_key_to_pem(rsa_key.public_key())
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    loaded = load_private_pem(private_pem)
    assert isinstance(loaded, RSAPrivateKey)
    assert loaded.private_numbers() == rsa_key.private_numbers()
    assert load_public_pem(public_pem).public_numbers() == rsa_key.public_key().public_numbers()


def test_public_key_to_pem_accepts_a_private_key(rsa_key: RSAPrivateKey) -> None:
    assert public_key_to_pem(rsa_key) == public_key_to_pem(rsa_key.public_key())


def test_ed25519_pem_round_trip() -> None:
    key = generate_ed25519()
    loaded = load_private_pem(private_key_to_pem(key))
    assert isinstance(loaded, Ed25519PrivateKey)
    public = load_public_pem(public_key_to_pem(key))
    assert isinstance(public, Ed25519PublicKey)
    assert _raw(public) == _raw(key.public_key())


def test_pkcs1_public_and_private_pems_from_rfc9421_load() -> None:
    public_pem = (FIXTURES / "rfc9421" / "test-key-rsa.pub.pem").read_text()
    assert public_pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
    public = load_public_pem(public_pem)
    assert isinstance(public, RSAPublicKey)
    assert public.key_size == 2048
    private = load_private_pem((FIXTURES / "rfc9421" / "test-key-rsa.priv.pem").read_text())
    assert isinstance(private, RSAPrivateKey)
    assert private.public_key().public_numbers() == public.public_numbers()


def test_the_1024_bit_cavage_test_key_is_accepted() -> None:
    public = load_public_pem((FIXTURES / "cavage12" / "test-key-Test.pub.pem").read_text())
    assert isinstance(public, RSAPublicKey)
    assert public.key_size == 1024


def test_a_512_bit_rsa_key_is_refused() -> None:
    small = rsa.RSAPublicNumbers(65537, (1 << 511) | (12345 << 100) | 1).public_key()
    pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(KeyFormatError, match="512 bits"):
        load_public_pem(pem)


@pytest.mark.parametrize(
    "pem",
    [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        "-----BEGIN PUBLIC KEY-----\nnön-ascii\n-----END PUBLIC KEY-----\n",
    ],
)
def test_garbage_public_pem_is_a_key_format_error(pem: str) -> None:
    with pytest.raises(KeyFormatError) as caught:
        load_public_pem(pem)
    assert caught.value.reason == "key-malformed"
    assert isinstance(caught.value, ProtocolError)


def test_an_ec_public_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(KeyFormatError, match="unsupported public key type"):
        load_public_pem(pem)


@pytest.mark.parametrize("pem", ["", "junk", "-----BEGIN PUBLIC KEY-----\n"])
def test_garbage_private_pem_is_a_key_format_error(pem: str) -> None:
    with pytest.raises(KeyFormatError, match="private key"):
        load_private_pem(pem)


def test_a_public_pem_is_not_a_private_key(rsa_key: RSAPrivateKey) -> None:
    with pytest.raises(KeyFormatError):
        load_private_pem(public_key_to_pem(rsa_key))


# -- FEP-521a Multikey ------------------------------------------------------------------


def test_fep_8b32_public_key_multibase_decodes_to_the_seed_s_public_key() -> None:
    vector = json.loads((FIXTURES / "multikey" / "vector_keys.json").read_text())
    secret = base58btc_decode(vector["secretKeyMultibase"][1:])
    assert secret[:2] == b"\x80\x26"  # ed25519-priv multicodec, varint-encoded
    private = Ed25519PrivateKey.from_private_bytes(secret[2:])
    public = multibase_to_public_key(vector["publicKeyMultibase"])
    assert isinstance(public, Ed25519PublicKey)
    assert _raw(public) == _raw(private.public_key())
    assert public_key_to_multibase(private) == vector["publicKeyMultibase"]
    assert public_key_to_multibase(public) == vector["publicKeyMultibase"]


def test_fep_521a_actor_assertion_method_holds_the_vector_key() -> None:
    actor = json.loads((FIXTURES / "multikey" / "vector_actor_multikey_fep-521a.json").read_text())
    vector = json.loads((FIXTURES / "multikey" / "vector_keys.json").read_text())
    (method,) = actor["assertionMethod"]
    assert method["type"] == "Multikey"
    assert method["id"] == vector["verificationMethod"]
    key = multibase_to_public_key(method["publicKeyMultibase"])
    assert public_key_to_multibase(key) == vector["publicKeyMultibase"]


def test_rsa_multikey_round_trips_with_the_rsa_pub_prefix(rsa_key: RSAPrivateKey) -> None:
    encoded = public_key_to_multibase(rsa_key.public_key())
    data = base58btc_decode(encoded[1:])
    assert data[:2] == b"\x85\x24"  # rsa-pub 0x1205 as a varint
    der = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )
    assert data[2:] == der
    decoded = multibase_to_public_key(encoded)
    assert isinstance(decoded, RSAPublicKey)
    assert decoded.public_numbers() == rsa_key.public_key().public_numbers()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("u7QE", "base58btc"),
        ("z0OIl", "not a base58btc character"),
        ("z" + base58btc_encode(b"\xed\x01" + b"\x01" * 31), "31 bytes"),
        ("z" + base58btc_encode(b"\x12\x00" + b"\x01" * 32), "multicodec prefix"),
        ("z" + base58btc_encode(b"\x85\x24not der"), "RSA Multikey"),
        ("z", "prefix none"),
    ],
)
def test_bad_multikeys_are_key_format_errors(value: str, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        multibase_to_public_key(value)


def test_an_rsa_multikey_holding_spki_instead_of_pkcs1_is_refused(
    rsa_key: RSAPrivateKey,
) -> None:
    spki = rsa_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyFormatError, match="PKCS#1"):
        multibase_to_public_key("z" + base58btc_encode(b"\x85\x24" + spki))


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x01", b"\xff" * 40, bytes(range(256))])
def test_base58btc_round_trips_and_keeps_leading_zero_bytes(data: bytes) -> None:
    assert base58btc_decode(base58btc_encode(data)) == data


def test_the_doctests_in_keys_pass() -> None:
    result = doctest.testmod(keys)
    assert result.attempted > 0
    assert result.failed == 0
