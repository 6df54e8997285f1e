"""Shared fixtures: an HTTP client session and a cluster of real nodes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.nodes import Cluster


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
