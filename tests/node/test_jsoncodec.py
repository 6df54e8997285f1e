"""node/jsoncodec.py reads and writes what the standard library does, orjson or not.

Every case where orjson and ``json`` part ways (RFC 8259's edges that ``json`` accepts,
integers beyond 64 bits, lone surrogates, nesting limits) must give ``json``'s value
or ``json``'s exception; and what ``dumps`` writes must read back as the same value.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.jsoncodec import NonFinite, dumps, loads


def outcome(read: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "value", read(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        return "error", (type(exc), str(exc))


EDGES = [
    b'{"a": NaN, "b": Infinity, "c": -Infinity}',
    b'[1e400, -1e400, 1e-400]',
    b'{"n": 18446744073709551616}',  # 2**64: orjson would read a float
    b'{"n": -9223372036854775809}',
    b'{"n": 12345678901234567890123456789}',
    b'{"n": 9223372036854775808}',  # fits orjson's unsigned range
    b'"\\ud800"',  # a lone surrogate
    b'"\\ud83d\\ude00 \xc3\xa9"',
    b'\xef\xbb\xbf{"bom": true}',
    '{"utf16": 1}'.encode("utf-16"),
    b"\xff\xfe{}",
    b'{"id": "https://x.example/1", "type": ',
    b"[" * 2000 + b"]" * 2000,
    b"[" * 900 + b"]" * 900,
    b'{"a": 1, "a": 2}',
    b"  [1.5, -0.0, 1E2, 0.1]  ",
]


@pytest.mark.parametrize("data", EDGES, ids=range(len(EDGES)))
def test_loads_answers_what_json_answers_at_every_edge(data: bytes) -> None:
    expected, got = outcome(json.loads, data), outcome(loads, data)
    assert got == expected or (got[0] == expected[0] == "value"
                               and repr(got[1]) == repr(expected[1]))
    if got[0] == "value":
        assert json.dumps(got[1]) == json.dumps(expected[1])


def test_big_integers_stay_integers() -> None:
    value = loads(b'{"n": 18446744073709551616, "m": [1, 123456789012345678901]}')
    assert value == {"n": 2**64, "m": [1, 123456789012345678901]}
    assert dumps(value) == json.dumps(value)  # orjson refuses them: json writes them


def test_non_finite_numbers_are_written_as_json_wrote_them_not_as_null() -> None:
    value = loads(b'{"a": NaN, "b": [Infinity, -Infinity, 1e999], "c": 1.5}')
    assert isinstance(value["a"], NonFinite)
    assert math.isnan(value["a"])
    assert value["b"] == [math.inf, -math.inf, math.inf]
    assert type(value["c"]) is float
    assert dumps(value) == json.dumps(json.loads(b'{"a": NaN, "b": [Infinity, -Infinity,'
                                                 b' 1e999], "c": 1.5}'))


def test_what_orjson_cannot_write_is_written_by_json() -> None:
    for value in ({"s": "\ud800"}, {1: "int key"}, [2**70], _nested(300)):
        assert dumps(value) == json.dumps(value)


def test_dumps_is_compact_utf8_that_reads_back_the_same() -> None:
    value = {"content": "<p>café ☕ \u2028</p>", "to": ["a", "b"], "n": None, "f": 0.1}
    text = dumps(value)
    assert text == '{"content":"<p>café ☕ \u2028</p>","to":["a","b"],"n":null,"f":0.1}'
    assert json.loads(text) == value == loads(text.encode())


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(value=json_values, ascii_only=st.booleans())
def test_random_documents_read_and_write_as_with_json(value: Any, ascii_only: bool) -> None:
    data = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    expected, got = outcome(json.loads, data), outcome(loads, data)
    assert got[0] == expected[0]
    if got[0] == "value":
        assert repr(got[1]) == repr(expected[1])
        # What loads read, dumps writes as json.dumps would: the same value comes back.
        assert repr(json.loads(dumps(got[1]))) == repr(json.loads(json.dumps(expected[1])))
