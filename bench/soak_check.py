"""The soak's end checks: each node's sqlite store read directly, after the node stopped.

Reading the stores (not the HTTP collections) is exact and cheap: every row is seen,
including those no API shows (a tombstone, a dead delivery job, a ledger entry twice).
Per node it finds, for the activities and posts that node must hold, which are missing
or stored twice; which followers-only posts leaked to a node that must not hold them;
any trace of the junk; follows that the two ends disagree on; follow counts that drifted
from the rows; and, for the group's node, every ballot in the ledger exactly once and
every closed proposal with exactly one result whose tally matches the ballots sent.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from soak_junk import JUNK
from soak_world import GROUP_NODE, Expect, World, read_db

__all__ = ["NodeReport", "Report", "check"]


@dataclass
class NodeReport:
    expected: int = 0  # legitimate activities, posts and reactions this node must hold
    found: int = 0
    # Extra copies: of an activity, of a post's status, of a ballot in the ledger, of a
    # proposal's closing Update or result note. (Activities, posts and statuses have
    # unique keys in the schema; the ledger and the group's publications do not.)
    duplicates: int = 0
    leaked: int = 0  # followers-only posts held by a node outside their audience
    junk: int = 0
    queued: int = 0  # delivery jobs still waiting
    dead: Counter[str] = field(default_factory=Counter)  # buried deliveries by error


@dataclass
class Report:
    nodes: dict[str, NodeReport] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    ballots_expected: int = 0
    ballots_found: int = 0
    proposals_closed: int = 0
    refusals_logged: int = 0

    def problem(self, text: str) -> None:
        if len(self.problems) < 40:
            self.problems.append(text)
        elif len(self.problems) == 40:
            self.problems.append("... (more problems not listed)")


def _count(db: Path, sql: str, *params: object) -> int:
    return int(read_db(db, sql, params)[0][0])


def _junk(db: Path) -> int:
    """Rows anywhere that carry the junk marker (refused ballots are logged on purpose,
    in ``refusals``, and counted apart)."""
    like = f"%{JUNK}%"
    return sum(_count(db, sql, *([like] * sql.count("?"))) for sql in (
        "SELECT COUNT(*) FROM activities WHERE id LIKE ? OR document LIKE ?",
        "SELECT COUNT(*) FROM objects WHERE id LIKE ? OR document LIKE ?",
        "SELECT COUNT(*) FROM statuses WHERE object_id LIKE ?",
        "SELECT COUNT(*) FROM reactions WHERE activity_id LIKE ? OR object_id LIKE ?",
        "SELECT COUNT(*) FROM follows WHERE activity_id LIKE ?",
        "SELECT COUNT(*) FROM notifications WHERE activity_id LIKE ?",
        "SELECT COUNT(*) FROM ledger WHERE entry LIKE ?",
    ))


def _node(world: World, expect: Expect, name: str, report: Report) -> NodeReport:
    db, out = world.db(name), NodeReport()
    activities = Counter(r[0] for r in read_db(db, "SELECT id FROM activities"))
    objects = {r[0]: r[1] for r in read_db(db, "SELECT id, deleted_at FROM objects")}
    statuses = Counter(r[0] for r in read_db(
        db, "SELECT object_id FROM statuses WHERE reblog_activity IS NULL"))
    for activity_id, nodes in expect.activities.items():
        if name in nodes:
            out.expected += 1
            out.found += activities[activity_id] >= 1
            out.duplicates += max(0, activities[activity_id] - 1)
            if not activities[activity_id]:
                report.problem(f"{name}: missing activity {activity_id}")
    for post in expect.posts.values():
        if name in post.must:
            out.expected += 1
            present = post.object_id in objects and objects[post.object_id] is None
            out.found += present
            out.duplicates += max(0, statuses[post.object_id] - 1)
            if not present:
                state = "deleted" if post.object_id in objects else "missing"
                report.problem(f"{name}: {post.visibility} post {post.object_id} {state}")
        if name in post.forbidden and post.object_id in objects:
            out.leaked += 1
            report.problem(f"{name}: followers-only post {post.object_id} leaked here")
    reactions = set(read_db(db, "SELECT kind, actor, object_id FROM reactions"))
    for reaction, nodes in expect.reactions.items():
        if name in nodes:
            out.expected += 1
            out.found += reaction in reactions
            if reaction not in reactions:
                report.problem(f"{name}: missing {reaction[0]} by {reaction[1]}")
    out.junk = _junk(db)
    if out.junk:
        report.problem(f"{name}: {out.junk} rows carry junk")
    for kind, state, error, count in read_db(
            db, "SELECT kind, state, last_error, COUNT(*) FROM jobs"
                " WHERE kind = 'deliver' GROUP BY kind, state, last_error"):
        if state == "queued":
            out.queued += count
        else:
            out.dead[f"{kind} {state}: {error}"] += count
    _follow_counts(db, name, report)
    return out


def _follow_counts(db: Path, name: str, report: Report) -> None:
    """The follower/following counts apps show are kept by triggers: they must equal
    the rows they count, however often a follow came, went and came again."""
    drift = read_db(db, """
        SELECT actor, followers, following,
               (SELECT COUNT(*) FROM follows WHERE followee = s.actor AND state = 'accepted'),
               (SELECT COUNT(*) FROM follows WHERE follower = s.actor AND state = 'accepted')
        FROM account_stats s""")
    for actor, followers, following, rows_in, rows_out in drift:
        if (followers, following) != (rows_in, rows_out):
            report.problem(f"{name}: counts of {actor} drifted: followers {followers} vs "
                           f"{rows_in} rows, following {following} vs {rows_out} rows")


def _follows(world: World, expect: Expect, report: Report) -> None:
    rows = {n: {(f, e): s for f, e, s in read_db(world.db(n), "SELECT follower, followee,"
                                                  " state FROM follows")}
            for n in world.nodes}
    for (follower, followee), wanted in expect.follows.items():
        for node in {world.node_of(follower), world.node_of(followee)} - {None}:
            state = rows[str(node)].get((follower, followee))
            if (state == "accepted") != wanted or (not wanted and state is not None):
                report.problem(f"{node}: follow {follower} -> {followee} is {state}, "
                               f"wanted {'accepted' if wanted else 'none'}")


def _decisions(world: World, expect: Expect, report: Report) -> None:
    """Ledger: each ballot once. Proposals: closed once, one result, tally as cast."""
    db = world.db(GROUP_NODE)
    ledger = Counter(r[0] for r in read_db(
        db, "SELECT json_extract(entry, '$.ballot') FROM ledger"))
    report.ballots_expected = len(expect.ballots)
    for ballot in expect.ballots:
        report.ballots_found += ledger[ballot] >= 1
        report.nodes[GROUP_NODE].duplicates += max(0, ledger[ballot] - 1)
        if ledger[ballot] != 1:
            report.problem(f"ballot {ballot} is in the ledger {ledger[ballot]} times")
    unknown = sum(n for b, n in ledger.items() if b not in expect.ballots)
    if unknown:
        report.problem(f"{unknown} ledger entries are not ballots the soak sent")
    report.refusals_logged = _count(db, "SELECT COUNT(*) FROM refusals")
    stored = {r[0]: (r[1], r[2]) for r in read_db(db, "SELECT id, state, result FROM proposals")}
    for proposal in expect.proposals:
        state, result = stored.get(proposal, (None, None))
        if state != "closed" or not result:
            report.problem(f"{proposal} is {state}, result {'present' if result else 'none'}")
            continue
        report.proposals_closed += 1
        cast = Counter(b.choice for b in expect.ballots.values() if b.proposal == proposal)
        doc = json.loads(result)
        tally = {t["name"]: t["count"] for t in doc["tally"] if t["count"]}
        if tally != dict(cast) or doc["ledgerSize"] != sum(cast.values()):
            report.problem(f"{proposal}: result {tally} (ledger {doc['ledgerSize']}) "
                           f"but the ballots cast were {dict(cast)}")
    for name in world.nodes:
        _results_on(world, expect, name, report)


def _results_on(world: World, expect: Expect, name: str, report: Report) -> None:
    """Every node with members in the group holds each closed proposal with its result,
    one closing Update and one result announcement from the group."""
    db = world.db(name)
    updates = Counter(r[0] for r in read_db(
        db, "SELECT object_id FROM activities WHERE type = 'Update' AND actor = ?"
            " AND json_extract(document, '$.object.closed') IS NOT NULL", (world.group,)))
    notes = Counter(r[0] for r in read_db(
        db, "SELECT in_reply_to FROM objects WHERE attributed_to = ? AND type = 'Note'",
        (world.group,)))
    questions = {r[0]: r[1] for r in read_db(
        db, "SELECT id, json_extract(document, '$.result.outcome') FROM objects"
            " WHERE type = 'Question'")}
    for proposal in expect.proposals:
        report.nodes[name].duplicates += (max(0, updates[proposal] - 1)
                                          + max(0, notes[proposal] - 1))
        if updates[proposal] != 1 or notes[proposal] != 1 or not questions.get(proposal):
            report.problem(f"{name}: {proposal}: {updates[proposal]} closing updates, "
                           f"{notes[proposal]} result notes, outcome "
                           f"{questions.get(proposal)!r}")


def check(world: World, expect: Expect) -> Report:
    report = Report()
    for name in world.nodes:
        report.nodes[name] = _node(world, expect, name, report)
        node = report.nodes[name]
        if node.queued or node.dead:
            report.problem(f"{name}: deliveries not done: {node.queued} queued, "
                           f"dead {dict(node.dead)}")
    _follows(world, expect, report)
    _decisions(world, expect, report)
    return report
