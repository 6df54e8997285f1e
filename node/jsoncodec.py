"""JSON text in and out on the inbox's hot path: orjson's speed, the standard library's results.

Why: an inbox request writes two stored documents (the activity, its object), which
cost ~10 µs with ``json.dumps`` and ~2 µs here; reading its 2 KB body costs ~4 µs with
``json.loads`` and ~3 µs here, checks included (DESIGN §7: orjson alone reads ~3x
faster). Both functions give what ``json`` gives — the same values, the same errors —
by handing orjson's few differences back to ``json``:

- ``loads``: orjson refuses what ``json`` accepts beyond RFC 8259 (``NaN``,
  ``Infinity``, a number that overflows a double, a lone surrogate, a byte order mark,
  UTF-16); ``json`` then reads the text and answers exactly as before, errors included.
  Two differences cannot be seen in orjson's answer, so the text is looked at first
  (two scans at C speed) and ``json`` alone reads it when either could arise: orjson
  reads an integer beyond 64 bits as a float, silently (so: a run of 19 digits or
  more, anywhere, strings included), and it nests 1,024 levels deep where ``json``
  stops near the interpreter's recursion limit (so: 500 or more ``[`` and ``{``).
- ``dumps``: compact UTF-8 where ``json.dumps`` writes ``", "`` and ``\\u`` escapes: the
  same JSON value, read back identically. What orjson will not write (an integer
  beyond 64 bits, a lone surrogate, a key that is not a string, nesting past 254
  levels, a float subclass) raises ``TypeError`` and is written by ``json.dumps``.
  orjson writes a NaN or an infinity as ``null``, so ``loads`` reads those (only ever
  from ``json``'s path) as :class:`NonFinite`, a float subclass that orjson refuses:
  ``dumps`` then writes ``NaN`` as ``json.dumps`` did. So ``dumps`` is for values read
  with ``loads`` (or built by the node): one read by ``json.loads`` may carry a plain
  NaN, which would come out as ``null``.

Only for what is stored and parsed again: anything hashed, signed or compared
byte for byte uses the canonical encoder (``protocol.canonical``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

__all__ = ["NonFinite", "dumps", "loads"]

# One pass that keeps only what the two tests look for: digits become "0" (a run of
# digits is then a run of "0" that ``in`` finds), "[" and "{" become "[" (counted), any
# other byte a space.
_SHAPE = bytes(0x30 if 0x30 <= b <= 0x39 else 0x5B if b in b"[{" else 0x20 for b in range(256))
# 19 digits reach 10**18; orjson reads integers up to 2**64 - 1 (20 digits) exactly.
_LONG_RUN = b"0" * 19
# Fewer openings than this cannot nest as deep as json's limit (the recursion limit,
# 1,000, less the frames already on the stack).
_FEW_OPENINGS = 500


class NonFinite(float):
    """NaN or an infinity as ``json`` reads it; a subclass so that ``dumps`` knows."""

    __slots__ = ()


def _non_finite(text: str) -> float:
    return NonFinite(text)


def _float(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(value)


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``: the same value, or the same exception."""
    if isinstance(data, str):  # as json.loads reads bytes: UTF-8, lone surrogates kept
        data = data.encode("utf-8", "surrogatepass")
    shape = data.translate(_SHAPE)
    if _LONG_RUN not in shape and shape.count(b"[") < _FEW_OPENINGS:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # json decides: it accepts more, and its errors are the ones we answer
    return json.loads(data, parse_float=_float, parse_constant=_non_finite)


def dumps(value: Any) -> str:
    """JSON text for ``value``; read back with ``loads`` it is ``value`` again."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError too
        return json.dumps(value)
