"""Benchmark: a member's home timeline through the client API, on a node with 1M statuses.

Issue 4: ``GET /api/v1/timelines/home?limit=20`` p50/p99 for a member following 1,000
accounts on a node with 1,000,000 statuses (sqlite), and requests/s at 32 concurrent
clients; target p99 < 25 ms. The ceiling, measured in the same run with the same client
and concurrency, is a bare aiohttp GET of a trivial JSON handler (DESIGN §7).

Setup, before the node starts. The data folder is made with the CLI (``init``,
``account create``); then 1,000 remote accounts on 100 hosts, the member's accepted
follows of all of them, and the statuses (Mastodon-shaped ``Create(Note)``, public, a
reply with a mention every 10th, a hashtag every 5th), spread round-robin over those
accounts, are written with the storage layer's own operations through ``Store.apply``:
``PutActor``, ``PutFollow``, and per status ``PutActivity`` + ``PutObject`` +
``AddToInbox`` -- the list the inbox commits for a delivered post, whose derived writes
fill ``statuses``, ``tags``, ``inbox``, ``home`` and the ``account_stats`` triggers. So
the rows are the node's own, not a copy of its SQL. Store.apply is fast enough, so
there is no bulk SQL: ~5,000 statuses/s on the 2-core machine (5,000 statuses per
commit; 1M in ~3.5 minutes, a 5.6 GB database: Mastodon-sized documents). Only speed is
tuned: a 2 GB page cache on the writer connection (``--seed-limit`` caps the time).

Fidelity check: the newest 50 statuses go through the inbox's real ``ingest()`` (on a
``Node`` over the same store, HTTP signatures aside), and the operations it commits are
compared with the ones the seeding builds for the same documents (timestamps aside).
After start, the API must render the seeded statuses: ids, authors, text, replies, tags.

Measured: the home page sequentially (newest page; deep pages, ``max_id`` in the middle
half), then with 32 clients for ~10 s each; then the bare ceiling. Every loop is bounded
in count and time; loopback only; processes and temp dirs are cleaned up.

    .venv/bin/python bench/api.py [--statuses 1000000] [--follows 1000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import aiohttp
from _common import (
    LoadResult,
    NodeProcess,
    Prepared,
    free_port,
    markdown_table,
    run_load,
    start_bare_server,
)

from node.config import Config, load_config
from node.context import Node, actor_record
from node.inbox.pipeline import ingest
from protocol.html import sanitize
from protocol.jsonld import normalise
from protocol.vocab import PUBLIC, parse_activity, parse_actor
from storage.records import (
    AddToInbox,
    ApplyResult,
    Op,
    PutActivity,
    PutActor,
    PutFollow,
    PutObject,
)
from storage.sqlite import SqliteStore
from storage.sqlite.engine import SqliteEngine

TARGET_P99 = 0.025
BATCH = 5000  # statuses per Store.apply, i.e. per commit
REAL_INGEST = 50  # the newest statuses go through the inbox's ingest()
HOME = "/api/v1/timelines/home"
AS2 = "https://www.w3.org/ns/activitystreams"
CONTEXT: list[Any] = [AS2, {
    "ostatus": "http://ostatus.org#", "atomUri": "ostatus:atomUri",
    "inReplyToAtomUri": "ostatus:inReplyToAtomUri", "conversation": "ostatus:conversation",
    "sensitive": "as:sensitive", "toot": "http://joinmastodon.org/ns#",
    "votersCount": "toot:votersCount"}]
TEXTS = [
    "Cooperatives share what they make and decide together what to do next.",
    "The tenants' assembly meets on Thursday; the agenda is on the board downstairs.",
    "Solar roof update: the panels arrived, installation starts next week if it is dry.",
    "Match day! Members' stand opens at noon, bring the new scarf if you have one.",
]


def _link_attributes() -> str:
    """``rel`` and ``target`` as this process's sanitiser writes them (their order
    changes from process to process: nh3 keeps them in a randomly seeded hash map)."""
    return sanitize('<a href="https://a.example/">a</a>').split('/" ', 1)[1].split(">")[0]


LINK = _link_attributes()


# -- what remote servers would have sent ------------------------------------------------


def host(k: int) -> str:
    return f"h{k % 100:02d}.example"


def actor_id(k: int) -> str:
    return f"https://{host(k)}/users/u{k}"


def actor_document(k: int, published: str) -> dict[str, Any]:
    a = actor_id(k)
    return {"@context": [AS2, "https://w3id.org/security/v1"], "id": a, "type": "Person",
            "following": f"{a}/following", "followers": f"{a}/followers",
            "inbox": f"{a}/inbox", "outbox": f"{a}/outbox", "preferredUsername": f"u{k}",
            "name": f"Member {k}", "summary": f"<p>Member {k} of a co-operative.</p>",
            "url": f"https://{host(k)}/@u{k}", "manuallyApprovesFollowers": False,
            "published": published, "endpoints": {"sharedInbox": f"https://{host(k)}/inbox"}}


def object_id(i: int, follows: int) -> str:
    return f"{actor_id(i % follows)}/statuses/{10**9 + i}"


def create_document(i: int, follows: int, published: str) -> dict[str, Any]:
    """Status ``i``: a Mastodon-shaped public Create(Note) by account ``i % follows``, its
    HTML already as the node's sanitiser leaves it (checked: see ``check_fidelity``)."""
    k = i % follows
    a, oid = actor_id(k), object_id(i, follows)
    to, cc = [PUBLIC], [f"{a}/followers"]
    tags: list[dict[str, str]] = []
    parent = object_id(i - 1, follows) if i % 10 == 9 else None
    html = ""
    if parent is not None:
        p = (i - 1) % follows
        cc.append(actor_id(p))
        tags.append({"type": "Mention", "href": actor_id(p), "name": f"@u{p}@{host(p)}"})
        html = (f'<span class="h-card" translate="no"><a href="https://{host(p)}/@u{p}" '
                f'class="u-url mention" {LINK}>@<span>u{p}</span></a></span> ')
    html += f"{TEXTS[i % len(TEXTS)]} (status {i})"
    if i % 5 == 0:
        tags.append({"type": "Hashtag", "href": f"https://{host(k)}/tags/coop",
                     "name": "#coop"})
        html += (f' <a href="https://{host(k)}/tags/coop" class="mention hashtag" {LINK}>'
                 "#<span>coop</span></a>")
    content = f"<p>{html}</p>"
    note = {"id": oid, "type": "Note", "summary": None, "inReplyTo": parent,
            "published": published, "url": f"https://{host(k)}/@u{k}/{10**9 + i}",
            "attributedTo": a, "to": to, "cc": cc, "sensitive": False, "atomUri": oid,
            "inReplyToAtomUri": parent,
            "conversation": f"tag:{host(k)},2024-01-01:objectId={i}:objectType=Conversation",
            "content": content, "contentMap": {"en": content}, "attachment": [], "tag": tags,
            "replies": {"id": f"{oid}/replies", "type": "Collection", "first": {
                "type": "CollectionPage", "next": f"{oid}/replies?only_other_accounts=true",
                "partOf": f"{oid}/replies", "items": []}}}
    return {"@context": CONTEXT, "id": f"{oid}/activity", "type": "Create", "actor": a,
            "published": published, "to": to, "cc": cc, "object": note}


