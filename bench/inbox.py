"""Benchmark: signed Create(Note) activities accepted and stored per second by one node.

Why this shape: the inbox is bound by HTTP handling, parsing, one RSA verify and database
round trips (DESIGN §7), so its rate only means something next to what the same machine
does with no application at all. In one run this measures

* the bare aiohttp rate: a server that reads the body, parses the JSON and answers 202,
  hit with the same bodies, headers and concurrency (the ceiling for any aiohttp inbox);
* the raw RSA-2048 verify rate on one core (the ceiling for the crypto alone);
* two floors for any inbox (bench/_verifying.py, none of the node's code): bare aiohttp
  plus the digest and RSA signature check, and that plus the body stored in sqlite
  before the 202; with the microseconds each activity's shape check and HTML
  sanitising take, they show how much of the target's budget is left for the rest;
* a real ``mutual serve`` process receiving Create(Note) activities addressed to a
  member, each signed (draft-cavage, as Mastodon signs) by one of 50 remote actors
  served by a small peer app in this process, and checks afterwards that every
  accepted activity is in the member's inbox collection.

Signing (~1 ms each) happens before timing, in a process pool; one warm-up activity per
remote actor makes the node fetch and cache every key before the timed window. The load
client runs in its own process and sends prebuilt bytes on keep-alive connections: cheap
enough not to be the bottleneck, and able to send the node's Host to the floors' own
port. Target: the node at >= 40% of the bare aiohttp rate.

    .venv/bin/python bench/inbox.py --count 5000 [--concurrency 64] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import pstats
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    AP,
    LoadResult,
    NodeProcess,
    Prepared,
    free_port,
    markdown_table,
    rsa_verify_rate,
    run_load,
    start_bare_server,
)
from _verifying import per_activity_costs, start_verifying_server
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from protocol.httpsig import sign_cavage

TARGET = 0.40
BARE_MIN = 20_000
CONTEXT = ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"]
FILLER = ("Cooperatives share what they make and decide together what to do next. " * 14)


# -- the remote peer: actors with their own keys ---------------------------------------


def _generate_pem(_: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate_pems(count: int) -> list[bytes]:
    """``count`` RSA-2048 private keys (PEM), made in a process pool (~0.1 s each)."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(os.cpu_count()) as pool:
        return pool.map(_generate_pem, range(count))


def actor_documents(peer: str, pems: list[bytes]) -> list[dict[str, Any]]:
    """The remote actors' documents, actor ``a<i>`` holding the key ``pems[i]``."""
    public = [serialization.load_pem_private_key(p, None, unsafe_skip_rsa_key_validation=True)
              .public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
              .decode() for p in pems]
    return [actor_document(peer, i, pem) for i, pem in enumerate(public)]


def actor_document(peer: str, index: int, public_pem: str) -> dict[str, Any]:
    actor = f"{peer}/actors/a{index}"
    return {
        "@context": CONTEXT, "id": actor, "type": "Person", "preferredUsername": f"a{index}",
        "inbox": f"{actor}/inbox", "outbox": f"{actor}/outbox",
        "followers": f"{actor}/followers", "following": f"{actor}/following",
        "publicKey": {"id": f"{actor}#main-key", "owner": actor, "publicKeyPem": public_pem},
    }


