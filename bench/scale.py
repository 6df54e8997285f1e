"""Benchmark: scale-out on PostgreSQL against one sqlite process, in the same run.

Why: DESIGN §4 lets a node grow past one process by moving to PostgreSQL and running
``--role web`` and ``--role worker`` processes side by side. What that buys, and what
the move costs a node that stays small, only means something next to the sqlite
single process measured on the same machine at the same time. Three measures:

* inbox: the same signed ``Create(Note)`` requests (bench/inbox.py's, all for one
  node URL, so one signed set serves every configuration) POSTed to one sqlite
  ``serve`` process, then to 1, 2 and 4 ``--role web`` processes on PostgreSQL, the
  load client's keep-alive connections spread over their ports with the node's
  ``Host``, as a proxy sends them; each configuration is a fresh node;
* delivery: one public post to M followers, each behind its own shared inbox on a
  counting peer (bench/scale_delivery.py), drained by the sqlite process, then by 1, 2
  and 4 worker processes on PostgreSQL;
* queue claims: 1, 2 and 4 processes emptying a pre-filled queue, against one sqlite
  process (bench/scale_queue.py), each job checked to be claimed exactly once.

Ratios are to the sqlite single process. CPU is counted for the node's processes and,
on PostgreSQL, for the database server too, which does work that sqlite does inside
the node. A PostgreSQL server is started for the run (tests/support/postgres.py), on
loopback, and removed at the end.

    .venv/bin/python bench/scale.py [--inbox 5000] [--deliveries 5000] [--queue-jobs 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import _repo  # noqa: F401  (puts the repository root on sys.path for tests.support)
import aiohttp
from _common import (
    AP,
    LoadResult,
    NodeProcess,
    Prepared,
    cpu_of,
    free_port,
    markdown_table,
    proc_cpu_seconds,
    run_load,
)
from inbox import actor_documents, generate_pems, inbox_total, prepare, start_peer, warm_up
from scale_delivery import CountingPeer, DeliveryRun, measure_drain, seed_followers
from scale_queue import QueueRun, claim_race

from tests.support.postgres import PgServer, PostgresUnavailable, fresh_database, start_server

PROCESSES = (1, 2, 4)
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def database_cpu(server: PgServer | None) -> float:
    """CPU seconds of the PostgreSQL server so far: the postmaster, its live children
    (one backend per connection), and the children it has reaped (in its cutime and
    cstime), so that a backend that starts or ends inside a window is counted."""
    if server is None:
        return 0.0
    main = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{main}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    total += proc_cpu_seconds(main)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == main:
            total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return total


def meter(nodes: list[NodeProcess], server: PgServer | None) -> Callable[[], float]:
    """A reading of the CPU seconds of ``nodes`` and the database so far."""
    pids = [n.process.pid for n in nodes if n.process is not None]
    return lambda: sum(cpu_of(pids).values()) + database_cpu(server)


async def start_all(processes: list[NodeProcess]) -> None:
    await asyncio.gather(*(p.start() for p in processes))


def stop_all(processes: list[NodeProcess]) -> None:
    for process in processes:
        process.stop()


# -- inbox -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboxRun:
    name: str
    processes: int
    load: LoadResult
    database_cpu: float
    stored: int
    expected: int

    @property
    def cpu_rate(self) -> float:
        cpu = self.load.server_cpu + self.database_cpu
        return self.load.statuses.get(202, 0) / cpu if cpu else 0.0


async def inbox_run(name: str, root: Path, port: int, database: str, processes: int,
                    warm: list[Prepared], timed: list[Prepared], args: argparse.Namespace,
                    server: PgServer | None) -> InboxRun:
    first = NodeProcess(root=root, port=port, database=database,
                        role="web" if database else "all")
    token = (await asyncio.to_thread(first.init, "ana"))["ana"]
    nodes = [first, *(first.sibling("web") for _ in range(processes - 1))]
    try:
        await start_all(nodes)
        warmed = await warm_up(first.url, warm)
        db0 = database_cpu(server)
        load = await asyncio.to_thread(
            run_load, first.url, timed, concurrency=args.concurrency,
            server_pid=[n.process.pid for n in nodes if n.process is not None],
            limit=args.limit, ports=[n.listen or n.port for n in nodes])
        db = database_cpu(server) - db0
        stored = await inbox_total(first.url, token)
    finally:
        stop_all(nodes)
    return InboxRun(name=name, processes=processes, load=load, database_cpu=db,
                    stored=stored, expected=warmed + load.statuses.get(202, 0))


# -- delivery --------------------------------------------------------------------------


async def post_note(url: str, token: str, text: str) -> str:
    """A public post by ana through the C2S outbox; returns the Create's id."""
    doc = {"type": "Note", "content": text, "to": [PUBLIC], "cc": [f"{url}/users/ana/followers"]}
    async with aiohttp.ClientSession() as session, session.post(
            f"{url}/users/ana/outbox", json=doc,
            headers={"Authorization": f"Bearer {token}", "Content-Type": AP}) as response:
        body = await response.json(content_type=None)
        if response.status != 201:
            raise RuntimeError(f"post refused: {response.status} {body}")
        return str(body["id"])