def status_ops(doc: dict[str, Any], member: str, created_at: float) -> list[Op]:
    """What the inbox commits for ``doc`` delivered to ``member`` (node/inbox/pipeline.py
    ``ingest`` and node/inbox/posts.py ``object_ops``), built without parsing."""
    note = doc["object"]
    audience = tuple(dict.fromkeys(doc["to"] + doc["cc"]))
    tags = ("coop",) if any(t["type"] == "Hashtag" for t in note["tag"]) else ()
    return [
        PutActivity(id=doc["id"], type="Create", actor=doc["actor"], object_id=note["id"],
                    local=False, visibility="public", audience=audience,
                    document=json.dumps(doc), created_at=created_at),
        PutObject(id=note["id"], type="Note", attributed_to=doc["actor"],
                  in_reply_to=note["inReplyTo"], context=note["conversation"],
                  visibility="public", audience=audience, local=False,
                  document=json.dumps(note), published=note["published"],
                  created_at=created_at, tags=tags),
        AddToInbox(owner=member, activity_id=doc["id"]),
    ]


# -- seeding -----------------------------------------------------------------------------


class RecordingStore(SqliteStore):
    """The sqlite store, keeping the operation lists it is given (for the fidelity check)."""

    def __init__(self, engine: SqliteEngine) -> None:
        super().__init__(engine)
        self.seen: list[list[Op]] = []

    async def apply(self, ops: Sequence[Op]) -> ApplyResult:
        self.seen.append(list(ops))
        return await super().apply(ops)


