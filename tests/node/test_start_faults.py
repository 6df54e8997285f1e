"""A node that cannot write its data folder must not start: a read-only folder, a full
disk. ``mutual serve`` then says why on stderr and exits non-zero, and the database it
leaves is sound — it passes ``PRAGMA integrity_check`` and the node, started again
where it can write, serves what it had.

A read-only folder is a real read-only bind mount in a private mount namespace
(``unshare -m``, root only; tests run as root, where ``chmod`` stops nothing), or
``chmod`` for an ordinary user. A full disk is ``RLIMIT_FSIZE``: no file may grow, as
on a disk with no free block (``SIGXFSZ`` is ignored, so writes fail with ``EFBIG``
instead of killing the process).
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.support.nodes import Cluster, MutualNode

pytestmark = pytest.mark.asyncio(loop_scope="module")

_MOUNT = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'


def _serve(node: MutualNode) -> list[str]:
    return [sys.executable, "-m", "node.cli", "--data", str(node.data), "serve"]


def _read_only_command(node: MutualNode) -> list[str]:
    """``mutual serve`` with the data folder read-only, however this machine allows."""
    if os.geteuid() != 0:
        node.data.chmod(0o555)
        for path in node.data.iterdir():
            path.chmod(0o444)
        return _serve(node)
    probe = ["unshare", "-m", "sh", "-c", _MOUNT, "sh", str(node.data),
             "sh", "-c", f': > "{node.data}/probe"']
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to make a read-only mount")
    tried = subprocess.run(probe, capture_output=True, text=True, timeout=20, check=False)
    if tried.returncode == 0 or "Read-only file system" not in tried.stderr:
        (node.data / "probe").unlink(missing_ok=True)
        pytest.skip(f"cannot make a read-only mount here: {tried.stderr.strip()[:200]}")
    return ["unshare", "-m", "sh", "-c", _MOUNT, "sh", str(node.data), *_serve(node)]


def _full_disk() -> None:
    """In the child: no file may grow past 4 KiB, as on a disk without free blocks."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def _restore(node: MutualNode) -> None:
    node.data.chmod(0o755)
    for path in node.data.iterdir():
        path.chmod(0o644)


def _integrity(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@dataclass
class Stopped:
    node: MutualNode
    post: str  # written before the fault; must be served after it


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stopped(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stopped]:
    """A node with data, killed: its WAL is left behind, not yet checkpointed."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        cluster = Cluster(tmp_path_factory.mktemp("start-faults"), session)
        try:
            node = await cluster.node("home")
            ana = node.member("ana")
            post = await ana.post({"type": "Note", "content": "written before the fault"})
            node.stop(signal.SIGKILL)
            yield Stopped(node=node, post=str(post["object"]["id"]))
        finally:
            cluster.stop_all()


@pytest.mark.parametrize("fault", ["read-only-folder", "full-disk"])
async def test_a_data_folder_that_cannot_be_written_stops_the_node_at_start_with_a_reason(
        stopped: Stopped, fault: str) -> None:
    node = stopped.node
    preexec: Callable[[], None] | None = None
    if fault == "read-only-folder":
        command = await asyncio.to_thread(_read_only_command, node)
    else:
        command, preexec = _serve(node), _full_disk
    try:
        result = await asyncio.to_thread(subprocess.run, command, capture_output=True,
                                         text=True, timeout=30, preexec_fn=preexec,
                                         check=False)
    finally:
        if os.geteuid() != 0:
            _restore(node)
    assert result.returncode == 2, (result.returncode, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"mutual: cannot open the database {node.data / 'mutual.db'}"), (
        result.stderr)
    assert "writable" in last, last
    assert "Traceback" not in result.stderr, result.stderr
    # Nothing is corrupt; where it can write, the same folder starts and serves its data.
    assert _integrity(node.data / "mutual.db") == "ok"
    await node.start()
    status, doc = await node.get(stopped.post)
    assert (status, doc["content"]) == (200, "<p>written before the fault</p>")
    node.stop(signal.SIGKILL)
