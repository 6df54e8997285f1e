"""HTTP signatures: draft-cavage-12 and RFC 9421, plus Digest / Content-Digest.

Outgoing requests are signed exactly as Mastodon signs them (DESIGN §2); incoming ones
are checked in four separate steps so that the caller can fetch the key in between::

    sig = parse_signature(method=..., url=..., headers=lowercased)  # no key needed
    check_policy(sig, method=..., now=..., has_body=...)            # what Mastodon requires
    check_digest(headers, body)                                     # the body is the signed one
    verify_signature(sig, key)                                      # the crypto

Every failure raises a :class:`protocol.errors.SignatureError` subclass. The RFC 8941
structured-field subset that RFC 9421 and RFC 9530 need lives in ``protocol.sfv``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from protocol.errors import (
    BadSignature,
    DateSkew,
    DigestMismatch,
    MalformedSignature,
    MissingComponent,
    MissingSignature,
    UnsupportedAlgorithm,
)
from protocol.keys import PrivateKey, PublicKey
from protocol.sfv import SFError, Token, parse_dictionary, serialize_inner_list, serialize_item

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

#: The algorithm reported when the signature does not name one: draft-cavage-12 §2.1.3
#: ``hs2019`` ("derived from metadata associated with keyId"), a missing cavage
#: ``algorithm``, and an RFC 9421 signature without ``alg`` (§3.2: the key decides).
ALG_FROM_KEY = "hs2019"
SUPPORTED_ALGORITHMS = frozenset(
    {"rsa-sha256", "rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519", ALG_FROM_KEY}
)

# Mastodon's window (app/controllers/concerns/signature_verification.rb): a signature
# lives 5 minutes unless it says otherwise, at most 12 hours, with 1 hour of clock skew.
_DEFAULT_LIFETIME = timedelta(minutes=5)
_MAX_LIFETIME = timedelta(hours=12)
_CLOCK_SKEW = timedelta(hours=1)

_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda data: hashlib.sha256(data).digest(),
    "sha-512": lambda data: hashlib.sha512(data).digest(),
}
_CAVAGE_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"]*)"|([^",\s]*))\s*(?:,|\Z)')
_CAVAGE_TIME = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")
_LABEL = re.compile(r"[a-z*][a-z0-9_\-.*]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureInput:
    """A parsed signature and the exact bytes it must verify over.

    ``components`` are the covered names in order, lower case: cavage header names such
    as ``(request-target)``, RFC 9421 identifiers such as ``@target-uri`` (with any
    parameters appended, e.g. ``@query-param;name="Pet"``). ``created``/``expires`` are
    set only when signed: always for RFC 9421 parameters, for cavage only when
    ``(created)``/``(expires)`` is covered (otherwise anyone could rewrite them).
    ``date`` is the Date header, parsed, whether covered or not.
    """

    scheme: Literal["cavage", "rfc9421"]
    key_id: str
    algorithm: str
    components: tuple[str, ...]
    signature: bytes
    bases: tuple[bytes, ...]
    created: datetime | None
    expires: datetime | None
    date: datetime | None
    label: str | None = None


# -- outgoing ---------------------------------------------------------------------------


def body_digest(body: bytes) -> str:
    """The RFC 3230 ``Digest`` value Mastodon sends and requires: ``SHA-256=<base64>``."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def content_digest(body: bytes, algorithm: str = "sha-256") -> str:
    """The RFC 9530 §2 ``Content-Digest`` value, e.g. ``sha-256=:<base64>:``."""
    algorithm = algorithm.lower()
    if algorithm not in _DIGESTS:
        raise ValueError(f"unsupported Content-Digest algorithm {algorithm!r}")
    encoded = base64.b64encode(_DIGESTS[algorithm](body)).decode("ascii")
    return f"{algorithm}=:{encoded}:"


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
    parts = _split_url(url)
    out = {"Host": parts.netloc.rpartition("@")[2], "Date": _http_date(now)}
    names = ["(request-target)", "host", "date"]
    if body is not None:
        out["Digest"] = body_digest(body)
        names.append("digest")
    headers = {name.lower(): value for name, value in out.items()}
    base = _cavage_bases(method, url, headers, names, {})[0]
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
    if _LABEL.fullmatch(label) is None:
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
    params: dict[str, object] = {"created": int(_utc(now).timestamp()), "keyid": key_id, "alg": alg}
    items: list[tuple[object, dict[str, object]]] = [(name, {}) for name in names]
    try:
        sig_params = serialize_inner_list(items, params)
    except SFError as exc:
        raise ValueError(f"cannot serialise signature parameters: {exc}") from exc
    headers = {"content-digest": out.get("Content-Digest", "")}
    lines = [
        f'"{name}": {_component_value(name, {}, method.upper(), url, headers)}' for name in names
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
        return _parse_rfc9421(method, url, headers, label)
    if "signature" in headers:
        return _parse_cavage(method, url, headers)
    raise MissingSignature("request carries no Signature or Signature-Input header")


def _parse_cavage(method: str, url: str, headers: Mapping[str, str]) -> SignatureInput:
    params = _cavage_params(headers["signature"])
    key_id = params.get("keyId")
    if not key_id:
        raise MalformedSignature("Signature header has no keyId")
    algorithm = params.get("algorithm", "").lower() or ALG_FROM_KEY
    # draft-cavage-12 §2.1.6 defaults to (created); older drafts and rsa-sha256 senders
    # to date. Mastodon picks by algorithm, and so do we.
    default = "(created)" if algorithm == ALG_FROM_KEY else "date"
    names = params.get("headers", default).lower().split()
    if not names:
        raise MalformedSignature("Signature header lists no signed headers")
    for pseudo in ("(created)", "(expires)"):
        if pseudo in names and algorithm.startswith(("rsa", "hmac", "ecdsa")):
            # draft-cavage-12 §2.3: these pseudo-headers are an error with such algorithms.
            raise MalformedSignature(f"{pseudo} cannot be signed with algorithm {algorithm}")
    try:
        signature = base64.b64decode(params.get("signature", ""), validate=True)
    except binascii.Error as exc:
        raise MalformedSignature("Signature header's signature is not base64") from exc
    if not signature:
        raise MalformedSignature("Signature header has no signature")
    date = _covered_date(headers, "date" in names)
    created = _cavage_time(params, "created") if "(created)" in names else None
    expires = _cavage_time(params, "expires") if "(expires)" in names else None
    return SignatureInput(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm,
        components=tuple(names),
        signature=signature,
        bases=_cavage_bases(method, url, headers, names, params),
        created=created,
        expires=expires,
        date=date,
    )


def _cavage_params(value: str) -> dict[str, str]:
    """Split ``name="value",name=value`` pairs (draft-cavage-12 §2.1); no escapes exist."""
    params: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _CAVAGE_PARAM.match(value, pos)
        if match is None:
            raise MalformedSignature(f"Signature header is not a parameter list near {pos}")
        name = match[1]
        if name in params:
            raise MalformedSignature(f"Signature header repeats parameter {name!r}")
        params[name] = match[2] if match[2] is not None else match[3]
        pos = match.end()
    return params


def _cavage_time(params: Mapping[str, str], name: str) -> datetime:
    raw = params.get(name)
    if raw is None or _CAVAGE_TIME.fullmatch(raw) is None:
        raise MalformedSignature(f"({name}) is signed but the {name} parameter is not a time")
    return _from_unix(float(raw), name)


def _cavage_bases(
    method: str,
    url: str,
    headers: Mapping[str, str],
    names: list[str],
    params: Mapping[str, str],
) -> tuple[bytes, ...]:
    """Signing strings per draft-cavage-12 §2.3, with and without the query string.

    Mastodon accepts ``(request-target)`` both ways, because some senders sign the
    path alone; the query-less string is tried second.
    """
    parts = _split_url(url)
    path = parts.path or "/"
    targets = [f"{path}?{parts.query}", path] if parts.query else [path]
    bases: list[bytes] = []
    for target in targets:
        lines = []
        for name in names:
            if name == "(request-target)":
                value = f"{method.lower()} {target}"
            elif name in ("(created)", "(expires)"):
                value = params.get(name[1:-1], "")
            elif name.startswith("("):
                raise MalformedSignature(f"unknown pseudo-header {name}")
            elif name == "host" and "host" not in headers:
                # HTTP/2 carries :authority rather than Host (RFC 9113 §8.3.1).
                value = parts.netloc.rpartition("@")[2]
            else:
                value = _header(headers, name)
            lines.append(f"{name}: {value}")
        try:
            bases.append("\n".join(lines).encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError as exc:
            raise MalformedSignature("a signed header is not valid text") from exc
        if "(request-target)" not in names:
            break
    return tuple(bases)


def _parse_rfc9421(
    method: str, url: str, headers: Mapping[str, str], label: str | None
) -> SignatureInput:
    inputs = _sf_dictionary(headers["signature-input"], "Signature-Input")
    if "signature" not in headers:
        raise MalformedSignature("Signature-Input without a Signature header")
    signatures = _sf_dictionary(headers["signature"], "Signature")
    if label is None:
        label = next((k for k, (_, p) in inputs.items() if isinstance(p.get("keyid"), str)), None)
        if label is None:
            raise MalformedSignature("no Signature-Input member names a keyid")
    if label not in inputs:
        raise MalformedSignature(f"Signature-Input has no member {label!r}")
    covered, params = inputs[label]
    if not isinstance(covered, list):
        raise MalformedSignature(f"Signature-Input member {label!r} is not an inner list")
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise MalformedSignature(f"signature {label!r} has no keyid string")
    signature = signatures.get(label, (None, {}))[0]
    if not isinstance(signature, bytes) or not signature:
        raise MalformedSignature(f"Signature has no byte-sequence member {label!r}")
    alg = params.get("alg", ALG_FROM_KEY)
    if not isinstance(alg, str):
        raise MalformedSignature("alg parameter is not a string")
    lines: list[str] = []
    names: list[str] = []
    for name, item_params in covered:
        if not isinstance(name, str) or isinstance(name, Token) or name != name.lower():
            raise MalformedSignature("component identifiers must be lower-case strings (§2)")
        ident = _sf(serialize_item, name, item_params)
        if any(line.startswith(ident + ": ") for line in lines):
            raise MalformedSignature(f"component {ident} is covered twice (§2.5)")
        lines.append(f"{ident}: {_component_value(name, item_params, method, url, headers)}")
        names.append(name + ident[len(_sf(serialize_item, name, {})) :])
    lines.append(f'"@signature-params": {_sf(serialize_inner_list, covered, params)}')
    try:
        base = "\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedSignature("signature base is not ASCII (RFC 9421 §2.5)") from exc
    return SignatureInput(
        scheme="rfc9421",
        key_id=key_id,
        algorithm=alg.lower(),
        components=tuple(names),
        signature=signature,
        bases=(base,),
        created=_param_time(params, "created"),
        expires=_param_time(params, "expires"),
        date=_covered_date(headers, "date" in names),
        label=label,
    )


def _component_value(
    name: str, params: Mapping[str, object], method: str, url: str, headers: Mapping[str, str]
) -> str:
    """One component value for an RFC 9421 signature base (§2.1 fields, §2.2 derived)."""
    if not name.startswith("@"):
        if params:
            raise MalformedSignature(f"field parameters {sorted(params)} on {name} unsupported")
        return _header(headers, name)
    if set(params) - ({"name"} if name == "@query-param" else set()):
        raise MalformedSignature(f"parameters {sorted(params)} on {name} unsupported")
    parts = _split_url(url)
    query = f"?{parts.query}" if parts.query else ""
    if name == "@method":
        return method
    if name == "@target-uri":
        return url
    if name == "@authority":
        # §2.2.3: normalised per HTTP semantics: lower case, default port omitted.
        host = parts.netloc.rpartition("@")[2].lower()
        default = {"http": ":80", "https": ":443"}.get(parts.scheme.lower(), "")
        return host[: -len(default)] if default and host.endswith(default) else host
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@request-target":
        return (parts.path or "/") + query
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return query or "?"  # §2.2.7: an absent query is "?" alone
    if name == "@query-param":
        return _query_param(parts.query, params.get("name"))
    raise MalformedSignature(f"derived component {name} is not supported in a request")


def _query_param(query: str, name: object) -> str:
    """§2.2.8: decode as a form, re-encode name and value, spaces as %20."""
    if not isinstance(name, str):
        raise MalformedSignature('@query-param needs a string "name" parameter')
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if _form_encode(k) == name]
    if not values:
        raise MissingComponent(f"signed query parameter {name!r} is absent from the request")
    if len(values) > 1:
        raise MalformedSignature(f"signed query parameter {name!r} occurs more than once")
    return _form_encode(values[0])


def _form_encode(text: str) -> str:
    # The application/x-www-form-urlencoded percent-encode set leaves only *-._ and
    # alphanumerics; urllib also leaves "~".
    return quote(text, safe="*").replace("~", "%7E")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise MissingComponent(f"signed header {name!r} is absent from the request")
    if "\n" in value or "\r" in value:
        raise MalformedSignature(f"header {name!r} contains a line break")
    return value.strip(" \t")


def _sf_dictionary(value: str, field: str) -> dict[str, tuple[object, dict[str, object]]]:
    try:
        return parse_dictionary(value)
    except SFError as exc:
        raise MalformedSignature(f"{field} is not a structured-field dictionary: {exc}") from exc


def _sf(func: Callable[..., str], *args: object) -> str:
    try:
        return func(*args)
    except SFError as exc:
        raise MalformedSignature(f"cannot serialise signature input: {exc}") from exc


def _param_time(params: Mapping[str, object], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedSignature(f"{name} parameter is not an integer (RFC 9421 §2.3)")
    return _from_unix(value, name)


def _covered_date(headers: Mapping[str, str], covered: bool) -> datetime | None:
    raw = headers.get("date")
    date = _parse_http_date(raw) if raw is not None else None
    if covered and raw is not None and date is None:
        raise MalformedSignature(f"signed Date header {raw[:64]!r} is not an HTTP date")
    return date


# -- incoming: policy, digest, crypto ---------------------------------------------------


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
    now = _utc(now)
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


def check_digest(headers: Mapping[str, str], body: bytes) -> None:
    """Check ``Digest`` (RFC 3230) and/or ``Content-Digest`` (RFC 9530) against the body.

    Algorithm names compare case-insensitively (Mastodon accepts ``sha-256`` as well as
    ``SHA-256``). At least one known algorithm must be offered and every known one must
    match; unknown ones are ignored.
    """
    if "digest" not in headers and "content-digest" not in headers:
        raise DigestMismatch("no digest header")
    if "digest" in headers:
        offered: dict[str, bytes] = {}
        for part in headers["digest"].split(","):
            algorithm, _, value = part.strip().partition("=")
            if algorithm.lower() in _DIGESTS:
                try:
                    offered[algorithm.lower()] = base64.b64decode(value.strip(), validate=True)
                except binascii.Error as exc:
                    raise DigestMismatch(f"Digest {algorithm} value is not base64") from exc
        _compare_digests("Digest", offered, body)
    if "content-digest" in headers:
        try:
            members = parse_dictionary(headers["content-digest"])
        except SFError as exc:
            raise DigestMismatch(f"Content-Digest is not a dictionary: {exc}") from exc
        offered = {}
        for algorithm, (member, _) in members.items():
            if algorithm in _DIGESTS:
                if not isinstance(member, bytes):
                    raise DigestMismatch(f"Content-Digest {algorithm} is not a byte sequence")
                offered[algorithm] = member
        _compare_digests("Content-Digest", offered, body)


def _compare_digests(field: str, offered: Mapping[str, bytes], body: bytes) -> None:
    if not offered:
        raise DigestMismatch(f"{field} offers no supported algorithm (sha-256, sha-512)")
    for algorithm, value in offered.items():
        if not hmac.compare_digest(value, _DIGESTS[algorithm](body)):
            raise DigestMismatch(f"{field} {algorithm} does not match the body")


def verify_signature(sig: SignatureInput, key: PublicKey) -> None:
    """Verify ``sig`` over any of its bases with ``key``; raise unless one verifies.

    ``hs2019`` (or no ``alg``) takes the algorithm from the key: Ed25519, or for RSA
    PKCS#1 v1.5 with SHA-256 (what the fediverse means by it) and then RSASSA-PSS with
    SHA-512 (what draft-cavage-12 §2.1.3 and RFC 9421 §3.3.1 mean).
    """
    verifiers = _verifiers(sig.algorithm, key)
    for base in sig.bases:
        for verify in verifiers:
            try:
                verify(sig.signature, base)
            except InvalidSignature:
                continue
            return
    raise BadSignature(f"signature by {sig.key_id} does not verify")


def _verifiers(algorithm: str, key: object) -> list[Callable[[bytes, bytes], None]]:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise UnsupportedAlgorithm(f"signature algorithm {algorithm!r} is not supported")
    if isinstance(key, Ed25519PublicKey) and algorithm in ("ed25519", ALG_FROM_KEY):
        return [key.verify]
    if isinstance(key, RSAPublicKey):
        pss = padding.PSS(padding.MGF1(hashes.SHA512()), 64)
        pkcs1: list[Callable[[bytes, bytes], None]] = [
            lambda s, d: key.verify(s, d, padding.PKCS1v15(), hashes.SHA256())
        ]
        rsa_pss: list[Callable[[bytes, bytes], None]] = [
            lambda s, d: key.verify(s, d, pss, hashes.SHA512())
        ]
        by_alg = {"rsa-sha256": pkcs1, "rsa-v1_5-sha256": pkcs1, "rsa-pss-sha512": rsa_pss}
        by_alg[ALG_FROM_KEY] = pkcs1 + rsa_pss
        if algorithm in by_alg:
            return by_alg[algorithm]
    raise UnsupportedAlgorithm(f"algorithm {algorithm!r} does not fit a {type(key).__name__}")


# -- small helpers ----------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, never as local time (no hidden clock state)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _http_date(moment: datetime) -> str:
    """RFC 9110 §5.6.7 IMF-fixdate, e.g. ``Sun, 05 Jan 2014 21:31:40 GMT``."""
    return format_datetime(_utc(moment).replace(microsecond=0), usegmt=True)


def _parse_http_date(text: str) -> datetime | None:
    try:
        return _utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _from_unix(value: float, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise MalformedSignature(f"{name} {value} is not a usable time") from exc


def _split_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise MalformedSignature(f"request URL {url[:100]!r} is not a URL") from exc
    return parts
