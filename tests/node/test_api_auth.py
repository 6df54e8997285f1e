"""Bad tokens get Mastodon's answers (issue 4, acceptance 3): missing, unknown,
revoked and expired tokens a 401 with ``{"error": ...}`` and a Bearer challenge; a
token without the scope a 403; an app's own token where a member is needed a 422.
Each refusal is paired with the same call succeeding with a good token.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.support.nodes import Cluster, MutualNode
from tests.support.oauth import App, Reply, register_app, request, signed_up

pytestmark = pytest.mark.asyncio(loop_scope="module")

INVALID = {"error": "The access token is invalid"}


@dataclass
class Env:
    node: MutualNode
    session: aiohttp.ClientSession
    app: App
    password: str

    async def token(self, scope: str = "read write follow push", *,
                    grant: str = "password") -> str:
        data = {"grant_type": grant, "client_id": self.app.client_id,
                "client_secret": self.app.client_secret, "scope": scope}
        if grant == "password":
            data.update(username="ana", password=self.password)
        reply = await request(self.session, "POST", f"{self.node.url}/oauth/token", data=data)
        assert reply.status == 200, reply
        return str(reply.body["access_token"])

    async def app_info(self, token: str | None) -> Reply:
        return await request(self.session, "GET",
                             f"{self.node.url}/api/v1/apps/verify_credentials", token=token)

    async def post_status(self, token: str | None, text: str = "hello") -> Reply:
        return await request(self.session, "POST", f"{self.node.url}/api/v1/statuses",
                             token=token, data={"status": text})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        cluster = Cluster(tmp_path_factory.mktemp("api-auth"), session)
        try:
            node = await cluster.node("home", start=False)
            password = signed_up(node, "ana")
            await node.start()
            app = await register_app(session, node)
            yield Env(node=node, session=session, app=app, password=password)
        finally:
            cluster.stop_all()


def refused_401(reply: Reply, body: dict[str, str] = INVALID) -> None:
    assert (reply.status, reply.body) == (401, body), reply
    assert reply.headers["WWW-Authenticate"].startswith('Bearer realm="Doorkeeper"')


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic YW5hOnB3", "Token abc", "Bearer not-a-token",
    "Bearer " + "x" * 5000])
async def test_missing_or_unknown_token_is_401_with_mastodons_error(env: Env,
                                                                   header: str | None
                                                                   ) -> None:
    headers = {} if header is None else {"Authorization": header}
    for path, method in (("/api/v1/apps/verify_credentials", "GET"),
                         ("/api/v1/statuses", "POST")):
        reply = await request(env.session, method, env.node.url + path, headers=headers,
                              data={"status": "hi"} if method == "POST" else None)
        refused_401(reply)
    # Control: a good token passes the same door.
    assert (await env.app_info(await env.token())).status == 200


async def test_revoked_token_is_401_was_revoked(env: Env) -> None:
    token = await env.token()
    assert (await env.app_info(token)).status == 200
    reply = await request(env.session, "POST", f"{env.node.url}/oauth/revoke", data={
        "client_id": env.app.client_id, "client_secret": env.app.client_secret,
        "token": token})
    assert reply.status == 200, reply
    refused_401(await env.app_info(token), {"error": "The access token was revoked"})
    refused_401(await env.post_status(token), {"error": "The access token was revoked"})


async def test_expired_token_is_401_expired(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        cluster = Cluster(tmp_path, session)
        try:
            node = await cluster.node("brief", start=False,
                                      env={"MUTUAL_OAUTH_TOKEN_LIFETIME": "1"})
            password = signed_up(node, "ana")
            await node.start()
            env = Env(node=node, session=session, app=await register_app(session, node),
                      password=password)
            token = await env.token()
            assert (await env.app_info(token)).status == 200
            await asyncio.sleep(1.2)
            refused_401(await env.app_info(token), {"error": "The access token expired"})
            refused_401(await env.post_status(token), {"error": "The access token expired"})
        finally:
            cluster.stop_all()


async def test_token_without_the_scope_is_403(env: Env) -> None:
    forbidden = {"error": "This action is outside the authorized scopes"}
    for scope in ("read", "follow", "write:favourites"):
        reply = await env.post_status(await env.token(scope))
        assert (reply.status, reply.body) == (403, forbidden), (scope, reply)
    for scope in ("write", "write:statuses"):
        reply = await env.post_status(await env.token(scope), f"with {scope}")
        assert reply.status == 200, (scope, reply)


async def test_app_token_where_a_member_is_needed_is_422(env: Env) -> None:
    token = await env.token("read write", grant="client_credentials")
    assert (await env.app_info(token)).status == 200
    reply = await env.post_status(token)
    assert (reply.status, reply.body) == (
        422, {"error": "This method requires an authenticated user"}), reply
