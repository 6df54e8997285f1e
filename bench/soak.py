"""Soak: three real nodes exchange an hour-equivalent of community traffic, with junk.

Three ``mutual serve`` processes on loopback (``tests/support/nodes.py``), each with
several members, federate for a bounded number of operations at a steady rate: public
and followers-only posts, replies, likes, boosts, posts to a group on node ``a`` whose
members are on all three nodes and on a fake remote server, follows and unfollows,
proposals opened in the group and closing during the run, and votes of three shapes
(members' Mutual ballots through C2S, stock-Mastodon votes, signed ballots from the
peer). A fifth of the operations are junk (``bench/soak_junk.py``): unsigned, badly
signed, tampered, malformed, oversized, about another host's objects, forged,
non-member votes, replays.

At the end the soak waits (boundedly) for the delivery queues to drain and the last
proposals to close, reads each node's memory, stops the nodes and reads their stores:
every legitimate activity present exactly once on every node that should have it,
followers-only posts nowhere else, no junk anywhere, every ballot once in the ledger,
every proposal closed with one result matching the ballots (``bench/soak_check.py``).
A failed invariant makes the exit status 1.

What "hour-equivalent" assumes: a busy community of 1,000 active members on three
nodes, each doing ~16 things in its busiest hour (posts, replies, likes, boosts, votes,
follows): ~16,000 legitimate activities, plus a quarter as much hostile or broken
traffic (~4,000), i.e. the default 20,000 operations. The soak plays that hour's
*volume* with 5 members per node (15 posting accounts, 32 remote voters), compressed in
time (40 operations/s: ~8 minutes). Fan-out between the nodes is what it would be with
1,000 members: with shared inboxes a post reaches each other node once, whoever follows
it there. The group opens more, smaller proposals than a real one would (a couple per
minute, ~38 voters each) so that proposals close during any run.

    .venv/bin/python bench/soak.py [--ops 20000] [--seconds 600] [--rate 40]
    .venv/bin/python bench/soak.py --ops 500          # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
import aiohttp
from _common import markdown_table
from soak_check import Report, check
from soak_junk import KINDS, Junk
from soak_traffic import WEIGHTS, Stats, Traffic, run_paced
from soak_votes import Votes
from soak_world import GROUP_NODE, Expect, World, build_world, read_db, rss_kib, settle

NODE_ENV = {
    "MUTUAL_GOVERNANCE_COUNTS_INTERVAL": "5",  # live counts every 5 s, not 180 s
    "MUTUAL_LOG_LEVEL": "WARNING",
}


def db_kib(world: World, node: str) -> int:
    """The node's database with its write-ahead log, KiB."""
    files = [world.db(node), world.db(node).with_name("mutual.db-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) // 1024


async def drain(world: World, expect: Expect, limit: float) -> float:
    """Wait until every proposal has closed and no delivery is queued on any node;
    bounded by ``limit`` seconds after the last proposal's end. Returns seconds waited."""
    started = time.monotonic()
    last_end = max(expect.proposals.values(), default=0.0)
    deadline = started + max(0.0, last_end - time.time()) + limit
    while time.monotonic() < deadline:
        open_ = read_db(world.db(GROUP_NODE),
                        "SELECT COUNT(*) FROM proposals WHERE state = 'open'")[0][0]
        queued = sum(read_db(world.db(n), "SELECT COUNT(*) FROM jobs WHERE state = 'queued'"
                             " AND kind = 'deliver'")[0][0] for n in world.nodes)
        if open_ == 0 and queued == 0:
            # One more look after the pollers' interval: a job may be mid-flight.
            await asyncio.sleep(1.0)
            if all(read_db(world.db(n), "SELECT COUNT(*) FROM jobs WHERE state = 'queued'"
                           " AND kind = 'deliver'")[0][0] == 0 for n in world.nodes):
                break
        await asyncio.sleep(0.5)
    return time.monotonic() - started


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f}"


def ops_table(stats: Stats) -> str:
    order = [k for k in WEIGHTS if k != "junk"] + ["propose (Question to the group)"]
    order += [f"junk: {k}" for k in KINDS]
    rows = []
    for kind in order:
        entry = stats.kinds.get(kind)
        if entry is None:
            continue
        new = sum(n for a, n in entry.answers.items() if a in ("201", "202"))
        dup = entry.answers.get("202 dup", 0)
        other = ", ".join(f"{a} x{n}" for a, n in sorted(entry.answers.items())
                          if a not in ("201", "202", "202 dup")) or "-"
        rows.append([kind, str(entry.sent), str(new), str(dup), other,
                     f"{_ms(entry.latencies, 0.5)} / {_ms(entry.latencies, 0.99)}"])
    total = sum(e.sent for e in stats.kinds.values())
    rows.append(["**all**", f"**{total}**", "", "", "", ""])
    return markdown_table(["operation", "sent", "accepted", "duplicate (202)",
                           "refused / other, by status", "p50 / p99 ms"], rows)


def nodes_table(report: Report, rss: dict[str, tuple[int, int]]) -> str:
    rows = []
    for name, node in report.nodes.items():
        start, end = rss[name]
        rows.append([name, str(node.expected), str(node.found),
                     str(node.expected - node.found), str(node.duplicates), str(node.leaked),
                     str(node.junk), f"{node.queued} / {sum(node.dead.values())}",
                     f"{start / 1024:.1f}", f"{end / 1024:.1f}",
                     f"{(end - start) / 1024:+.1f} ({(end - start) / start:+.1%})"])
    return markdown_table(["node", "legit expected", "found", "missing", "duplicates",
                           "leaked", "junk found", "deliveries queued / dead",
                           "RSS start MB", "RSS end MB", "RSS growth MB"], rows)


async def soak(args: argparse.Namespace, root: Path) -> int:
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        t0 = time.monotonic()
        world = await build_world(root, session, members=args.members, voters=args.voters,
                                  signers=args.signers, env=NODE_ENV)
        expect, stats = Expect(), Stats()
        try:
            await settle(world, expect)
            setup = time.monotonic() - t0
            print(f"setup: 3 nodes, {len(world.people)} members, {len(world.voters)} "
                  f"Mastodon voters + {len(world.signers)} signing voters in the group, "
                  f"{len(world.stable)} lasting follows ({setup:.0f} s)", flush=True)
            traffic = Traffic(world, expect, stats, seed=args.seed)
            expected_run = min(args.ops / args.rate, args.seconds)
            duration = args.proposal_seconds or min(300.0, max(20.0, expected_run / 5))
            traffic.votes = Votes(traffic, duration=duration)
            traffic.junk = Junk(traffic, max_body=1_000_000)
            warmup = min(500, args.ops // 10)
            rss_start: dict[str, int] = {}
            samples: dict[str, list[tuple[int, int]]] = {n: [] for n in world.nodes}

            def at(i: int) -> None:
                if i == warmup:
                    rss_start.update({n: rss_kib(node) for n, node in world.nodes.items()})
                if i % max(1, args.ops // 10) == 0:
                    for n, node in world.nodes.items():
                        samples[n].append((rss_kib(node), db_kib(world, n)))
                if len(world.peer.received) > 2000:
                    world.peer.received.clear()  # the peer's log of what it was sent

            stop = asyncio.Event()
            proposer = asyncio.create_task(traffic.votes.proposer(stop))
            started = time.monotonic()
            sent = await run_paced(traffic.pick, stats, ops=args.ops, seconds=args.seconds,
                                   rate=args.rate, concurrency=args.concurrency, at=at)
            stop.set()
            await asyncio.wait_for(proposer, timeout=60)
            run_seconds = time.monotonic() - started
            print(f"mix: {sent} operations in {run_seconds:.0f} s; draining...", flush=True)
            drained = await drain(world, expect, args.drain_seconds)
            rss_end = {n: rss_kib(node) for n, node in world.nodes.items()}
            for n in world.nodes:
                samples[n].append((rss_end[n], db_kib(world, n)))
            if not rss_start:
                rss_start = {n: s[0][0] for n, s in samples.items()}
        finally:
            for node in world.nodes.values():
                node.stop()
            await world.peer.close()
        report = check(world, expect)
    rss = {n: (rss_start[n], rss_end[n]) for n in world.nodes}
    return present(args, stats, report, rss, samples, traffic.votes,
                   sent=sent, run_seconds=run_seconds, drained=drained, warmup=warmup)


def present(args: argparse.Namespace, stats: Stats, report: Report,
            rss: dict[str, tuple[int, int]], samples: dict[str, list[tuple[int, int]]],
            votes: Votes,
            *, sent: int, run_seconds: float, drained: float, warmup: int) -> int:
    """Print the tables; the exit status: 1 when any invariant failed."""
    problems = list(report.problems) + [f"legitimate op refused: {f}" for f in stats.failures]
    problems += votes.failures
    junk_accepted = sum(e.answers.get("202", 0) for k, e in stats.kinds.items()
                        if k.startswith("junk"))
    if junk_accepted:
        problems.append(f"{junk_accepted} junk requests were accepted (202)")
    for name, (start, end) in rss.items():
        if end - start > args.rss_growth_mb * 1024:
            problems.append(f"{name}: RSS grew {(end - start) / 1024:.0f} MB "
                            f"(limit {args.rss_growth_mb} MB)")
    print()
    print(ops_table(stats))
    print()
    print(nodes_table(report, rss))
    print()
    print(markdown_table(["decisions", "value"], [
        ["proposals opened / closed with exactly one result",
         f"{len(votes.proposals)} / {report.proposals_closed}"],
        ["ballots accepted / in the ledger exactly once",
         f"{report.ballots_expected} / {report.ballots_found}"],
        ["refused ballots logged (non-members, by design)", str(report.refusals_logged)],
        ["C2S votes retried (proposal not yet delivered)", str(stats.retries)],
    ]))
    print()
    print(f"{sent} operations in {run_seconds:.0f} s ({sent / run_seconds:.1f}/s; "
          f"{sent / 20_000:.0%} of the assumed hour), drained in {drained:.0f} s; "
          f"RSS start after {warmup} warm-up operations")
    print("RSS of each node every tenth of the run, and the size of its database (MB; "
          "sqlite's page caches, up to 36 MB a node, grow with the database):")
    for name, values in samples.items():
        print(f"  {name}: RSS " + " ".join(f"{r / 1024:.0f}" for r, _ in values)
              + " | db " + " ".join(f"{d / 1024:.0f}" for _, d in values))
    if problems:
        print(f"\nINVARIANTS FAILED ({len(problems)}):")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("\nall invariants held")
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ops", type=int, default=20_000, help="operations to send")
    parser.add_argument("--seconds", type=float, default=600.0,
                        help="wall-clock bound of the mix (setup and drain are apart)")
    parser.add_argument("--rate", type=float, default=40.0, help="operations per second")
    parser.add_argument("--concurrency", type=int, default=16, help="operations in flight")
    parser.add_argument("--members", type=int, default=5, help="members per node (>= 4)")
    parser.add_argument("--voters", type=int, default=24, help="Mastodon-shaped voters")
    parser.add_argument("--signers", type=int, default=8, help="voters signing ballots")
    parser.add_argument("--proposal-seconds", type=float, default=0.0,
                        help="how long each proposal is open (default: a fifth of the run)")
    parser.add_argument("--drain-seconds", type=float, default=180.0,
                        help="bound on waiting for the queues after the last proposal ends")
    parser.add_argument("--rss-growth-mb", type=float, default=64.0,
                        help="RSS growth of a node past which memory is not flat (sqlite's"
                             " page caches alone take up to 36 MB as the database grows)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the data folders and node logs in this (new) folder")
    args = parser.parse_args()
    if args.members < 4:
        parser.error("--members must be at least 4 (regulars, a churner, a quiet member)")
    return args


async def main() -> int:
    args = parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True)
        return await soak(args, args.keep.resolve())
    with tempfile.TemporaryDirectory(prefix="mutual-soak-") as tmp:
        return await soak(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
