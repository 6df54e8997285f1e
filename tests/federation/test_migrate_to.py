"""Moving a living node from sqlite to PostgreSQL (`mutual migrate-to`).

A node with posts, follows, a group and a closed proposal is stopped, moved, and
started again on PostgreSQL: it must serve the same documents at the same URLs with
the same keys, its decision must still audit clean, and it must go on federating.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tomllib
from typing import Any

import pytest

from tests.federation.test_decisions import audit, iso_in, join, proposal_in_inbox
from tests.support.nodes import Cluster, MutualNode, eventually, mutual
from tests.support.postgres import PgServer, fresh_database

pytestmark = pytest.mark.federation


async def snapshot(node: MutualNode, urls: list[str]) -> dict[str, Any]:
    """What a remote server sees of ``node``: each document as served."""
    documents: dict[str, Any] = {}
    for url in urls:
        status, doc = await node.get(url)
        assert status == 200, (url, status, doc)
        documents[url] = doc
    return documents


def row_counts(path: str) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


async def test_a_node_moved_to_postgresql_serves_the_same_data_and_audits_clean(
        cluster: Cluster, pg_server: PgServer) -> None:
    a = await cluster.node("a")
    b = await cluster.node("b")
    ana, bo = a.member("ana"), b.member("bo")
    group_id = a.cli("group", "create", "garden", "--owner", "ana")

    # History on the sqlite node: a follow, a post with a reply, a decided proposal.
    await bo.post({"type": "Follow", "object": ana.actor_id})
    await eventually(lambda: _lists(a, f"{ana.actor_id}/followers", bo.actor_id))
    note = await ana.post({"type": "Note", "content": "Seed swap on Saturday"})
    post_url = note["object"]["id"]
    await eventually(lambda: _has_post(bo, post_url))
    await bo.post({"type": "Note", "content": "Count me in", "inReplyTo": post_url,
                   "to": ["https://www.w3.org/ns/activitystreams#Public"],
                   "cc": [ana.actor_id]})

    async def replied() -> bool:
        _, doc = await a.get(post_url)
        return doc["replies"]["totalItems"] == 1

    await eventually(replied)
    await join(bo, group_id, a)
    await ana.post({"type": "Question", "name": "Open the garden on Sundays?",
                    "oneOf": [{"type": "Note", "name": n} for n in ("Yes", "No")],
                    "endTime": iso_in(5), "decisionRule": "majority",
                    "to": [group_id], "audience": group_id})
    question = await eventually(lambda: proposal_in_inbox(bo))
    proposal = question["id"]
    for member, choice in ((ana, "Yes"), (bo, "Yes")):
        await member.post({"type": "Note", "name": choice, "inReplyTo": proposal})

    async def closed() -> dict[str, Any] | None:
        _, doc = await a.get(proposal)
        return doc if isinstance(doc, dict) and doc.get("closed") else None

    assert (await eventually(closed, within=30))["result"]["outcome"] == "adopted"
    urls = [ana.actor_id, post_url, f"{ana.actor_id}/outbox?page=true",
            f"{ana.actor_id}/followers?page=true", group_id,
            f"{group_id}/followers?page=true", proposal, f"{proposal}/ballots?page=true"]
    before = await snapshot(a, urls)
    a.stop()
    counts = row_counts(str(a.data / "mutual.db"))

    # The move.
    dsn = await fresh_database(pg_server)
    report = await asyncio.to_thread(a.cli, "migrate-to", dsn)
    moved = {line.split("\t")[0]: int(line.split("\t")[2]) for line in report.splitlines()}
    assert moved["activities"] > 0
    assert moved["ledger"] == 2
    assert moved["accounts"] >= 3
    assert {t: n for t, n in counts.items() if t in moved} == moved
    config = tomllib.loads((a.data / "config.toml").read_text())
    assert config["server"]["database"] == dsn
    await a.start()

    # Same documents, same URLs, same keys; the decision still audits clean.
    after = await snapshot(a, urls)
    assert after == before
    assert after[ana.actor_id]["publicKey"] == before[ana.actor_id]["publicKey"]
    outcome = await asyncio.to_thread(audit, proposal)
    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    assert "VERDICT: CLEAN" in outcome.stdout

    # And it goes on federating from PostgreSQL, signed with the same key.
    later = await ana.post({"type": "Note", "content": "Now on PostgreSQL"})
    await eventually(lambda: _has_post(bo, later["object"]["id"]))

    # A second move into the same (now non-empty) database is refused; nothing changes.
    c = await cluster.node("c", start=False)
    c.cli("account", "create", "cy")
    with pytest.raises(RuntimeError, match="not empty"):
        await asyncio.to_thread(c.cli, "migrate-to", dsn)
    assert tomllib.loads((c.data / "config.toml").read_text())["server"]["database"] != dsn
    assert await snapshot(a, urls[:1]) == {urls[0]: before[urls[0]]}


async def _lists(node: MutualNode, collection: str, actor: str) -> bool:
    return actor in await node.collection(collection)


async def _has_post(member: Any, object_id: str) -> bool:
    return any(isinstance(item.get("object"), dict) and item["object"].get("id") == object_id
               for item in await member.inbox())


def test_migrate_to_refuses_a_non_postgresql_target(tmp_path: Any) -> None:
    mutual(tmp_path / "n", "init", "--url", "http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="postgresql://"):
        mutual(tmp_path / "n", "migrate-to", "mysql://nope")
