"""Request parameters the way real Mastodon clients send them.

Recorded from Mastodon.py 2.3.3 and toot 0.52.1: both form-encoded and JSON bodies on
every endpoint, list parameters as ``key[]=``, and booleans as ``true``/``false``,
``1``/``0`` and the strings "1"/"0" (even inside JSON). Query strings carry the same
shapes on GET. ``Params`` merges query, form and JSON into one read-only view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

__all__ = ["ApiError", "Params", "read_params"]

_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}


class ApiError(Exception):
    """An error answered in Mastodon's shape: ``{"error": "..."}`` with a status."""

    def __init__(self, status: int, message: str, *, description: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.description = description
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        body = {"error": self.message}
        if self.description:
            body["error_description"] = self.description
        return body


class Params:
    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __contains__(self, name: str) -> bool:
        return name in self._values or f"{name}[]" in self._values

    def raw(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        return self._values.get(f"{name}[]")

    def str(self, name: str, default: str | None = None, *, max_length: int = 100_000
            ) -> str | None:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, list):
            value = value[0] if value else default
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise ApiError(422, f"Validation failed: {name} must be a string")
        text = str(value)
        if len(text) > max_length:
            raise ApiError(422, f"Validation failed: {name} is too long (max {max_length})")
        return text

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, list):
            value = value[0] if value else ""
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.lower() in _TRUE:
            return True
        if isinstance(value, str) and value.lower() in _FALSE:
            return False
        raise ApiError(422, f"Validation failed: {name} must be true or false")

    def int(self, name: str, default: int | None = None, *, minimum: int | None = None,
            maximum: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, bool):
            raise ApiError(422, f"Validation failed: {name} must be a number")
        try:
            number = int(str(value))
        except ValueError as exc:
            raise ApiError(422, f"Validation failed: {name} must be a number") from exc
        if minimum is not None and number < minimum:
            number = minimum
        if maximum is not None and number > maximum:
            number = maximum
        return number

    def list(self, name: str) -> list[str]:
        value = self.raw(name)
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if not isinstance(item, str | int | float) or isinstance(item, bool):
                raise ApiError(422, f"Validation failed: {name} must be a list of strings")
            out.append(str(item))
        return out

    def nested(self, name: str) -> Params:
        """``poll[options][]=a`` in forms, ``{"poll": {"options": [...]}}`` in JSON."""
        value = self._values.get(name)
        if isinstance(value, Mapping):
            return Params(value)
        prefix = f"{name}["
        found: dict[str, Any] = {}
        for key, item in self._values.items():
            if key.startswith(prefix) and "]" in key:
                inner, _, rest = key[len(prefix):].partition("]")
                found[inner + rest] = item
        return Params(found)


async def read_params(request: web.Request) -> Params:
    """Query string, then the body (form or JSON) on top; repeated ``key[]`` become lists."""
    values: dict[str, Any] = {}
    for key in request.query:
        items = request.query.getall(key)
        values[key] = items if key.endswith("[]") else items[-1]
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = json.loads(await request.read() or b"{}")
            except (ValueError, RecursionError) as exc:
                raise ApiError(400, "The request body is not valid JSON") from exc
            if not isinstance(body, dict):
                raise ApiError(422, "The request body must be a JSON object")
            values.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded",
                                      "multipart/form-data"):
            form = await request.post()
            for key in form:
                items = [v for v in form.getall(key) if isinstance(v, str)]
                values[key] = items if key.endswith("[]") else (items[-1] if items else "")
    return Params(values)
