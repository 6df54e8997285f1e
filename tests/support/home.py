"""One real Mutual node with one member, ana, for inbox tests driven over HTTP.

A test module starts it once (``home_node``, from a module-scoped fixture): a node
costs ~1.5 s to start, and tests keep apart by using their own remote actors and ids.
What the tests read back goes through public HTTP only, as a client or peer would.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.nodes import Cluster, Member, MutualNode

__all__ = ["Home", "home_node"]


class Home:
    """The node under test and its member ana."""

    def __init__(self, *, node: MutualNode, ana: Member) -> None:
        self.node = node
        self.ana = ana

    def __repr__(self) -> str:  # short: hypothesis prints the arguments of a failing case
        return f"<{type(self).__name__} {self.node.url}>"

    @property
    def inbox(self) -> str:
        """ana's personal inbox."""
        return f"{self.ana.actor_id}/inbox"

    @property
    def shared_inbox(self) -> str:
        return f"{self.node.url}/inbox"

    async def inbox_items(self) -> list[dict[str, Any]]:
        return await self.ana.inbox()

    async def inbox_item(self, activity_id: str) -> dict[str, Any] | None:
        found = [i for i in await self.ana.inbox() if i.get("id") == activity_id]
        return found[0] if found else None

    async def inbox_object_ids(self) -> list[str]:
        return [item["object"]["id"] for item in await self.ana.inbox()
                if isinstance(item.get("object"), dict) and "id" in item["object"]]

    async def followers(self) -> list[str]:
        return await self.node.collection(f"{self.ana.actor_id}/followers")

    async def following(self) -> list[str]:
        return await self.node.collection(f"{self.ana.actor_id}/following")

    async def counts(self, object_id: str) -> tuple[int, int]:
        """(likes, shares) of one of ana's posts, as the node serves it."""
        status, doc = await self.node.get(object_id)
        assert status == 200, doc
        return doc["likes"]["totalItems"], doc["shares"]["totalItems"]

    async def snapshot(self) -> tuple[int, int, int]:
        """Sizes of ana's inbox, followers and following: what a refusal must not change."""
        auth = {"Authorization": f"Bearer {self.ana.token}"}
        sizes = []
        for name, headers in (("inbox", auth), ("followers", None), ("following", None)):
            status, doc = await self.node.get(f"{self.ana.actor_id}/{name}", headers=headers)
            assert status == 200, (status, doc)
            sizes.append(int(doc["totalItems"]))
        return sizes[0], sizes[1], sizes[2]


@contextlib.asynccontextmanager
async def home_node(root: Path) -> AsyncIterator[Home]:
    """Start a node with a member ana under ``root``; stop it afterwards, always."""
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        cluster = Cluster(root, session)
        try:
            node = await cluster.node("home")
            yield Home(node=node, ana=node.member("ana"))
        finally:
            cluster.stop_all()
