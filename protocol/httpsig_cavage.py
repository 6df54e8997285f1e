"""draft-cavage-12 HTTP signatures: the ``Signature`` header and its signing strings.

Parses the ``keyId="…",algorithm="…",headers="…",signature="…"`` parameter list and
builds the signing strings (§2.3) a signature must verify over. Signing, policy and
verification live in ``protocol.httpsig``, which is the module to import.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import Mapping
from datetime import datetime

from protocol.errors import MalformedSignature
from protocol.httpsig_common import (
    ALG_FROM_KEY,
    SignatureInput,
    covered_date,
    from_unix,
    header_value,
    split_url,
)

__all__ = ["cavage_bases", "parse_cavage"]

_CAVAGE_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"]*)"|([^",\s]*))\s*(?:,|\Z)')
_CAVAGE_TIME = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?")


def parse_cavage(method: str, url: str, headers: Mapping[str, str]) -> SignatureInput:
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
    except ValueError as exc:  # binascii.Error, or text that is not ASCII
        raise MalformedSignature("Signature header's signature is not base64") from exc
    if not signature:
        raise MalformedSignature("Signature header has no signature")
    date = covered_date(headers, "date" in names)
    created = _cavage_time(params, "created") if "(created)" in names else None
    expires = _cavage_time(params, "expires") if "(expires)" in names else None
    return SignatureInput(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm,
        components=tuple(names),
        signature=signature,
        bases=cavage_bases(method, url, headers, names, params),
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
    return from_unix(float(raw), name)


def cavage_bases(
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
    targets, host = _targets(url)
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
                value = host
            else:
                value = header_value(headers, name)
            lines.append(f"{name}: {value}")
        try:
            bases.append("\n".join(lines).encode("utf-8", "surrogateescape"))
        except UnicodeEncodeError as exc:
            raise MalformedSignature("a signed header is not valid text") from exc
        if "(request-target)" not in names:
            break
    return tuple(bases)


@functools.lru_cache(maxsize=256)
def _targets(url: str) -> tuple[tuple[str, ...], str]:
    """The ``(request-target)`` paths of ``url`` (with and without the query) and its
    host. Cached: an inbox receives every request at the same URL (bounded, since a URL
    may carry any query)."""
    parts = split_url(url)
    path = parts.path or "/"
    targets = (f"{path}?{parts.query}", path) if parts.query else (path,)
    return targets, parts.netloc.rpartition("@")[2]
