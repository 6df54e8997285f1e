"""Benchmark: a decision at scale — 100,000 ballots from 100,000 remote members.

Measures, on one ``mutual serve`` process (sqlite):

* ballots accepted per second: Mastodon-shaped votes (``Create(Note)`` with ``name`` and
  ``inReplyTo``), each HTTP-signed by its voter's server, POSTed to the group's inbox
  by a load client in its own process; every one is checked and appended to the
  hash-chained ledger with its evidence;
* the time to close the proposal: read the ledger, tally, sign and store the result,
  and queue its publication to every member's server (run in-process with the node's
  own closing function once the ballots are in, so the timing is not hidden behind
  the job worker's poll);
* the time ``mutual audit`` takes to fetch and verify the whole ledger from the node.

The 100,000 members live on 1,000 hosts (``hNNNN.invalid``: their inboxes do not
resolve, so the group's announcements fail fast and are retried in an hour). They are
seeded straight into the node's database before it starts — actors, keys and accepted
follows — because joining is not what is measured here. Members of one host share an
RSA key (generating 100,000 keys would take an hour); each ballot is still verified
with an RSA signature, as each would be in the field.

    .venv/bin/python bench/decisions.py [--count 100000] [--concurrency 64]

Targets: audit of 100k ballots under 20 s on this 2-core machine, closing under 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from _common import AP, NodeProcess, Prepared, markdown_table, rsa_verify_rate, run_load
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from protocol.httpsig import sign_cavage
from protocol.keys import public_key_to_pem

HOSTS = 1000
KEYS = 100
OPTIONS = ["Agree", "Abstain", "Disagree"]
AUDIT_TARGET = 20.0
CLOSE_TARGET = 5.0


def host(i: int) -> str:
    return f"h{i:04d}.invalid"


def actor_id(j: int, hosts: int) -> str:
    return f"https://{host(j % hosts)}/users/m{j}"


def _generate(_: int) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


_KEYS: list[rsa.RSAPrivateKey] = []


def _load(pems: list[bytes]) -> None:
    for pem in pems:
        key = serialization.load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True)
        assert isinstance(key, rsa.RSAPrivateKey)
        _KEYS.append(key)


async def seed(db: Path, group: str, count: int, hosts: int, pems: list[bytes]) -> None:
    """Remote members, their keys and their accepted follows, straight into the store."""
    from storage.records import ActorRecord, PutActor, PutFollow, PutKey
    from storage.sqlite import open_sqlite

    _load(pems)
    publics = [public_key_to_pem(k.public_key()) for k in _KEYS]
    store = await open_sqlite(db)
    now = time.time()
    try:
        for start in range(0, count, 5000):
            ops: list[Any] = []
            for j in range(start, min(count, start + 5000)):
                who = actor_id(j, hosts)
                h = host(j % hosts)
                doc = {"id": who, "type": "Person", "inbox": f"{who}/inbox",
                       "followers": f"{who}/followers",
                       "endpoints": {"sharedInbox": f"https://{h}/inbox"},
                       "publicKey": {"id": f"{who}#main-key", "owner": who,
                                     "publicKeyPem": publics[j % hosts % KEYS]}}
                ops.append(PutActor(actor=ActorRecord(
                    id=who, local=False, host=h, type="Person", username=f"m{j}",
                    inbox=f"{who}/inbox", shared_inbox=f"https://{h}/inbox",
                    followers=f"{who}/followers", document=json.dumps(doc), fetched_at=now)))
                ops.append(PutKey(key_id=f"{who}#main-key", owner=who,
                                  pem=publics[j % hosts % KEYS], fetched_at=now))
                ops.append(PutFollow(follower=who, followee=group, activity_id=f"{who}#join",
                                     state="accepted", created_at=now))
            await store.apply(ops)
    finally:
        await store.close()


def _sign(job: tuple[str, str, str, int, int, int]) -> list[Prepared]:
    node_url, group, proposal, start, stop, hosts = job
    path = "/groups/garden/inbox"
    out: list[Prepared] = []
    published = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for j in range(start, stop):
        who = actor_id(j, hosts)
        body = json.dumps({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{who}#votes/1/activity", "type": "Create", "actor": who,
            "published": published, "to": group,
            "object": {"id": f"{who}#votes/1", "type": "Note", "name": OPTIONS[j % 3],
                       "attributedTo": who, "inReplyTo": proposal, "to": group},
        }).encode()
        headers = sign_cavage(method="POST", url=node_url + path, body=body,
                              key_id=f"{who}#main-key", private_key=_KEYS[j % hosts % KEYS],
                              now=datetime.now(UTC))
        headers.pop("Host")
        headers["Content-Type"] = AP
        out.append((path, headers, body))
    return out


def sign_ballots(node_url: str, group: str, proposal: str, count: int, hosts: int,
                 pems: list[bytes]) -> list[Prepared]:
    ctx = multiprocessing.get_context("spawn")
    jobs = [(node_url, group, proposal, s, min(count, s + 2000), hosts)
            for s in range(0, count, 2000)]
    with ctx.Pool(os.cpu_count(), initializer=_load, initargs=(pems,)) as pool:
        signed = pool.map(_sign, jobs)
    return [r for chunk in signed for r in chunk]


async def open_proposal(node: NodeProcess, token: str, group: str) -> str:
    end = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": AP}
    question = {"type": "Question", "name": "Build a community solar roof?",
                "oneOf": [{"type": "Note", "name": n} for n in OPTIONS], "endTime": end,
                "decisionRule": "majority", "quorum": 0.5, "to": [group], "audience": group}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{node.url}/users/owner/outbox", json=question,
                                headers=headers) as response:
            assert response.status == 201, await response.text()
        proposal = f"{group}/proposals/1"
        for _ in range(600):
            async with session.get(proposal, headers={"Accept": AP}) as response:
                if response.status == 200:
                    return proposal
            await asyncio.sleep(0.1)
    raise RuntimeError("the proposal did not open")


async def close_in_process(data: Path, proposal: str) -> tuple[float, dict[str, Any]]:
    """Close with the node's own code on its data folder (the node is stopped)."""
    from node.config import load_config
    from node.context import Node
    from node.governance.closing import close_proposal
    from storage.sqlite import open_sqlite

    config = load_config(data)
    store = await open_sqlite(config.database_path)
    async with aiohttp.ClientSession() as session:
        node = Node(config=config, store=store, session=session)
        await node.start()
        started = time.perf_counter()
        closed = await close_proposal(node, proposal)
        seconds = time.perf_counter() - started
        record = await store.get_proposal(proposal)
    await store.close()
    assert closed, "the proposal was already closed"
    assert record is not None
    assert record.result is not None
    return seconds, record.result