def _timeless(ops: Sequence[Op]) -> list[Op]:
    return [dataclasses.replace(cast(Any, op), created_at=0.0)
            if hasattr(op, "created_at") else op for op in ops]


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def seed(data: Path, member: str, statuses: int, follows: int, limit: float
               ) -> dict[str, float]:
    """Accounts, follows and statuses through Store.apply; the newest via ingest()."""
    config = load_config(data)
    store = RecordingStore(SqliteEngine(config.database_path))
    await store.engine.open()
    started = time.perf_counter()
    base = time.time() - statuses - 3600  # one status a second, ending an hour ago
    try:
        await store.engine.write(lambda conn: conn.execute("PRAGMA cache_size=-2000000"))
        await store.apply([op for k in range(follows) for op in (
            PutActor(actor=actor_record(parse_actor(actor_document(k, iso(base))),
                                        local=False, now=time.time())),
            PutFollow(follower=member, followee=actor_id(k), activity_id=f"{member}#follow-{k}",
                      state="accepted", created_at=base))])
        fast = max(0, statuses - REAL_INGEST)
        pending: asyncio.Task[ApplyResult] | None = None
        for start in range(0, fast, BATCH):
            ops = [op for i in range(start, min(fast, start + BATCH))
                   for op in status_ops(create_document(i, follows, iso(base + i)), member,
                                        base + i)]
            if pending is not None:
                await pending  # built while the previous batch committed
            if time.perf_counter() - started > limit:
                raise RuntimeError(f"seeding passed --seed-limit {limit:.0f} s at {start:,}")
            pending = asyncio.create_task(store.apply(ops))
            if start and start % 100_000 == 0:
                print(f"  {start:,} statuses, {start / (time.perf_counter() - started):,.0f}/s",
                      flush=True)
        if pending is not None:
            await pending
        fast_seconds = time.perf_counter() - started
        same = await check_fidelity(config, store, member, fast, statuses, follows)
        if same != statuses - fast:
            raise RuntimeError(f"only {same}/{statuses - fast} ingested statuses matched")
    finally:
        await store.close()
    size = sum(p.stat().st_size for p in config.database_path.parent.glob("*.db*"))
    return {"seconds": time.perf_counter() - started, "rate": fast / fast_seconds,
            "checked": same, "bytes": size}


async def check_fidelity(config: Config, store: RecordingStore, member: str, start: int,
                         stop: int, follows: int) -> int:
    """Statuses start..stop through the inbox's ingest(); count those whose operations
    equal what ``status_ops`` builds for the same document."""
    same = 0
    async with aiohttp.ClientSession() as session:
        node = Node(config=config, store=store, session=session)
        await node.start()
        for i in range(start, stop):
            doc = create_document(i, follows, iso(time.time()))
            if not await ingest(node, parse_activity(normalise(doc))):
                raise RuntimeError(f"ingest refused status {i}")
            got, built = _timeless(store.seen[-1]), _timeless(status_ops(doc, member, 0.0))
            same += got == built
            if got != built and same == i - start:  # the first difference, for a diagnosis
                print("ingest() committed:", got, "\nthe seeding builds:", built, flush=True)
    return same


# -- measuring ---------------------------------------------------------------------------


