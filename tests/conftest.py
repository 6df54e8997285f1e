"""Shared fixtures: an HTTP client session, a cluster of real nodes, a PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.nodes import Cluster
from tests.support.postgres import PgServer, server_for_tests


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as client:
        yield client


@pytest.fixture
async def cluster(tmp_path: Path, session: aiohttp.ClientSession) -> AsyncIterator[Cluster]:
    nodes = Cluster(tmp_path, session)
    try:
        yield nodes
    finally:
        nodes.stop_all()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL server for the whole session, started on first use; each test makes
    its own database with ``await fresh_database(pg_server)`` (tests/support/postgres.py).
    Skipped with the reason when no server can be had, except in CI, where it fails."""
    server = server_for_tests()
    try:
        yield server
    finally:
        server.stop()