async def delivery_runs(tmp: Path, server: PgServer, peer: CountingPeer,
                        args: argparse.Namespace) -> list[DeliveryRun]:
    runs: list[DeliveryRun] = []
    count = args.deliveries
    posts = iter(range(len(PROCESSES) + 1))
    for database in ("", await fresh_database(server, migrated=True)):
        node = NodeProcess(root=tmp / f"deliver-{'pg' if database else 'sqlite'}",
                           database=database, role="web" if database else "all")
        token = (await asyncio.to_thread(node.init, "ana"))["ana"]
        await seed_followers(database, node.root / "data" / "mutual.db",
                             f"{node.url}/users/ana", peer, count)
        try:
            await node.start()
            for workers in PROCESSES if database else (1,):
                crew = [node.sibling("worker") for _ in range(workers if database else 0)]
                try:
                    await start_all(crew)
                    name = "PostgreSQL, web + workers" if database else "sqlite, one process"
                    text = f"fan-out {next(posts)}"
                    runs.append(await measure_drain(
                        name, workers, functools.partial(post_note, node.url, token, text),
                        peer, count, limit=args.limit,
                        cpu=meter([node, *crew], server if database else None)))
                    print(f"delivery: {name}, {workers} done", flush=True)
                finally:
                    stop_all(crew)
        finally:
            node.stop()
    return runs


# -- the run ---------------------------------------------------------------------------


def ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}" if base else "-"


def print_inbox(runs: list[InboxRun]) -> bool:
    base = runs[0]
    rows = []
    for run in runs:
        load = run.load
        others = max(0.0, load.machine_cpu - load.server_cpu - load.client_cpu
                     - run.database_cpu) / load.seconds
        rows.append([run.name, str(run.processes), f"{load.rate:,.0f}",
                     ratio(load.rate, base.load.rate), f"{run.cpu_rate:,.0f}",
                     ratio(run.cpu_rate, base.cpu_rate),
                     f"{load.percentile(0.5) * 1e3:.0f} / {load.percentile(0.99) * 1e3:.0f}",
                     f"{others:.2f}",
                     "OK" if run.stored == run.expected else f"{run.stored}/{run.expected}"])
    print(markdown_table(["inbox", "web processes", "accepted/s", "ratio", "per CPU-s",
                          "ratio (CPU)", "p50 / p99 ms", "others' cores", "stored"], rows))
    return all(r.stored == r.expected and r.load.statuses.get(202, 0) == r.load.sent
               for r in runs)


def print_delivery(runs: list[DeliveryRun]) -> bool:
    base = runs[0]
    rows = [[run.name, str(run.workers), f"{run.rate:,.0f}", ratio(run.rate, base.rate),
             f"{run.post_to_last:.1f}", f"{run.cpu / max(run.inboxes, 1) * 1e3:.2f}",
             f"{run.others / run.window:.2f}",
             "OK" if (run.inboxes, run.repeats) == (run.expected, 0)
             else f"{run.inboxes}/{run.expected}, {run.repeats} repeats"] for run in runs]
    print(markdown_table(["delivery", "worker processes", "deliveries/s", "ratio",
                          "post to drained s", "CPU ms each", "others' cores",
                          "each inbox once"], rows))
    return all((r.inboxes, r.repeats) == (r.expected, 0) for r in runs)


