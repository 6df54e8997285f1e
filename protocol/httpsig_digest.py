"""Body digests: RFC 3230 ``Digest`` and RFC 9530 ``Content-Digest``.

Mastodon sends and requires ``Digest: SHA-256=<base64>`` with draft-cavage signatures;
RFC 9421 signatures cover ``Content-Digest`` instead. Both are produced and checked here.
The public names are re-exported by ``protocol.httpsig``; import them from there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping

from protocol.errors import DigestMismatch
from protocol.sfv import SFError, parse_dictionary

__all__ = ["body_digest", "check_digest", "content_digest"]

_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda data: hashlib.sha256(data).digest(),
    "sha-512": lambda data: hashlib.sha512(data).digest(),
}


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
                except ValueError as exc:  # binascii.Error, or text that is not ASCII
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
