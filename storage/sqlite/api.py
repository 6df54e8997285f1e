"""sqlite side of the client API: operation interpreters and reads."""

from __future__ import annotations

import sqlite3

from storage.sqlite.engine import SqliteEngine

__all__ = ["ApiReads", "apply_api"]


def apply_api(conn: sqlite3.Connection, op: object) -> bool:
    """Apply ``op`` if it is a client-API operation; False when it is not one."""
    return False


class ApiReads:
    """Store reads for the client API (mixed into SqliteStore)."""

    engine: SqliteEngine
