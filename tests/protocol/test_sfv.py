"""RFC 8941 structured fields: the subset HTTP signatures and digests use."""

from __future__ import annotations

import doctest
from decimal import Decimal

import pytest

from protocol import sfv
from protocol.sfv import SFError, Token, parse_dictionary, serialize_inner_list, serialize_item


def test_every_bare_item_type_parses() -> None:
    parsed = parse_dictionary(
        'a=1, b=-2.5, c="q\\"uo\\\\te", d=tok/en:x, e=:aGk=:, f=?0, g, h=();p=?1, i=(1 "x");q=*t'
    )
    assert parsed == {
        "a": (1, {}),
        "b": (Decimal("-2.5"), {}),
        "c": ('q"uo\\te', {}),
        "d": (Token("tok/en:x"), {}),
        "e": (b"hi", {}),
        "f": (False, {}),
        "g": (True, {}),
        "h": ([], {"p": True}),
        "i": ([(1, {}), ("x", {})], {"q": Token("*t")}),
    }
    assert isinstance(parsed["d"][0], Token)
    assert not isinstance(parsed["c"][0], Token)


def test_byte_sequences_without_padding_are_accepted() -> None:
    assert parse_dictionary("a=:aGk:") == {"a": (b"hi", {})}


def test_whitespace_rules_of_section_4_2() -> None:
    assert parse_dictionary("  a=( 1  2 );k=1 ,\tb=2") == {
        "a": ([(1, {}), (2, {})], {"k": 1}),
        "b": (2, {}),
    }
    assert parse_dictionary("") == {}


@pytest.mark.parametrize(
    "text",
    [
        "a=1,",
        "a=1,,b=2",
        "A=1",
        "a=1 b=2",
        "a=(1",
        "a=(1,2)",
        "a=1234567890123456",
        "a=1234567890123.1",
        "a=1.1234",
        "a=1.",
        'a="unterminated',
        'a="bad \\n escape"',
        'a="tab\tinside"',
        "a=:not base64!:",
        "a=:abcde:",
        "a=?2",
        "a=1, a=2",
        "a=1;",
        "a=@",
        "a= 1",
    ],
)
def test_malformed_dictionaries_are_refused(text: str) -> None:
    with pytest.raises(SFError):
        parse_dictionary(text)


@pytest.mark.parametrize(
    ("value", "params", "expected"),
    [
        ("@query-param", {"name": "Pet"}, '"@query-param";name="Pet"'),
        ('q"\\', {}, '"q\\"\\\\"'),
        (Token("*a"), {"f": True, "g": False}, "*a;f;g=?0"),
        (Decimal("1.0005"), {}, "1.0"),
        (Decimal("-3.14159"), {}, "-3.142"),
        (Decimal("2"), {}, "2.0"),
        (b"\x00\xff", {}, ":AP8=:"),
        (-999_999_999_999_999, {}, "-999999999999999"),
    ],
)
def test_items_serialise_per_section_4_1(
    value: object, params: dict[str, object], expected: str
) -> None:
    assert serialize_item(value, params) == expected


@pytest.mark.parametrize(
    ("value", "params"),
    [
        (10**15, {}),
        (Decimal("1234567890123.5"), {}),
        ("é", {}),
        ("line\nbreak", {}),
        (Token("1bad"), {}),
        (1.5, {}),
        ("x", {"Upper": 1}),
    ],
)
def test_unserialisable_items_are_refused(value: object, params: dict[str, object]) -> None:
    with pytest.raises(SFError):
        serialize_item(value, params)


def test_an_inner_list_re_serialises_canonically() -> None:
    parsed = parse_dictionary('sig=(  "@method"   "@path" );created=1;keyid="k"')
    items, params = parsed["sig"]
    assert isinstance(items, list)
    assert serialize_inner_list(items, params) == '("@method" "@path");created=1;keyid="k"'


def test_the_doctests_in_sfv_pass() -> None:
    result = doctest.testmod(sfv)
    assert result.attempted > 0
    assert result.failed == 0
