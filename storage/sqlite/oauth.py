"""sqlite side of OAuth2: operation interpreters and reads."""

from __future__ import annotations

import sqlite3

from storage.sqlite.engine import SqliteEngine

__all__ = ["OAuthReads", "apply_oauth"]


def apply_oauth(conn: sqlite3.Connection, op: object) -> bool:
    """Apply ``op`` if it is an OAuth operation; False when it is not one."""
    return False


class OAuthReads:
    """Store reads for OAuth2 (mixed into SqliteStore)."""

    engine: SqliteEngine
