"""HTTP signatures: draft-cavage-12 and RFC 9421, plus Digest / Content-Digest.

Outgoing requests are signed exactly as Mastodon signs them (DESIGN §2); incoming ones
are checked in four separate steps so that the caller can fetch the key in between::

    sig = parse_signature(method=..., url=..., headers=lowercased)  # no key needed
    check_policy(sig, method=..., now=..., has_body=...)            # what Mastodon requires
    check_digest(headers, body)                                     # the body is the signed one
    verify_signature(sig, key)                                      # the crypto

Every failure raises a :class:`protocol.errors.SignatureError` subclass. The RFC 8941
structured-field subset that RFC 9421 and RFC 9530 need lives in ``protocol.sfv``.

This module is the public API; the rest of the code imports only from here. Behind it:
``protocol.httpsig_cavage`` (draft-cavage-12 parsing and signing strings),
``protocol.httpsig_rfc9421`` (RFC 9421 parsing, component values and signature base),
``protocol.httpsig_digest`` (``Digest`` / ``Content-Digest``) and
``protocol.httpsig_common`` (:class:`SignatureInput` and shared helpers).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from protocol.errors import (
    BadSignature,
    DateSkew,
    MissingComponent,
    MissingSignature,
    UnsupportedAlgorithm,
)
from protocol.httpsig_cavage import cavage_bases, parse_cavage
from protocol.httpsig_common import (
    ALG_FROM_KEY,
    SUPPORTED_ALGORITHMS,
    SignatureInput,
    http_date,
    split_url,
    utc,
)
from protocol.httpsig_digest import body_digest, check_digest, content_digest
from protocol.httpsig_rfc9421 import LABEL, component_value, parse_rfc9421
from protocol.keys import PrivateKey, PublicKey
from protocol.sfv import SFError, serialize_inner_list

__all__ = [
    "ALG_FROM_KEY",
    "SUPPORTED_ALGORITHMS",
    "SignatureInput",
    "body_digest",
    "check_digest",
    "check_policy",
    "content_digest",
    "parse_signature",
    "sign_cavage",
    "sign_rfc9421",
    "verify_signature",
]

# Mastodon's window (app/controllers/concerns/signature_verification.rb): a signature
# lives 5 minutes unless it says otherwise, at most 12 hours, with 1 hour of clock skew.
_DEFAULT_LIFETIME = timedelta(minutes=5)
_MAX_LIFETIME = timedelta(hours=12)
_CLOCK_SKEW = timedelta(hours=1)


# -- outgoing ---------------------------------------------------------------------------


def sign_cavage(
    *,
    method: str,
    url: str,
    body: bytes | None,
    key_id: str,
    private_key: PrivateKey,
    now: datetime,
) -> dict[str, str]:
    """Sign a request the way Mastodon does (draft-cavage-12 §2.3); return headers to add.

    POST signs ``(request-target) host date digest``, GET ``(request-target) host date``.
    RSA keys are announced as ``rsa-sha256`` (what every fediverse server accepts);
    Ed25519 keys as ``hs2019``, since draft-cavage names no Ed25519 algorithm.
    """
    if '"' in key_id or not key_id.isprintable():
        raise ValueError("key_id cannot be carried in a cavage Signature header")
    parts = split_url(url)
    out = {"Host": parts.netloc.rpartition("@")[2], "Date": http_date(now)}
    names = ["(request-target)", "host", "date"]
    if body is not None:
        out["Digest"] = body_digest(body)
        names.append("digest")
    headers = {name.lower(): value for name, value in out.items()}
    base = cavage_bases(method, url, headers, names, {})[0]
    algorithm = "rsa-sha256" if isinstance(private_key, RSAPrivateKey) else ALG_FROM_KEY
    signature = base64.b64encode(_sign(private_key, base, "rsa-v1_5-sha256")).decode("ascii")
    out["Signature"] = (
        f'keyId="{key_id}",algorithm="{algorithm}",headers="{" ".join(names)}",'
        f'signature="{signature}"'
    )
    return out


def sign_rfc9421(
    *,
    method: str,
    url: str,
    body: bytes | None,
    key_id: str,
    private_key: PrivateKey,
    now: datetime,
    label: str = "sig1",
    algorithm: str | None = None,
) -> dict[str, str]:
    """Sign a request per RFC 9421 with the profile Mastodon 4.5 requires.

    Covers ``@method @target-uri`` plus ``content-digest`` when there is a body, with
    ``created``, ``keyid`` and ``alg`` parameters (§2.3). ``algorithm`` defaults to
    ``rsa-v1_5-sha256`` for RSA and ``ed25519`` for Ed25519; ``rsa-pss-sha512`` may be
    asked for with an RSA key. Returns Content-Digest (with a body), Signature-Input
    and Signature.
    """
    if LABEL.fullmatch(label) is None:
        raise ValueError(f"{label!r} is not a structured-field key (RFC 8941 §3.2)")
    rsa = isinstance(private_key, RSAPrivateKey)
    alg = algorithm or ("rsa-v1_5-sha256" if rsa else "ed25519")
    if alg not in (("rsa-v1_5-sha256", "rsa-pss-sha512") if rsa else ("ed25519",)):
        raise UnsupportedAlgorithm(f"cannot sign {alg!r} with a {type(private_key).__name__}")
    out: dict[str, str] = {}
    names = ["@method", "@target-uri"]
    if body is not None:
        out["Content-Digest"] = content_digest(body)
        names.append("content-digest")
    params: dict[str, object] = {"created": int(utc(now).timestamp()), "keyid": key_id, "alg": alg}
    items: list[tuple[object, dict[str, object]]] = [(name, {}) for name in names]
    try:
        sig_params = serialize_inner_list(items, params)
    except SFError as exc:
        raise ValueError(f"cannot serialise signature parameters: {exc}") from exc
    headers = {"content-digest": out.get("Content-Digest", "")}
    lines = [
        f'"{name}": {component_value(name, {}, method.upper(), url, headers)}' for name in names
    ]
    lines.append(f'"@signature-params": {sig_params}')
    signature = _sign(private_key, "\n".join(lines).encode("ascii"), alg)
    out["Signature-Input"] = f"{label}={sig_params}"
    out["Signature"] = f"{label}=:{base64.b64encode(signature).decode('ascii')}:"
    return out


def _sign(key: PrivateKey, data: bytes, alg: str) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        return key.sign(data)
    if alg == "rsa-pss-sha512":
        # RFC 9421 §3.3.1: MGF1 with SHA-512 and a 64-byte salt.
        return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512())
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# -- incoming: parsing ------------------------------------------------------------------


def parse_signature(
    *, method: str, url: str, headers: Mapping[str, str], label: str | None = None
) -> SignatureInput:
    """Parse the signature of a request and build the bytes it must verify over.

    ``headers`` has lower-case names with repeated fields joined by ``", "``; ``url`` is
    the full target URI as the server saw it. ``Signature-Input`` selects RFC 9421
    (the member named ``label``, else the first that has a ``keyid``); otherwise a
    ``Signature`` header is read as draft-cavage-12.
    """
    if "signature-input" in headers:
        return parse_rfc9421(method, url, headers, label)
    if "signature" in headers:
        return parse_cavage(method, url, headers)
    raise MissingSignature("request carries no Signature or Signature-Input header")


# -- incoming: policy, crypto -----------------------------------------------------------


def check_policy(sig: SignatureInput, *, method: str, now: datetime, has_body: bool) -> None:
    """Refuse signatures weaker than Mastodon accepts, or outside its time window.

    Requires the request target (cavage ``(request-target)``, RFC 9421 ``@method`` and
    ``@target-uri``), a signed ``date`` or ``created``, ``host`` on a cavage GET, and a
    signed digest whenever there is a body. The window: from ``created`` (else Date) to
    ``expires`` (else created + 5 min, at most created + 12 h), with 1 h of skew.
    """
    if sig.algorithm not in SUPPORTED_ALGORITHMS:
        raise UnsupportedAlgorithm(f"signature algorithm {sig.algorithm!r} is not supported")
    covered = {name.split(";", 1)[0] for name in sig.components}
    if sig.scheme == "cavage":
        required = ["(request-target)"] + (["host"] if method.upper() == "GET" else [])
        timed = "date" in covered or "(created)" in covered
        digests = {"digest", "content-digest"}
    else:
        required = ["@method", "@target-uri"]
        timed = sig.created is not None or "date" in covered
        digests = {"content-digest"}
    missing = [name for name in required if name not in covered]
    if missing:
        raise MissingComponent(f"signature does not cover {', '.join(missing)}")
    if not timed:
        raise MissingComponent("signature covers neither date nor created")
    if has_body and not covered & digests:
        raise MissingComponent(f"request has a body but {' or '.join(sorted(digests))} is unsigned")
    created = sig.created if sig.created is not None else sig.date if "date" in covered else None
    if created is None:
        raise DateSkew("signature has no usable creation time (created or Date)")
    now = utc(now)
    try:
        expires = sig.expires if sig.expires is not None else created + _DEFAULT_LIFETIME
        expires = min(expires, created + _MAX_LIFETIME)
        too_new, too_old = created > now + _CLOCK_SKEW, now > expires + _CLOCK_SKEW
    except OverflowError as exc:
        raise DateSkew("signature times are out of range") from exc
    if too_new:
        raise DateSkew(f"signature created {created.isoformat()} is over 1 h in the future")
    if too_old:
        raise DateSkew(f"signature expired at {expires.isoformat()} (plus 1 h grace)")


def verify_signature(sig: SignatureInput, key: PublicKey) -> None:
    """Verify ``sig`` over any of its bases with ``key``; raise unless one verifies.

    ``hs2019`` (or no ``alg``) takes the algorithm from the key: Ed25519, or for RSA
    PKCS#1 v1.5 with SHA-256 (what the fediverse means by it) and then RSASSA-PSS with
    SHA-512 (what draft-cavage-12 §2.1.3 and RFC 9421 §3.3.1 mean).
    """
    if sig.algorithm not in SUPPORTED_ALGORITHMS:
        raise UnsupportedAlgorithm(f"signature algorithm {sig.algorithm!r} is not supported")
    # RSA first: most keys are, and each test against these abstract classes costs.
    if isinstance(key, RSAPublicKey) and sig.algorithm in _RSA_SCHEMES:
        schemes = _RSA_SCHEMES[sig.algorithm]
        for base in sig.bases:
            for scheme, digest in schemes:
                try:
                    key.verify(sig.signature, base, scheme, digest)
                except InvalidSignature:
                    continue
                return
    elif isinstance(key, Ed25519PublicKey) and sig.algorithm in ("ed25519", ALG_FROM_KEY):
        for base in sig.bases:
            try:
                key.verify(sig.signature, base)
            except InvalidSignature:
                continue
            return
    else:
        raise UnsupportedAlgorithm(
            f"algorithm {sig.algorithm!r} does not fit a {type(key).__name__}")
    raise BadSignature(f"signature by {sig.key_id} does not verify")


# Padding and hash objects are immutable descriptions: made once, not per verification.
_PKCS1 = ((padding.PKCS1v15(), hashes.SHA256()),)
_PSS = ((padding.PSS(padding.MGF1(hashes.SHA512()), 64), hashes.SHA512()),)
_RSA_SCHEMES: dict[str, tuple[tuple[padding.AsymmetricPadding, hashes.HashAlgorithm], ...]] = {
    "rsa-sha256": _PKCS1, "rsa-v1_5-sha256": _PKCS1, "rsa-pss-sha512": _PSS,
    ALG_FROM_KEY: _PKCS1 + _PSS,
}
