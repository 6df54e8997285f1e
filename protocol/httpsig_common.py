"""Shared pieces of the HTTP-signature modules: the parsed-signature record and helpers.

:class:`SignatureInput` is what both scheme parsers (``protocol.httpsig_cavage``,
``protocol.httpsig_rfc9421``) produce and what ``protocol.httpsig`` checks and verifies.
The helpers are the time, URL and header handling the two schemes have in common. The
public names are re-exported by ``protocol.httpsig``; import them from there.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Literal
from urllib.parse import SplitResult, urlsplit

from protocol.errors import MalformedSignature, MissingComponent

__all__ = [
    "ALG_FROM_KEY",
    "SUPPORTED_ALGORITHMS",
    "SignatureInput",
    "covered_date",
    "from_unix",
    "header_value",
    "http_date",
    "parse_http_date",
    "split_url",
    "utc",
]

#: The algorithm reported when the signature does not name one: draft-cavage-12 §2.1.3
#: ``hs2019`` ("derived from metadata associated with keyId"), a missing cavage
#: ``algorithm``, and an RFC 9421 signature without ``alg`` (§3.2: the key decides).
ALG_FROM_KEY = "hs2019"
SUPPORTED_ALGORITHMS = frozenset(
    {"rsa-sha256", "rsa-v1_5-sha256", "rsa-pss-sha512", "ed25519", ALG_FROM_KEY}
)


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


# -- helpers shared by the two schemes --------------------------------------------------


def header_value(headers: Mapping[str, str], name: str) -> str:
    """The value of signed header ``name``, without surrounding spaces and tabs."""
    value = headers.get(name)
    if value is None:
        raise MissingComponent(f"signed header {name!r} is absent from the request")
    if "\n" in value or "\r" in value:
        raise MalformedSignature(f"header {name!r} contains a line break")
    return value.strip(" \t")


def covered_date(headers: Mapping[str, str], covered: bool) -> datetime | None:
    """The Date header, parsed; unparsable is an error only when the Date is signed."""
    raw = headers.get("date")
    date = parse_http_date(raw) if raw is not None else None
    if covered and raw is not None and date is None:
        raise MalformedSignature(f"signed Date header {raw[:64]!r} is not an HTTP date")
    return date


def utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC, never as local time (no hidden clock state)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def http_date(moment: datetime) -> str:
    """RFC 9110 §5.6.7 IMF-fixdate, e.g. ``Sun, 05 Jan 2014 21:31:40 GMT``."""
    return format_datetime(utc(moment).replace(microsecond=0), usegmt=True)


def parse_http_date(text: str) -> datetime | None:
    # A Date is 29 characters: longer text is parsed, never cached (it could be huge).
    return _parse_http_date(text) if len(text) <= 64 else _parse_date(text)


def _parse_date(text: str) -> datetime | None:
    try:
        return utc(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


# Every request a peer signs in the same second carries the same Date, and the email
# parser costs ~3 µs: a quarter of parsing a signature. Pure, so a bounded cache.
_parse_http_date = functools.lru_cache(maxsize=1024)(_parse_date)


def from_unix(value: float, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise MalformedSignature(f"{name} {value} is not a usable time") from exc


def split_url(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise MalformedSignature(f"request URL {url[:100]!r} is not a URL") from exc
    return parts
