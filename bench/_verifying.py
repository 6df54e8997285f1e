"""Two floors for the inbox benchmark: bare aiohttp plus the one check no inbox can skip,
the HTTP signature, and that plus the body stored.

Why: the bare aiohttp rate says what the framework costs; it does not say what is left
for an inbox once it has done the least that makes it an inbox. This server does only
that least: read the body, parse the JSON, check the body's SHA-256 digest, rebuild the
draft-cavage signing string and verify the RSA signature with a key parsed in advance,
then answer 202. No date window, no actor or origin checks, no dedupe, no middleware.
With ``store`` it also appends each body to a sqlite table (WAL, ``synchronous=NORMAL``
as the node runs it) and answers once the row is committed, the commits grouped per
turn of the event loop: the least a durable inbox adds. Their rates are upper bounds for
any inbox on this stack, measured in the same run as the node; they are written without
the node's own code, so a slow parser of ours cannot lower them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import multiprocessing
import re
import sqlite3
import time
from collections.abc import Callable

from _common import wait_http
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_SPAWN = multiprocessing.get_context("spawn")
_PARAM = re.compile(r'(\w+)="([^"]*)"')


class _GroupCommit:
    """Rows inserted during one turn of the loop, committed together at its end."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE inbox (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        self.committed: asyncio.Future[None] | None = None

    async def append(self, body: bytes) -> None:
        if self.committed is None:
            self.conn.execute("BEGIN")
            self.committed = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(self._commit)
        committed = self.committed
        self.conn.execute("INSERT INTO inbox (body) VALUES (?)", (body,))
        await committed

    def _commit(self) -> None:
        committed, self.committed = self.committed, None
        self.conn.execute("COMMIT")
        assert committed is not None
        committed.set_result(None)


def _verifying_server(port: int, public_pems: dict[str, str], database: str | None) -> None:
    keys: dict[str, rsa.RSAPublicKey] = {}
    for key_id, pem in public_pems.items():
        key = serialization.load_pem_public_key(pem.encode())
        assert isinstance(key, rsa.RSAPublicKey)
        keys[key_id] = key
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
    store = _GroupCommit(database) if database else None

    async def inbox(request: web.Request) -> web.Response:
        body = await request.read()
        json.loads(body)
        headers = request.headers
        digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if headers.get("Digest") != digest:
            raise web.HTTPBadRequest(text="digest")
        params = dict(_PARAM.findall(headers["Signature"]))
        lines = [f"(request-target): post {request.path}" if name == "(request-target)"
                 else f"{name}: {headers[name]}" for name in params["headers"].split()]
        keys[params["keyId"]].verify(base64.b64decode(params["signature"]),
                                     "\n".join(lines).encode(), pkcs1, sha256)
        if store is not None:
            await store.append(body)
        return web.json_response({"status": "accepted"}, status=202)

    async def ping(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{tail:.*}", inbox)
    app.router.add_get("/ping", ping)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def start_verifying_server(port: int, public_pems: dict[str, str],
                                 database: str | None = None
                                 ) -> multiprocessing.process.BaseProcess:
    """The verifying ceiling on ``port``; ``public_pems`` maps each keyId to its PEM.
    With ``database`` (a new sqlite file's path) each body is stored before the 202."""
    process = _SPAWN.Process(target=_verifying_server, args=(port, public_pems, database),
                             daemon=True)
    process.start()
    await wait_http(f"http://127.0.0.1:{port}/ping", process, 30)
    return process


def per_activity_costs(body: bytes, rounds: int = 2_000) -> dict[str, float]:
    """Microseconds, on this core, of work every accepted Create must have done before
    its 202 that neither floor does: the ActivityStreams shape checked (DESIGN §5, the
    issue's acceptance 4) and the post's HTML sanitised before it is stored (DESIGN §5).
    What the node stores beyond the raw body (the post, its status and inbox rows and
    their indexes, the mention's notification) comes on top."""
    from protocol.html import sanitize
    from protocol.jsonld import normalise
    from protocol.vocab import parse_activity

    doc = json.loads(body)
    content = doc["object"]["content"]

    def timed(fn: Callable[[], object]) -> float:
        started = time.perf_counter()
        for _ in range(rounds):
            fn()
        return (time.perf_counter() - started) / rounds * 1e6

    # (on the parsed document: both floors parse the JSON already)
    return {"shape": timed(lambda: parse_activity(normalise(doc))),
            "sanitise": timed(lambda: sanitize(content))}
