"""Streaming across the web processes of a node scaled out on PostgreSQL.

An app stays connected to whichever web process the proxy gave it; what the member's
home and notifications gain through another process must still reach it live
(node/event_wire.py over PostgreSQL LISTEN/NOTIFY).
"""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.api import member_api
from tests.support.nodes import Cluster
from tests.support.postgres import PgServer, fresh_database
from tests.support.streams import open_ws

pytestmark = pytest.mark.federation


async def test_a_stream_on_one_web_process_hears_writes_made_through_another(
        cluster: Cluster, pg_server: PgServer, session: aiohttp.ClientSession) -> None:
    # Web process 1 (with the workers) at the node's URL, web process 2 on its own port.
    a = await cluster.node("a", database=await fresh_database(pg_server))
    ana, cy = member_api(a, "ana"), member_api(a, "cy")
    web2 = (await cluster.web(a)).url

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
