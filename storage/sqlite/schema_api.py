"""sqlite schema for the client API (statuses, home feeds, notifications...)."""

from __future__ import annotations

API_MIGRATIONS: list[tuple[int, str]] = []