async def check_rendering(url: str, token: str, statuses: int, follows: int) -> int:
    """The API shows the seeded statuses as they were sent; returns the page's bytes."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.get(f"{url}{HOME}?limit=20") as response:
            body = await response.read()
            assert response.status == 200, body[:300]
            assert 'rel="next"' in response.headers.get("Link", "")
            assert len(json.loads(body)) == min(20, statuses)
        middle = statuses // 2
        async with session.get(f"{url}{HOME}?limit=40&max_id={middle + 1}") as response:
            page = await response.json()
        for status in page:  # status ids follow the seeding order: id = i + 1
            i = int(status["id"]) - 1
            k = i % follows
            assert status["account"]["acct"] == f"u{k}@{host(k)}", status["account"]
            assert f"(status {i})" in status["content"], status["content"]
            assert status["uri"] == object_id(i, follows), status["uri"]
            assert status["visibility"] == "public", status["visibility"]
            assert (status["in_reply_to_id"] == str(i)) == (i % 10 == 9), status
            assert [t["name"] for t in status["tags"]] == (["coop"] if i % 5 == 0 else [])
        assert len(page) == min(40, middle), len(page)
    return len(body)


def requests_for(token: str, queries: list[str]) -> list[Prepared]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return [(f"{HOME}?{q}", headers, b"") for q in queries]


def measure(url: str, requests: list[Prepared], pid: int, args: argparse.Namespace
            ) -> tuple[LoadResult, LoadResult]:
    """(sequential: each request once, one at a time; concurrent: for ~args.seconds)."""
    sequential = run_load(url, requests[: args.requests], concurrency=1, server_pid=pid,
                          limit=args.limit, method="GET", ok=200)
    concurrent = run_load(url, requests, concurrency=args.concurrency, server_pid=pid,
                          limit=args.seconds + 60, method="GET", ok=200,
                          duration=args.seconds)
    return sequential, concurrent


def ms(seconds: float) -> str:  # as milliseconds
    return f"{seconds * 1e3:.2f}"


def row(name: str, seq: LoadResult, par: LoadResult, bare: LoadResult) -> list[str]:
    def others(r: LoadResult) -> str:  # CPU of unrelated processes: noise on a shared host
        return f"{max(0.0, r.machine_cpu - r.server_cpu - r.client_cpu) / r.seconds:.2f}"

    return [name, ms(seq.percentile(0.5)), ms(seq.percentile(0.99)), f"{par.rate:,.0f}",
            f"{ms(par.percentile(0.5))} / {ms(par.percentile(0.99))}",
            f"{par.rate / bare.rate:.3f}" if bare.rate else "-",
            f"{par.server_cpu / par.seconds:.2f} / {par.client_cpu / par.seconds:.2f}",
            f"{others(seq)} / {others(par)}"]


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="mutual-bench-") as tmp:
        node = NodeProcess(root=Path(tmp))
        bare = None
        try:
            node.init()
            member = node.cli("account", "create", "ana")
            print(f"seeding {args.statuses:,} statuses by {args.follows:,} accounts", flush=True)
            seeded = await seed(Path(tmp) / "data", member, args.statuses, args.follows,
                                args.seed_limit)
            print(f"seeded in {seeded['seconds']:.0f} s ({seeded['rate']:,.0f} statuses/s "
                  f"through Store.apply; database {seeded['bytes'] / 1e9:.2f} GB); "
                  f"{seeded['checked']:.0f}/{REAL_INGEST} ingest() statuses identical",
                  flush=True)
            await node.start()
            assert node.process is not None
            token = node.cli("token", "create", "ana")
            page_bytes = await check_rendering(node.url, token, args.statuses, args.follows)
            n, count = args.statuses, max(args.requests, 1000)
            newest = requests_for(token, ["limit=20"] * count)
            lo, span = n // 4 + 1, max(1, n // 2)  # max_id anywhere in the middle half
            deep = requests_for(token, [f"limit=20&max_id={lo + j * 7919 % span}"
                                        for j in range(count)])
            pid = node.process.pid
            run_load(node.url, newest[:200] + deep[:200], concurrency=1, server_pid=pid,
                     limit=60, method="GET", ok=200)  # warm-up
            home_seq, home_par = measure(node.url, newest, pid, args)
            deep_seq, deep_par = measure(node.url, deep, pid, args)
            node.stop()
            bare = await start_bare_server(bare_port := free_port())
            assert bare.pid is not None
            bare_seq, bare_par = measure(f"http://127.0.0.1:{bare_port}", newest, bare.pid, args)
        finally:
            node.stop()
            if bare is not None and bare.is_alive():
                bare.terminate()
                bare.join(10)
    print(f"\nhome timeline of a member following {args.follows:,} accounts, "
          f"{args.statuses:,} statuses (sqlite), {args.concurrency} concurrent clients for "
          f"{args.seconds:.0f} s, raw keep-alive client, {os.cpu_count()} cores; "
          f"a page of 20 is {page_bytes / 1e3:.1f} KB\n")
    print(markdown_table(
        ["GET", "p50 ms (1 client)", "p99 ms (1 client)",
         f"req/s ({args.concurrency} clients)", "p50 / p99 ms (concurrent)",
         "ratio to bare", "server / client cores", "others' cores (1 / concurrent)"],
        [row("bare aiohttp, trivial JSON (ceiling)", bare_seq, bare_par, bare_par),
         row("home ?limit=20 (newest page)", home_seq, home_par, bare_par),
         row("home ?limit=20&max_id= (middle half)", deep_seq, deep_par, bare_par)]))
    print("(1 client: sequential requests; cores: CPU-seconds per wall second; others' = "
          "unrelated load on the host, which makes rates unreliable when it is not ~0)")
    p99 = home_seq.percentile(0.99)
    print(f"\ntarget: home p99 < {TARGET_P99 * 1e3:.0f} ms; measured {ms(p99)} ms (1 client) "
          f"-> {'MET' if p99 < TARGET_P99 else 'NOT MET'}; deep pages "
          f"{ms(deep_seq.percentile(0.99))} ms")
    runs = [bare_seq, bare_par, home_seq, home_par, deep_seq, deep_par]
    for res in runs:
        for error, c in res.errors.most_common(5):
            print(f"error x{c}: {error}")
    return 1 if any(r.errors or set(r.statuses) != {200} for r in runs) else 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statuses", type=int, default=1_000_000)
    parser.add_argument("--follows", type=int, default=1000, help="accounts followed")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=2000, help="sequential requests")
    parser.add_argument("--seconds", type=float, default=10.0, help="concurrent phase, s")
    parser.add_argument("--limit", type=float, default=120.0, help="cap per sequential run")
    parser.add_argument("--seed-limit", type=float, default=900.0, help="cap on seeding, s")
    args = parser.parse_args()
    if args.statuses < 200 or args.follows < 2 or args.concurrency < 1 or args.requests < 1:
        parser.error("--statuses >= 200, --follows >= 2, --concurrency and --requests >= 1")
    return args


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