def print_queue(runs: list[QueueRun]) -> bool:
    base = runs[0]
    rows = [[run.name, str(run.processes), f"{run.jobs:,}", f"{run.rate:,.0f}",
             ratio(run.rate, base.rate), f"{run.cpu / run.jobs * 1e3:.3f}",
             "OK" if (run.repeats, run.missing) == (0, 0)
             else f"{run.repeats} repeats, {run.missing} missing"] for run in runs]
    print(markdown_table(["queue claim + finish", "processes", "jobs", "jobs/s", "ratio",
                          "CPU ms each", "each claimed once"], rows))
    return all((r.repeats, r.missing) == (0, 0) for r in runs)


async def measure(args: argparse.Namespace, server: PgServer, tmp: Path) -> int:
    run = uuid.uuid4().hex[:8]
    actors_port, url_port = free_port(), free_port()
    actors = f"http://127.0.0.1:{actors_port}"
    url = f"http://127.0.0.1:{url_port}"  # every inbox configuration's node URL
    started = time.perf_counter()
    pems = generate_pems(args.actors)
    items = [(i % args.actors, f"{run}-{i}") for i in range(args.inbox)]
    warm_items = [(a, f"{run}-warm-{a}") for a in range(args.actors)]
    signed = prepare(url, f"{url}/users/ana", actors, pems, warm_items + items)
    warm, timed = signed[: args.actors], signed[args.actors:]
    print(f"prepared {len(signed)} signed requests in {time.perf_counter() - started:.1f}s",
          flush=True)
    runner = await start_peer(actors_port, actor_documents(actors, pems))
    peer = CountingPeer()
    await peer.start()
    try:
        inbox = [await inbox_run("sqlite, one process", tmp / "inbox-sqlite", url_port, "",
                                 1, warm, timed, args, None)]
        for n in PROCESSES:
            inbox.append(await inbox_run(
                "PostgreSQL, web processes", tmp / f"inbox-pg-{n}", url_port,
                await fresh_database(server, migrated=True), n, warm, timed, args, server))
            print(f"inbox: PostgreSQL, {n} done", flush=True)
        delivery = await delivery_runs(tmp, server, peer, args)
    finally:
        await peer.close()
        await runner.cleanup()
    queue = [await claim_race("sqlite, one process", "", tmp / "queue.db",
                              jobs=args.queue_jobs, processes=1, limit=args.limit,
                              db_cpu=lambda: 0.0)]
    for n in PROCESSES:
        queue.append(await claim_race(
            "PostgreSQL", await fresh_database(server, migrated=True), tmp / "unused.db",
            jobs=args.queue_jobs, processes=n, limit=args.limit,
            db_cpu=lambda: database_cpu(server)))

    cores = os.cpu_count() or 1
    print(f"\n{args.inbox} signed Create(Note) at {args.concurrency} in flight; one post to "
          f"{args.deliveries} shared inboxes; {args.queue_jobs:,} queued jobs; "
          f"{cores} cores\n")
    ok = print_inbox(inbox)
    print()
    ok = print_delivery(delivery) and ok
    print()
    ok = print_queue(queue) and ok
    print(f"\nratio: to the sqlite single process. per CPU-s and CPU ms: the node's "
          f"processes plus, on PostgreSQL, the database server. others' cores: load from "
          f"processes outside the node and its database (this bench's load client and peer "
          f"included), which makes wall-clock rates move.\nThis machine has {cores} "
          f"cores: more than {cores} busy processes cannot add throughput here, so the "
          f"rows past {cores} processes show what extra processes cost on a full machine, "
          f"not what they would give on a larger one.")
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inbox", type=int, default=5000, help="signed activities per run")
    parser.add_argument("--deliveries", type=int, default=5000, help="followers of the post")
    parser.add_argument("--queue-jobs", type=int, default=20_000, help="jobs per claim run")
    parser.add_argument("--concurrency", type=int, default=64, help="inbox requests in flight")
    parser.add_argument("--actors", type=int, default=20, help="remote actors (keys)")
    parser.add_argument("--limit", type=float, default=120.0, help="wall-clock cap per run, s")
    args = parser.parse_args()
    if min(args.inbox, args.deliveries, args.queue_jobs, args.concurrency, args.actors) < 2:
        parser.error("every count must be at least 2")
    return args


async def main(args: argparse.Namespace) -> int:
    try:
        server = start_server()
    except PostgresUnavailable as exc:
        print(f"no PostgreSQL server for the benchmark: {exc}")
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="mutual-scale-") as tmp:
            return await measure(args, server, Path(tmp))
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
