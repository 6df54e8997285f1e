"""sqlite schema for OAuth2 (applications, authorization codes, token columns)."""

from __future__ import annotations

OAUTH_MIGRATIONS: list[tuple[int, str]] = []
