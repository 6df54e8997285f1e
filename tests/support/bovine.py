"""Run a real bovine-herd ActivityPub server for federation tests.

bovine is third-party software we federate with, so it runs the way its
authors ship it: ``BovineHerd(Quart app)`` served by hypercorn, state in a
sqlite file. It runs in a *subprocess* so that a crash or hang in bovine can
never take the test process down, and so that tortoise-orm's process-global
state never touches ours. Users are driven through bovine's own client API:
``bovine.BovineClient`` authenticating with Moo-Auth-1 (an Ed25519 key
registered as a did:key identity), exactly like bovine's CLI tools do.

Usage::

    async with BovineServer.start(tmp_path) as bovine:
        alice = await bovine.create_user("alice")
        await alice.follow(remote_actor_id)

See docs/bovine-notes.md for what bovine expects from a peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from bovine import BovineClient
from bovine.crypto import generate_ed25519_private_key, private_key_to_did_key

AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
_PUBLIC_FORMS = {PUBLIC, "as:Public", "Public"}

_REPO = Path(__file__).resolve().parents[2]
# bovine dereferences every @context URL it meets and caches the answer (a
# failure is cached as an empty context, which silently mangles documents).
# There is no network here, so we pre-seed its cache with the copies we ship.
_SHIPPED_CONTEXTS = {
    "https://w3id.org/security/v1": "w3id.org_security_v1.jsonld",
    "https://www.w3.org/ns/did/v1": "www.w3.org_ns_did_v1.jsonld",
    "https://w3id.org/security/multikey/v1": "w3id.org_security_multikey_v1.jsonld",
    "https://w3id.org/security/data-integrity/v1": "w3id.org_security_data-integrity_v1.jsonld",
    "https://w3id.org/security/data-integrity/v2": "w3id.org_security_data-integrity_v2.jsonld",
}

# Executed with ``python -c`` in the child. Not a module in the repo, because
# running a file called bovine.py would shadow the real ``bovine`` package.
_SERVER_SCRIPT = r"""
import asyncio, logging, os, sys, threading
from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart, request
from bovine_herd import BovineHerd
from bovine_store import BovineAdminStore

fd, base_url = int(sys.argv[1]), sys.argv[2]
logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")

# Die with the parent: when the test process goes away, our stdin closes.
def _watch_parent():
    while os.read(0, 4096):  # raw fd: no buffer lock held at interpreter exit
        pass
    os._exit(0)
threading.Thread(target=_watch_parent, daemon=True).start()

app = Quart("bovine_harness")
BovineHerd(app, db_url="sqlite://bovine.sqlite3")

@app.post("/_harness/register")
async def register():
    # Same calls as `python -m bovine_store register` + `key --add`, done
    # in-process so only one process ever opens the sqlite file.
    data = await request.get_json()
    store = BovineAdminStore(domain=base_url)
    name = await store.register(data["handle"])
    await store.add_identity_string_to_actor(name, "harness", data["did_key"])
    return {"bovine_name": name}

