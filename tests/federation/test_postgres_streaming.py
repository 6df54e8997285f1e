"""Streaming across the web processes of a node scaled out on PostgreSQL.

An app stays connected to whichever web process the proxy gave it; what the member's
home and notifications gain through another process must still reach it live
(node/event_wire.py over PostgreSQL LISTEN/NOTIFY).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import member_api
from tests.support.nodes import Cluster, MutualNode, free_port, mutual
from tests.support.postgres import PgServer, fresh_database
from tests.support.streams import open_ws

pytestmark = pytest.mark.federation


def serve_web(data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """A second ``--role web`` process on the same data folder, on its own port."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "--data", str(data), "serve", "--role", "web",
             "--listen", f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT,
            env=dict(os.environ))
    for _ in range(400):
        if process.poll() is not None:
            raise RuntimeError(f"web process exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("web process did not come up")


@pytest.fixture
def second_web() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()


async def test_a_stream_on_one_web_process_hears_writes_made_through_another(
        cluster: Cluster, pg_server: PgServer, session: aiohttp.ClientSession,
        second_web: list[subprocess.Popen[bytes]]) -> None:
    a = MutualNode(name="a", root=cluster.root, session=session)
    mutual(a.data, "init", "--url", a.url, "--database", await fresh_database(pg_server))
    cluster.nodes.append(a)
    await a.start()  # web process 1 (and the workers)
    ana, cy = member_api(a, "ana"), member_api(a, "cy")
    port = free_port()
    second_web.append(serve_web(a.data, port, cluster.root / "a-web2.log"))
    web2 = f"http://127.0.0.1:{port}"

    async with open_ws(session, web2, query={"stream": "user",
                                             "access_token": str(ana.token)}) as stream:
        # Posted through web process 1: ana's own post reaches her stream on process 2.
        mine = await ana.post_status("Posted through the first web process")
        update, _ = await stream.until(
            lambda e: e.event == "update" and e.payload["uri"] == mine["uri"])
        assert update.payload["id"] == mine["id"]
        assert update.payload["content"].startswith("<p>Posted through")

        # A favourite by cy through process 1 is a notification on process 2.
        await cy.ok("POST", f"/api/v1/statuses/{mine['id']}/favourite")
        note, _ = await stream.until(lambda e: e.event == "notification")
        assert note.payload["type"] == "favourite"
        assert note.payload["account"]["acct"] == "cy"

        # A delete through process 1 is a delete event on process 2.
        await ana.ok("DELETE", f"/api/v1/statuses/{mine['id']}")
        deleted, _ = await stream.until(lambda e: e.event == "delete")
        assert str(deleted.payload) == mine["id"]
