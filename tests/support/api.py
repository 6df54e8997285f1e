"""A plain-HTTP client for the Mastodon client API of a real node, as apps call it.

Tokens come from ``mutual token create`` (scopes ``read write follow push``); every
call goes over loopback to a node process started by the test. Nothing here knows the
node's internals: ids come from the API's own answers.
"""

from __future__ import annotations

import contextlib
import json as json_module
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.nodes import Cluster, MutualNode

__all__ = ["Api", "ApiHome", "Reply", "api_home", "next_link"]

_LINK = re.compile(r'<([^>]+)>;\s*rel="(\w+)"')


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def links(self) -> dict[str, str]:
        return {rel: url for url, rel in _LINK.findall(self.headers.get("Link", ""))}


def next_link(reply: Reply, rel: str = "next") -> str | None:
    return reply.links.get(rel)


@dataclass
class Api:
    """One member's view of one node through the client API."""

    node: MutualNode
    name: str
    token: str | None

    @property
    def actor_id(self) -> str:
        return f"{self.node.url}/users/{self.name}"

    @property
    def acct(self) -> str:
        return f"{self.name}@{self.node.host}"

    async def call(self, method: str, path: str, *, params: Any = None, json: Any = None,
                   data: Any = None, headers: dict[str, str] | None = None) -> Reply:
        assert self.node.session is not None
        url = path if path.startswith("http") else f"{self.node.url}{path}"
        all_headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        all_headers.update(headers or {})
        async with self.node.session.request(method, url, params=params, json=json, data=data,
                                             headers=all_headers) as response:
            raw = await response.read()
            try:
                body = json_module.loads(raw)
            except ValueError:
                body = raw
            return Reply(status=response.status, body=body, headers=dict(response.headers))

    async def get(self, path: str, **params: Any) -> Reply:
        return await self.call("GET", path, params=params or None)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The body of a call that must succeed."""
        reply = await self.call(method, path, **kwargs)
        assert reply.status == 200, (method, path, reply.status, reply.body)
        return reply.body

    async def post_status(self, text: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok("POST", "/api/v1/statuses",
                                             json={"status": text, **fields})
        return body

    async def me(self) -> dict[str, Any]:
        body: dict[str, Any] = await self.ok("GET", "/api/v1/accounts/verify_credentials")
        return body

    async def account_id(self, of: Api) -> str:
        """The API id of ``of``'s account as this node knows it (a local lookup)."""
        acct = of.name if of.node is self.node else of.acct
        body = await self.ok("GET", "/api/v1/accounts/lookup", params={"acct": acct})
        return str(body["id"])

    async def walk(self, path: str, params: dict[str, Any]) -> list[Reply]:
        """Every page of a paged list, following ``rel="next"`` until an empty page."""
        pages = [await self.call("GET", path, params=params)]
        while pages[-1].status == 200 and pages[-1].body:
            url = next_link(pages[-1])
            assert url is not None, pages[-1].headers
            pages.append(await self.call("GET", url))
            assert len(pages) < 1000
        return pages

    async def notifications(self, **params: Any) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = await self.ok("GET", "/api/v1/notifications",
                                                   params=params or None)
        return body


class ApiHome:
    """A node and its members, each with a client-API token."""

    def __init__(self, node: MutualNode, members: dict[str, Api]) -> None:
        self.node = node
        self.members = members

    def __getitem__(self, name: str) -> Api:
        return self.members[name]

    def __repr__(self) -> str:
        return f"<ApiHome {self.node.url}>"


def member_api(node: MutualNode, name: str) -> Api:
    member = node.member(name)
    return Api(node=node, name=name, token=member.token)


@contextlib.asynccontextmanager
async def api_home(root: Path, names: tuple[str, ...] = ("ana", "bo", "cy")
                   ) -> AsyncIterator[ApiHome]:
    """One node with members ``names``, for a module of API tests; stopped afterwards."""
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        cluster = Cluster(root, session)
        try:
            node = await cluster.node("home")
            yield ApiHome(node, {name: member_api(node, name) for name in names})
        finally:
            cluster.stop_all()