config = Config()
config.bind = [f"fd://{fd}"]
config.accesslog = "-"
config.errorlog = "-"
asyncio.run(serve(app, config))
"""

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = 10.0, interval: float = 0.1
) -> T:
    """Await ``probe()`` until it returns something truthy; federation is async.

    Raises TimeoutError carrying the last value seen, so a failing test says
    what it saw rather than just "timed out".
    """
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within}s; last value: {value!r}")
        await asyncio.sleep(interval)


@dataclass
class BovineUser:
    """A bovine account, acting through bovine's client API (Moo-Auth-1)."""

    server: BovineServer
    handle: str
    client: BovineClient
    _accepted: set[str] = field(default_factory=set)

    @property
    def info(self) -> dict[str, Any]:
        """The actor document as bovine shows it to its owner."""
        assert self.client.information is not None
        return self.client.information

    @property
    def actor_id(self) -> str:
        return str(self.info["id"])

    @property
    def acct(self) -> str:
        """The webfinger resource, e.g. ``acct:alice@127.0.0.1:5000``."""
        return f"acct:{self.handle}@{self.server.netloc}"

    async def _send(self, activity: dict[str, Any]) -> str:
        """POST to our outbox; bovine assigns ids and answers with a Location."""
        activity = {"@context": AS_CONTEXT, "actor": self.actor_id, **activity}
        response = await self.client.send_to_outbox(activity)
        async with response:
            body = await response.text()
            if response.status != 201 or "location" not in response.headers:
                raise RuntimeError(f"outbox POST failed: {response.status} {body}")
            return response.headers["location"]

    async def follow(self, actor_id: str) -> str:
        """Send a Follow; returns its id. bovine only delivers to to/cc, so
        the target must be addressed explicitly."""
        return await self._send({"type": "Follow", "object": actor_id, "to": [actor_id]})

    async def accept_follow_requests(self) -> int:
        """Accept every Follow of us in the inbox not yet accepted; returns how
        many. bovine never auto-accepts: its followers collection only grows
        when the owner sends an Accept through the outbox."""
        count = 0
        for item in await self.inbox_items():
            follow_id = item.get("id")
            if item.get("type") != "Follow" or not isinstance(follow_id, str):
                continue
            if _id_of(item.get("object")) != self.actor_id or follow_id in self._accepted:
                continue
            follower = _id_of(item.get("actor"))
            assert follower is not None, item
            follow = {"id": follow_id, "type": "Follow", "actor": follower, "object": self.actor_id}
            await self._send({"type": "Accept", "object": follow, "to": [follower]})
            self._accepted.add(follow_id)
            count += 1
        return count

    async def post(self, text: str, to: list[str] | None = None) -> str:
        """Create a Note (public and cc followers by default); returns the
        Note's id, which bovine generated (it overwrites client-chosen ids)."""
        to = [PUBLIC] if to is None else to
        cc = [self.info["followers"]]
        note = {"type": "Note", "attributedTo": self.actor_id, "content": text, "to": to, "cc": cc}
        create_id = await self._send({"type": "Create", "object": note, "to": to, "cc": cc})
        create = await self.fetch(create_id)
        note_id = _id_of(create.get("object")) if create else None
        if note_id is None:
            raise RuntimeError(f"cannot read back {create_id}: {create!r}")
        return note_id

    async def fetch(self, object_id: str) -> dict[str, Any] | None:
        """Resolve any id through bovine's proxyUrl endpoint. bovine answers
        from its store or does a signed GET itself; actor/object/attributedTo
        are embedded when it has them. Result uses the ``about:bovine`` context."""
        try:
            result: dict[str, Any] = await self.client.proxy(object_id)
        except aiohttp.ClientResponseError:
            return None
        return result

    async def _collection(self, collection_id: str, max_pages: int = 20) -> list[str]:
        """Item ids of one of our collections, newest first, following pages."""
        page: dict[str, Any] = await self.client.get(collection_id)
        ids: list[str] = []
        if "first" in page:
            page = await self.client.get(page["first"])
        for _ in range(max_pages):
            items = page.get("orderedItems", page.get("items", []))
            items = items if isinstance(items, list) else [items]
            ids.extend(i for i in map(_id_of, items) if i is not None)
            if not items or "next" not in page:
                break
            page = await self.client.get(page["next"])
        return ids

    async def inbox_items(self) -> list[dict[str, Any]]:
        """Activities received, newest first, with embedded objects/actors."""
        items = []
        for item_id in await self._collection(self.info["inbox"]):
            item = await self.fetch(item_id)
            items.append(item if item is not None else {"id": item_id})
        return items

    async def followers(self) -> list[str]:
        return await self._collection(self.info["followers"])

    async def following(self) -> list[str]:
        return await self._collection(self.info["following"])


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def is_public(activity: dict[str, Any]) -> bool:
    """Whether ``to``/``cc`` address the public collection (any spelling)."""
    audience = [*_as_list(activity.get("to")), *_as_list(activity.get("cc"))]
    return any(a in _PUBLIC_FORMS for a in audience)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