async def start_peer(port: int, documents: list[dict[str, Any]]) -> web.AppRunner:
    """Serves the actor documents; the node fetches each once, on the warm-up."""
    by_name = {doc["preferredUsername"]: json.dumps(doc) for doc in documents}

    async def actor(request: web.Request) -> web.Response:
        body = by_name.get(request.match_info["name"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(text=body, content_type=AP)

    app = web.Application()
    app.router.add_get("/actors/{name}", actor)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


# -- signing, in a process pool --------------------------------------------------------

_KEYS: list[rsa.RSAPrivateKey] = []


def _load_keys(pems: list[bytes]) -> None:
    # We generated these keys ourselves: skipping validation makes loading ~1000x cheaper.
    for pem in pems:
        key = serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        _KEYS.append(key)


def create_note(peer: str, recipient: str, actor_index: int, ident: str) -> bytes:
    """A Mastodon-shaped Create(Note) of ~1.5 KB, addressed to ``recipient`` only."""
    actor = f"{peer}/actors/a{actor_index}"
    published = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    note = {
        "id": f"{actor}/notes/{ident}", "type": "Note", "attributedTo": actor,
        "to": [recipient], "cc": [], "published": published, "sensitive": False,
        "url": f"{actor}/notes/{ident}", "inReplyTo": None,
        "content": f"<p>Note {ident}. {FILLER}</p>",
        "tag": [{"type": "Mention", "href": recipient, "name": "@ana"}],
    }
    return json.dumps({
        "@context": CONTEXT, "id": f"{actor}/activities/{ident}", "type": "Create",
        "actor": actor, "published": published, "to": [recipient], "cc": [], "object": note,
    }).encode()


def _sign_chunk(job: tuple[str, str, str, list[tuple[int, str]]]) -> list[Prepared]:
    node_url, recipient, peer, items = job
    path = "/users/ana/inbox"
    out: list[Prepared] = []
    for actor_index, ident in items:
        body = create_note(peer, recipient, actor_index, ident)
        headers = sign_cavage(
            method="POST", url=node_url + path, body=body,
            key_id=f"{peer}/actors/a{actor_index}#main-key",
            private_key=_KEYS[actor_index], now=datetime.now(UTC))
        headers.pop("Host")  # aiohttp sends the same Host from the URL
        headers["Content-Type"] = AP
        out.append((path, headers, body))
    return out


def prepare(node_url: str, recipient: str, peer: str, pems: list[bytes],
            items: list[tuple[int, str]]) -> list[Prepared]:
    chunks = [items[i:i + 200] for i in range(0, len(items), 200)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(os.cpu_count(), initializer=_load_keys, initargs=(pems,)) as pool:
        signed = pool.map(_sign_chunk, [(node_url, recipient, peer, c) for c in chunks])
    return [request for chunk in signed for request in chunk]


# -- the run ------------------------------------------------------------------------------


async def warm_up(node_url: str, requests: list[Prepared]) -> int:
    """One activity per remote actor, so key and actor fetches are out of the timed run."""
    accepted = 0
    async with aiohttp.ClientSession() as session:
        for path, headers, body in requests:
            async with session.post(node_url + path, data=body, headers=headers) as response:
                text = await response.text()
                if response.status != 202:
                    raise RuntimeError(f"warm-up refused: {response.status} {text[:300]}")
                accepted += 1
    return accepted


async def inbox_total(node_url: str, token: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(
        f"{node_url}/users/ana/inbox",
        headers={"Accept": AP, "Authorization": f"Bearer {token}"},
    ) as response:
        doc = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"inbox read failed: {response.status} {doc}")
        return int(doc["totalItems"])


def describe(name: str, result: LoadResult) -> list[str]:
    others = {s: n for s, n in result.statuses.items() if s != 202}
    rest = result.machine_cpu - result.server_cpu - result.client_cpu
    return [name, str(result.sent), str(result.statuses.get(202, 0)), str(others or "-"),
            f"{result.seconds:.2f}", f"{result.percentile(0.5) * 1e3:.1f}",
            f"{result.percentile(0.99) * 1e3:.1f}",
            f"{result.server_cpu / result.seconds:.2f}",
            f"{result.client_cpu / result.seconds:.2f}", f"{max(rest, 0) / result.seconds:.2f}"]


async def main(args: argparse.Namespace) -> int:
    run = uuid.uuid4().hex[:8]
    peer_port = free_port()
    peer = f"http://127.0.0.1:{peer_port}"
    with tempfile.TemporaryDirectory(prefix="mutual-bench-") as tmp:
        root = Path(tmp)
        node = NodeProcess(root=root, profile=args.profile.resolve() if args.profile else None)
        bare_port, verify_port = free_port(), free_port()
        runner: web.AppRunner | None = None
        bare = verifier = None
        try:
            token = node.init("ana")["ana"]
            recipient = f"{node.url}/users/ana"
            started = time.perf_counter()
            pems = generate_pems(args.actors)
            items = [(i % args.actors, f"{run}-{i}") for i in range(args.count)]
            warm_items = [(a, f"{run}-warm-{a}") for a in range(args.actors)]
            signed = prepare(node.url, recipient, peer, pems, warm_items + items)
            warm, timed = signed[: args.actors], signed[args.actors:]
            print(f"prepared {len(signed)} signed requests "
                  f"({sum(len(b) for _, _, b in timed) // len(timed)} B bodies on average) "
                  f"in {time.perf_counter() - started:.1f}s", flush=True)

            documents = actor_documents(peer, pems)
            runner = await start_peer(peer_port, documents)

            verify = rsa_verify_rate(2.0)
            verify_threads = rsa_verify_rate(2.0, threads=2)

            bare = await start_bare_server(bare_port)
            assert bare.pid is not None
            # Stateless, so cheap to repeat: the best of three rounds is the ceiling, which
            # keeps a burst of unrelated load on a shared machine from lowering it. In a
            # thread, so that this loop keeps serving the peer's actor documents.
            # Each round sends the same bodies, repeated to >= BARE_MIN requests, so that a
            # round lasts long enough for its CPU accounting (10 ms ticks) to mean something.
            bare_requests = timed * -(-BARE_MIN // len(timed))
            rounds = [await asyncio.to_thread(
                run_load, f"http://127.0.0.1:{bare_port}", bare_requests,
                concurrency=args.concurrency, server_pid=bare.pid, limit=args.limit)
                for _ in range(3)]
            ceiling = max(rounds, key=lambda r: r.rate)
            bare.terminate()
            bare.join(10)

            # The least an inbox must do, without the node's code: the signature checked,
            # then also the body stored. On their own port but with the node's Host,
            # which the signatures cover.
            keys = {doc["publicKey"]["id"]: doc["publicKey"]["publicKeyPem"]
                    for doc in documents}
            floors = []
            for stored in (False, True):
                # The best of three rounds, as for the bare ceiling, each round on a
                # server of its own (and, storing, a new database): a generous floor
                # leaves the target as much room as this machine can give it.
                rounds = []
                for index in range(3):
                    database = str(root / f"floor-{index}.sqlite") if stored else None
                    verifier = await start_verifying_server(verify_port, keys, database)
                    assert verifier.pid is not None
                    rounds.append(await asyncio.to_thread(
                        run_load, node.url, bare_requests, concurrency=args.concurrency,
                        server_pid=verifier.pid, limit=args.limit, ports=[verify_port]))
                    verifier.terminate()
                    verifier.join(10)
                floors.append(max(rounds, key=lambda r: r.rate))
            floor, stored_floor = floors

            await node.start()
            assert node.process is not None
            warmed = await warm_up(node.url, warm)
            result = await asyncio.to_thread(
                run_load, node.url, timed, concurrency=args.concurrency,
                server_pid=node.process.pid, limit=args.limit)
            stored = await inbox_total(node.url, token)
        finally:
            node.stop()
            for server in (bare, verifier):
                if server is not None and server.is_alive():
                    server.kill()
            if runner is not None:
                await runner.cleanup()

        accepted = result.statuses.get(202, 0)
        ratio = result.rate / ceiling.rate if ceiling.rate else 0.0
        cpu_ratio = result.cpu_rate / ceiling.cpu_rate if ceiling.cpu_rate else 0.0
        print(f"\n{args.count} signed Create(Note), {args.concurrency} in flight, "
              f"{args.actors} remote actors, {os.cpu_count()} cores\n")
        print(markdown_table(
            ["measure", "per second", "ratio to bare aiohttp", "per server CPU-second",
             "ratio (CPU)"], [
                ["bare aiohttp JSON POST (read + json.loads + 202)", f"{ceiling.rate:,.0f}",
                 "1.00", f"{ceiling.cpu_rate:,.0f}", "1.00"],
                ["bare aiohttp + digest + RSA signature check (nothing stored)",
                 f"{floor.rate:,.0f}", f"{floor.rate / ceiling.rate:.2f}",
                 f"{floor.cpu_rate:,.0f}", f"{floor.cpu_rate / ceiling.cpu_rate:.2f}"],
                ["bare aiohttp + digest + RSA signature check + body stored in sqlite",
                 f"{stored_floor.rate:,.0f}", f"{stored_floor.rate / ceiling.rate:.2f}",
                 f"{stored_floor.cpu_rate:,.0f}",
                 f"{stored_floor.cpu_rate / ceiling.cpu_rate:.2f}"],
                ["Mutual inbox: signed Create(Note) accepted + stored", f"{result.rate:,.0f}",
                 f"{ratio:.2f}", f"{result.cpu_rate:,.0f}", f"{cpu_ratio:.2f}"],
                ["RSA-2048 PKCS1v15-SHA256 verify, one core", f"{verify:,.0f}",
                 f"{verify / ceiling.rate:.2f}", f"{verify:,.0f}",
                 f"{verify / ceiling.cpu_rate:.2f}"],
                ["RSA-2048 verify, two threads of one process", f"{verify_threads:,.0f}",
                 f"{verify_threads / ceiling.rate:.2f}", "-", "-"],
            ]))
        allowed, least = 1e6 / (TARGET * ceiling.rate), 1e6 / stored_floor.rate
        costs = per_activity_costs(timed[0][2])
        print("\nwall-clock microseconds per activity:\n")
        print(markdown_table(["", "µs"], [
            [f"what {TARGET:.0%} of bare aiohttp allows", f"{allowed:.1f}"],
            ["taken by the least server that checks the signature and stores the body",
             f"{least:.1f}"],
            ["left for everything else an inbox must do", f"{allowed - least:.1f}"],
            ["of which: the ActivityStreams shape check (one core)", f"{costs['shape']:.1f}"],
            ["of which: sanitising the post's HTML (one core)", f"{costs['sanitise']:.1f}"],
            ["taken by the Mutual node", f"{1e6 / result.rate:.1f}"],
        ]))
        print(f"\ntarget: >= {TARGET:.0%} of bare aiohttp; measured {ratio:.1%} wall-clock "
              f"({ratio / TARGET:.0%} of target -> {'MET' if ratio >= TARGET else 'NOT MET'}), "
              f"{cpu_ratio:.1%} per server CPU-second\n")
        print(markdown_table(
            ["run", "sent", "202", "other", "wall s", "p50 ms", "p99 ms", "server cores",
             "client cores", "others' cores"],
            [describe("bare aiohttp", ceiling), describe("bare + signature check", floor),
             describe("bare + signature + stored", stored_floor),
             describe("Mutual node", result)]))
        print("(cores = CPU-seconds per wall second; others' = load from unrelated processes,"
              " which makes wall-clock rates unreliable when it is not ~0)")
        expected = warmed + accepted
        verdict = "OK" if stored == expected else "MISMATCH"
        print(f"\nstorage: ana's inbox totalItems={stored}, expected {expected} "
              f"({warmed} warm-up + {accepted} timed) -> {verdict}")
        for label, res in (("bare", ceiling), ("bare + signature", floor),
                           ("bare + signature + stored", stored_floor), ("node", result)):
            for error, n in res.errors.most_common(10):
                print(f"{label} error x{n}: {error}")
        if args.profile:
            print(f"\nnode profile ({args.profile}; rates above are slowed by cProfile):")
            stats = pstats.Stats(str(args.profile))
            stats.sort_stats("cumulative").print_stats(35)
            stats.sort_stats("tottime").print_stats(25)
        if stored != expected or accepted != len(timed):
            print(f"node log: {node.log_path.read_text()[-2000:]}")
            return 1
        return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=5000, help="timed activities")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--actors", type=int, default=50, help="remote actors (keys)")
    parser.add_argument("--limit", type=float, default=120.0, help="wall-clock cap per run, s")
    parser.add_argument("--profile", type=Path, help="run the node under cProfile, to FILE")
    args = parser.parse_args()
    if args.count < 1 or args.actors < 1 or args.concurrency < 1:
        parser.error("--count, --actors and --concurrency must be positive")
    return args


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
