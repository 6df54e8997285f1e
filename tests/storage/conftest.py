"""The contract suite's fixture: an open, empty ``Store`` of each engine.

Every test in ``tests/storage/test_contract_*.py`` takes ``store`` and so runs once per
engine: both must pass the same contract (DESIGN §4). The PostgreSQL server is asked for
only by the ``postgresql`` parameter (``request.getfixturevalue``), so a sqlite-only run
(``-m "not postgres"``) never starts one. This module skips the parameter only while the
engine or its test server are not in the tree; once they are, whether a server can be
had is ``pg_server``'s call: in CI a server that cannot start fails the run, never a
silent skip.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import pytest

from storage.sqlite import open_sqlite
from storage.store import Store

__all__ = ["OpenStore"]


class OpenStore(Protocol):
    """Open one more store on the test's database; closed at teardown unless the test
    says it closes that store itself."""

    def __call__(self, *, closed_by_test: bool = False) -> Awaitable[Store]: ...


_OPENER = pytest.StashKey[OpenStore]()
# The modules whose absence means "the PostgreSQL engine is not written yet".
_PENDING = ("storage.postgres", "tests.support.postgres")


def _postgres_parts() -> tuple[Any, Any]:
    """``(open_postgres, fresh_database)``, or a skip while either module is missing."""
    try:
        from storage.postgres import open_postgres
        from tests.support.postgres import fresh_database
    except ModuleNotFoundError as exc:
        if exc.name in _PENDING:
            pytest.skip(f"PostgreSQL engine not in this tree yet: no module {exc.name}")
        raise  # anything else missing (a driver) is a broken install: fail
    return open_postgres, fresh_database


async def _postgres_dsn(request: pytest.FixtureRequest, fresh_database: Any) -> str:
    server = request.getfixturevalue("pg_server")
    dsn = fresh_database(server)
    if inspect.isawaitable(dsn):  # whichever way the helper is written
        dsn = await dsn
    return str(dsn)


@pytest.fixture(params=[
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """An open store over a new, empty database, closed (with any sibling opened through
    ``open_store``) when the test ends."""
    opener: Callable[[], Awaitable[Any]]
    if request.param == "sqlite":
        path = tmp_path / "contract.sqlite"

        async def opener() -> Any:
            return await open_sqlite(path)
    else:
        open_postgres, fresh_database = _postgres_parts()
        dsn = await _postgres_dsn(request, fresh_database)

        async def opener() -> Any:
            return await open_postgres(dsn)

    opened: list[Store] = []

    async def open_another(*, closed_by_test: bool = False) -> Store:
        sibling: Store = await opener()
        if not closed_by_test:
            opened.append(sibling)
        return sibling

    request.node.stash[_OPENER] = open_another
    first = await open_another()
    try:
        yield first
    finally:
        for each in reversed(opened):
            await each.close()


@pytest.fixture
def open_store(request: pytest.FixtureRequest, store: Store) -> OpenStore:
    """Open one more store on the *same* database as ``store``: what separate node
    processes (web and worker roles on one PostgreSQL) look like to each other."""
    return request.node.stash[_OPENER]


@pytest.fixture
def engine(request: pytest.FixtureRequest, store: Store) -> str:
    """Which engine ``store`` is ("sqlite" or "postgresql"), for the rare documented
    difference a contract test has to spell out."""
    return str(request.node.callspec.params["store"])