class BovineServer:
    """A bovine-herd process on ``http://127.0.0.1:<port>``; use ``start()``."""

    def __init__(self, workdir: Path, sock: socket.socket, session: aiohttp.ClientSession):
        self.workdir = workdir
        self.port: int = sock.getsockname()[1]
        self.netloc = f"127.0.0.1:{self.port}"
        self.base_url = f"http://{self.netloc}"
        self.log_path = workdir / "bovine.log"
        self.session = session
        self.users: dict[str, BovineUser] = {}
        self._sock = sock
        self._process: asyncio.subprocess.Process | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        tmp_path: Path,
        *,
        name: str = "bovine",
        extra_contexts: dict[str, Any] | None = None,
        startup_timeout: float = 20.0,
    ) -> AsyncIterator[BovineServer]:
        """Start bovine with its state in ``tmp_path/name``; always stopped on exit.

        ``extra_contexts`` maps @context URLs to their ``@context`` value, so
        bovine can expand documents from a peer using its own context URL.
        """
        workdir = tmp_path / name
        workdir.mkdir(parents=True)
        _seed_jsonld_cache(workdir / "bovine_jsonld_cache.sqlite", extra_contexts or {})
        # We bind the port and hand the socket to hypercorn (fd://): no race
        # between choosing a free port and the child binding it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        async with aiohttp.ClientSession() as session:
            server = cls(workdir, sock, session)
            try:
                await server._launch(startup_timeout)
                yield server
            finally:
                await server._stop()
                sock.close()

    async def _launch(self, startup_timeout: float) -> None:
        with self.log_path.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _SERVER_SCRIPT,
                str(self._sock.fileno()),
                self.base_url,
                cwd=self.workdir,
                # bovine's webfinger client tries https:// first and falls back
                # to http:// only when this is set; lets acct: lookups work.
                env={**os.environ, "BUTCHER_ALLOW_HTTP": "1"},
                stdin=asyncio.subprocess.PIPE,
                stdout=log,
                stderr=log,
                pass_fds=[self._sock.fileno()],
            )
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if self._process.returncode is not None:
                break
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                url = f"{self.base_url}/.well-known/nodeinfo"
                async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"bovine did not start; log tail:\n{self.log_tail()}")

    async def _stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=5)
        except TimeoutError:
            process.kill()
            await process.wait()

    def log_tail(self, lines: int = 60) -> str:
        """The end of bovine's log: it says why a signature or activity was refused."""
        if not self.log_path.exists():
            return "<no log>"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def create_user(self, handle: str) -> BovineUser:
        """Register ``handle`` with a fresh Ed25519 did:key and log in as it."""
        if handle in self.users:
            # bovine would register it twice and then 500 on webfinger.
            raise ValueError(f"{handle} already exists on {self.base_url}")
        secret = generate_ed25519_private_key()
        payload = {"handle": handle, "did_key": private_key_to_did_key(secret)}
        async with self.session.post(f"{self.base_url}/_harness/register", json=payload) as r:
            if r.status != 200:
                raise RuntimeError(f"register failed: {r.status} {await r.text()}")
        client = BovineClient(domain=self.base_url, secret=secret)
        await client.init(session=self.session)
        user = BovineUser(server=self, handle=handle, client=client)
        self.users[handle] = user
        return user


def _seed_jsonld_cache(path: Path, extra: dict[str, Any]) -> None:
    """Write bovine's JSON-LD context cache (its own schema) before it starts."""
    contexts: dict[str, Any] = {}
    for url, filename in _SHIPPED_CONTEXTS.items():
        shipped = _REPO / "protocol" / "contexts" / filename
        if shipped.exists():
            contexts[url] = json.loads(shipped.read_text())["@context"]
    contexts.update(extra)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS jsonld (url TEXT PRIMARY KEY, context TEXT)")
        db.executemany(
            "INSERT OR REPLACE INTO jsonld VALUES (?, ?)",
            [(url, json.dumps(ctx)) for url, ctx in contexts.items()],
        )
