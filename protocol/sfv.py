"""The subset of RFC 8941 structured fields that HTTP signatures and digests need.

RFC 9421 carries ``Signature-Input`` and ``Signature`` as dictionaries (§4.1, §4.2) and
rebuilds ``@signature-params`` by re-serialising the parsed inner list (§2.3);
RFC 9530 carries ``Content-Digest`` as a dictionary of byte sequences. So: dictionaries,
inner lists, parameters and every bare item type, parsed and serialised per RFC 8941
§4.2 and §4.1. Lists are not needed and not provided.

Parsed shapes: a member is ``(value, params)`` where ``value`` is a bare item or, for an
inner list, a ``list`` of ``(item, params)``; ``params`` is an ordered ``dict``. Bare
items are ``int``, ``Decimal``, ``str``, :class:`Token`, ``bytes`` and ``bool``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import NoReturn, TypeAlias

__all__ = [
    "Member",
    "Params",
    "SFError",
    "Token",
    "parse_dictionary",
    "serialize_inner_list",
    "serialize_item",
]

Params: TypeAlias = dict[str, object]
Member: TypeAlias = tuple[object, Params]

_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_SP = re.compile(r" *")
_OWS = re.compile(r"[ \t]*")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_STRING = re.compile(r'"((?:[ !#-\[\]-~]|\\["\\])*)"')
_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_BOOLEAN = re.compile(r"\?([01])")
_PRINTABLE = re.compile(r"[ -~]*")


class SFError(ValueError):
    """Text that is not the structured field expected, or a value that cannot be one."""


class Token(str):
    """An RFC 8941 §3.3.4 token, kept apart from strings so it serialises unquoted."""

    __slots__ = ()


def _number(text: str) -> int | Decimal:
    """§4.2.4: integers have at most 15 digits; decimals 12 before and 3 after the dot."""
    whole, dot, fraction = text.lstrip("-").partition(".")
    if not dot:
        if len(whole) > 15:
            raise SFError(f"integer {text[:20]} has more than 15 digits")
        return int(text)
    if len(whole) > 12 or len(fraction) > 3:
        raise SFError(f"decimal {text[:20]} is too long")
    return Decimal(text)


def _bytes(text: str) -> bytes:
    """§4.2.7: parsers SHOULD NOT fail when "=" padding is missing, so it is added."""
    if "=" not in text:
        text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise SFError("byte sequence is not base64") from exc


_BARE_ITEMS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], object]], ...] = (
    (_NUMBER, lambda m: _number(m[0])),
    (_STRING, lambda m: re.sub(r"\\([\"\\])", r"\1", m[1])),
    (_TOKEN, lambda m: Token(m[0])),
    (_BYTES, lambda m: _bytes(m[1])),
    (_BOOLEAN, lambda m: m[1] == "1"),
)


class _Parser:
    """A cursor over the field value, following the algorithms of RFC 8941 §4.2."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, expected: str) -> NoReturn:
        raise SFError(f"expected {expected} at offset {self.pos}")

    def take(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        match = pattern.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
        return match

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def dictionary(self) -> dict[str, Member]:
        """§4.2.2. Unlike the RFC, a repeated key is refused rather than overwritten:
        two signatures under one label, or two digests under one name, are suspect."""
        members: dict[str, Member] = {}
        self.take(_SP)
        while not self.at_end():
            key = self.key()
            if key in members:
                raise SFError(f"dictionary repeats key {key!r}")
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.member()
            else:
                members[key] = (True, self.params())
            self.take(_OWS)
            if self.at_end():
                break
            if self.peek() != ",":
                self.fail("','")
            self.pos += 1
            self.take(_OWS)
            if self.at_end():
                self.fail("a member after ','")
        return members

    def member(self) -> Member:
        if self.peek() != "(":
            return self.bare_item(), self.params()
        self.pos += 1
        items: list[Member] = []
        while True:
            self.take(_SP)
            if self.peek() == ")":
                self.pos += 1
                return items, self.params()
            items.append((self.bare_item(), self.params()))
            if self.peek() not in (" ", ")"):
                self.fail("' ' or ')' in inner list")

    def params(self) -> Params:
        params: Params = {}
        while self.peek() == ";":
            self.pos += 1
            self.take(_SP)
            key = self.key()
            value: object = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        match = self.take(_KEY)
        if match is None:
            self.fail("a key")
        return match[0]

    def bare_item(self) -> object:
        for pattern, convert in _BARE_ITEMS:
            match = self.take(pattern)
            if match is not None:
                return convert(match)
        self.fail("an item")


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse a dictionary field value (RFC 8941 §4.2.2).

    >>> parse_dictionary('sig1=("@method");created=1, sha-256=:AQI=:')
    {'sig1': ([('@method', {})], {'created': 1}), 'sha-256': (b'\\x01\\x02', {})}
    """
    parser = _Parser(text)
    members = parser.dictionary()
    if not parser.at_end():
        parser.fail("end of field")
    return members


def _serialize_bare(value: object) -> str:
    """§4.1.3 to §4.1.9."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) >= 10**15:
            raise SFError(f"integer {value} is out of range")
        return str(value)
    if isinstance(value, Decimal):
        rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
        whole, _, fraction = format(rounded, "f").partition(".")
        if len(whole.lstrip("-")) > 12:
            raise SFError(f"decimal {value} is out of range")
        return f"{whole}.{fraction.rstrip('0') or '0'}"
    if isinstance(value, Token):
        if _TOKEN.fullmatch(value) is None:
            raise SFError(f"{value!r} is not a token")
        return str(value)
    if isinstance(value, str):
        if _PRINTABLE.fullmatch(value) is None:
            raise SFError("strings hold printable ASCII only")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise SFError(f"{type(value).__name__} is not a structured-field item")


def _serialize_params(params: Mapping[str, object]) -> str:
    out = []
    for key, value in params.items():
        if _KEY.fullmatch(key) is None:
            raise SFError(f"{key!r} is not a structured-field key")
        out.append(f";{key}" if value is True else f";{key}={_serialize_bare(value)}")
    return "".join(out)


def serialize_item(value: object, params: Mapping[str, object]) -> str:
    """Serialise one item with its parameters (§4.1.3).

    >>> serialize_item("@query-param", {"name": "Pet"})
    '"@query-param";name="Pet"'
    """
    return _serialize_bare(value) + _serialize_params(params)


def serialize_inner_list(
    items: Sequence[tuple[object, Mapping[str, object]]], params: Mapping[str, object]
) -> str:
    """Serialise an inner list with its parameters (§4.1.1.1), as ``@signature-params``.

    >>> serialize_inner_list([("@method", {})], {"created": 1, "keyid": "k"})
    '("@method");created=1;keyid="k"'
    """
    inner = " ".join(serialize_item(value, item_params) for value, item_params in items)
    return f"({inner}){_serialize_params(params)}"
