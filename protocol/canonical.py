"""Canonical JSON (RFC 8785, JCS) and the tagged SHA-256 hashes built on it.

Everything Mutual hashes or signs for a decision — ledger entries, the electorate
snapshot, FEP-8b32 ``eddsa-jcs-2022`` proofs — is first put in JCS form, so that two
implementations in any language derive the same bytes from the same JSON value
(DESIGN §3.1). The serialisation itself is Trail of Bits' ``rfc8785`` package; this
module only feeds it plain JSON values and maps its errors into our tree::

    ProtocolError
    └── CanonicalizationError     a value JCS cannot represent (NaN, an int beyond 2**53,
                                  a non-string key, a lone surrogate, a non-JSON type)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import rfc8785

from protocol.errors import ProtocolError

__all__ = ["HASH_PREFIX", "CanonicalizationError", "jcs", "sha256_tagged"]

#: How a hash is written on the wire (DESIGN §3.1): ``sha256:<64 lowercase hex digits>``.
HASH_PREFIX = "sha256:"


class CanonicalizationError(ProtocolError):
    """A value has no JCS form (RFC 8785 §3.2: I-JSON numbers and strings only)."""

    reason = "jcs-unrepresentable"


def jcs(value: object) -> bytes:
    """Serialise a JSON value in RFC 8785 canonical form (UTF-8 bytes).

    Any :class:`~collections.abc.Mapping` is accepted as an object and any tuple as an
    array, so frozen values can be hashed without copying them by hand first.

    >>> jcs({"b": [1, 2.50, True], "a": "é"})
    b'{"a":"\\xc3\\xa9","b":[1,2.5,true]}'
    """
    fast = _fast_jcs(value)
    if fast is not None:
        return fast
    try:
        return rfc8785.dumps(_plain(value))  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalizationError(f"value has no RFC 8785 form: {exc}") from exc
    except RecursionError as exc:
        raise CanonicalizationError("value is nested too deeply to canonicalise") from exc


def sha256_tagged(data: bytes) -> str:
    """Hash bytes with SHA-256 and write the digest as ``sha256:<lowercase hex>``.

    >>> sha256_tagged(b"")
    'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    return HASH_PREFIX + hashlib.sha256(data).hexdigest()


_SAFE_INT = 2**53
# Keys at or above U+D800 sort differently by UTF-16 code units (JCS) than by code
# points (Python): such documents take the general path.
_KEY_LIMIT = "\ud800"


def _fast_jcs(value: object) -> bytes | None:
    """JCS for documents without floats, via the C JSON encoder; None when not eligible.

    For strings, integers, booleans and null, RFC 8785 §3.2.2 produces exactly what
    ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` does: the
    same escapes (``\\" \\\\ \\b \\f \\n \\r \\t``, other controls as lower-case
    ``\\u00xx``), integers as digits, keys sorted by code point, which equals UTF-16
    order below U+D800. Numbers with a fraction or exponent need the ECMAScript
    serialisation of §3.2.2.3, so a document with any float takes the general path.
    A ledger entry is all strings and integers: this makes hashing one ~4x cheaper,
    which matters when an audit hashes 100,000 of them.
    """
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_SAFE_INT < item < _SAFE_INT:  # type: ignore[operator]
                return None
        elif kind is dict:
            try:
                keys = "".join(item)  # type: ignore[arg-type]
            except TypeError:
                return None  # a non-string key: the general path refuses it precisely
            if keys and max(keys) >= _KEY_LIMIT:
                return None
            pending.extend(item.values())  # type: ignore[attr-defined]
        elif kind is list:
            pending.extend(item)  # type: ignore[arg-type]
        else:
            return None  # floats, tuples, other Mappings: the general path
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError, RecursionError):
        return None  # lone surrogates and the like: let rfc8785 give the precise error


def _plain(value: object) -> object:
    # rfc8785 serialises only dict, list and tuple containers; other Mappings (e.g.
    # MappingProxyType) would be refused as "unsupported type", so copy them first.
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
