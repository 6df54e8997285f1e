"""The fast JCS path must give exactly what the reference implementation gives."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.canonical import _fast_jcs, jcs

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_fast_path_equals_rfc8785(value: object) -> None:
    fast = _fast_jcs(value)
    try:
        reference = rfc8785.dumps(value)  # type: ignore[arg-type]
    except rfc8785.CanonicalizationError:
        assert fast is None  # the general path raises the precise error
        return
    if fast is not None:
        assert fast == reference


def test_floats_and_astral_keys_take_the_general_path() -> None:
    assert _fast_jcs({"a": 0.5}) is None
    assert _fast_jcs({"\U0001f600": 1, "\ue000": 2}) is None
    assert jcs({"\U0001f600": 1, "\ue000": 2}) == rfc8785.dumps({"\U0001f600": 1, "\ue000": 2})


def test_control_characters_escape_like_rfc8785() -> None:
    value = {"k": "\x00\x01\x1f\b\f\n\r\t\"\\\x7f\u2028é"}
    assert _fast_jcs(value) == rfc8785.dumps(value)