async def main(args: argparse.Namespace) -> int:
    count, hosts = args.count, min(HOSTS, args.count)
    with tempfile.TemporaryDirectory(prefix="mutual-bench-") as tmp:
        node = NodeProcess(Path(tmp))
        node.env.update({"MUTUAL_DELIVERY_RETRY_SCHEDULE": "3600",
                         "MUTUAL_INBOX_MAX_BODY_BYTES": "1000000"})
        token = node.init("owner")["owner"]
        group = node.cli("group", "create", "garden", "--owner", "owner")
        print(f"generating {KEYS} keys, seeding {count} members on {hosts} hosts...",
              flush=True)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(os.cpu_count()) as pool:
            pems = pool.map(_generate, range(KEYS))
        await seed(Path(tmp) / "data" / "mutual.db", group, count, hosts, pems)
        await node.start()
        try:
            proposal = await open_proposal(node, token, group)
            print("signing ballots...", flush=True)
            requests = sign_ballots(node.url, group, proposal, count, hosts, pems)
            assert node.process is not None
            print("voting...", flush=True)
            load = run_load(node.url, requests, concurrency=args.concurrency,
                            server_pid=node.process.pid, limit=args.limit)
        finally:
            node.stop()
        refused = {s: n for s, n in load.statuses.items() if s != 202}
        close_seconds, result = await close_in_process(Path(tmp) / "data", proposal)
        await node.start()
        try:
            started = time.perf_counter()
            audit = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "node.cli", "audit", proposal],
                capture_output=True, text=True, timeout=600, check=False)
            audit_seconds = time.perf_counter() - started
        finally:
            node.stop()
    verify = rsa_verify_rate(1.0)
    print()
    print(markdown_table(["measure", "value", "target / ceiling"], [
        ["ballots accepted per second", f"{load.rate:,.0f}",
         f"{count:,} ballots in {load.seconds:.1f} s; p50 {load.percentile(0.5)*1000:.1f} ms,"
         f" p99 {load.percentile(0.99)*1000:.1f} ms"],
        ["close: tally + sign + store + queue", f"{close_seconds:.2f} s",
         f"< {CLOSE_TARGET:.0f} s"],
        ["mutual audit of the full ledger", f"{audit_seconds:.1f} s",
         f"< {AUDIT_TARGET:.0f} s ({'clean' if audit.returncode == 0 else 'NOT CLEAN'})"],
        ["RSA-2048 verify, one core (ceiling)", f"{verify:,.0f}/s",
         f"{count / verify:.1f} s for {count:,} signatures"],
    ]))
    print(f"\nresult: {result['outcome']}, turnout {result['turnout']:,}, "
          f"ledger {result['ledgerSize']:,} entries; refused: {refused or 'none'}")
    if audit.returncode != 0:
        print(audit.stdout[-3000:], audit.stderr[-2000:])
    return 0 if audit.returncode == 0 and not refused else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--limit", type=float, default=900.0,
                        help="wall-clock bound of the voting phase, seconds")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
