"""sqlite side of groups and decisions: operation interpreters and reads."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from protocol.ledger import GENESIS, hash_entry
from storage.governance import (
    AlreadyClosed,
    AppendBallot,
    BallotRejected,
    CloseProposal,
    CountedBallot,
    GroupRecord,
    LedgerRow,
    ProposalRecord,
    PutGroup,
    PutProposal,
    PutRefusal,
    RefusalRecord,
    SetMeta,
    SetProposalDocument,
    SetRole,
)
from storage.rows import proposal as _proposal
from storage.sqlite.engine import SqliteEngine

__all__ = ["GovernanceReads", "apply_governance"]


def apply_governance(conn: sqlite3.Connection, op: object) -> None:
    if isinstance(op, PutGroup):
        conn.execute(
            "INSERT INTO groups (actor_id, closed, rules) VALUES (?,?,?) ON CONFLICT (actor_id)"
            " DO UPDATE SET closed=excluded.closed, rules=excluded.rules",
            (op.actor_id, int(op.closed), op.rules))
    elif isinstance(op, SetRole):
        if op.present:
            conn.execute(
                "INSERT OR IGNORE INTO group_roles (group_id, actor, role, created_at)"
                " VALUES (?,?,?,?)", (op.group_id, op.actor, op.role, op.created_at))
        else:
            conn.execute("DELETE FROM group_roles WHERE group_id=? AND actor=? AND role=?",
                         (op.group_id, op.actor, op.role))
    elif isinstance(op, PutProposal):
        p = op.proposal
        conn.execute(
            "INSERT INTO proposals (id, group_id, number, proposer, rule, multiple, options,"
            " end_time, quorum, threshold, electorate_size, electorate_hash, state, action,"
            " document, result, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (p.id, p.group_id, p.number, p.proposer, p.rule, int(p.multiple),
             json.dumps(list(p.options)), p.end_time, p.quorum, p.threshold,
             p.electorate_size, p.electorate_hash, p.state,
             json.dumps(p.action) if p.action is not None else None, p.document,
             json.dumps(p.result) if p.result is not None else None, p.created_at))
        conn.executemany("INSERT INTO electorate (proposal, actor) VALUES (?,?)",
                         [(p.id, actor) for actor in op.electorate])
    elif isinstance(op, AppendBallot):
        _append_ballot(conn, op)
    elif isinstance(op, CloseProposal):
        cur = conn.execute(
            "UPDATE proposals SET state='closed', result=?, document=? WHERE id=? AND state='open'",
            (json.dumps(op.result), op.document, op.id))
        if cur.rowcount == 0:
            raise AlreadyClosed(op.id)
    elif isinstance(op, SetProposalDocument):
        conn.execute("UPDATE proposals SET document=? WHERE id=? AND state='open'",
                     (op.document, op.id))
    elif isinstance(op, PutRefusal):
        r = op.refusal
        conn.execute(
            "INSERT INTO refusals (proposal, voter, reason, activity_id, received)"
            " VALUES (?,?,?,?,?)", (r.proposal, r.voter, r.reason, r.activity_id, r.received))
    elif isinstance(op, SetMeta):
        if op.value is None:
            conn.execute("DELETE FROM meta WHERE key=?", (op.key,))
        else:
            conn.execute("INSERT INTO meta (key, value) VALUES (?,?) ON CONFLICT (key)"
                         " DO UPDATE SET value=excluded.value", (op.key, op.value))
    else:  # pragma: no cover - the Op union is closed
        raise TypeError(f"unknown operation {op!r}")


def _append_ballot(conn: sqlite3.Connection, op: AppendBallot) -> None:
    """Order, link and store one ballot, under the writer's transaction."""
    row = conn.execute("SELECT state, end_time FROM proposals WHERE id=?",
                       (op.proposal,)).fetchone()
    if row is None:
        raise BallotRejected("no such proposal", reason="no-such-proposal")
    if row["state"] != "open" or op.received >= row["end_time"]:
        raise BallotRejected("the vote has closed", reason="vote-closed")
    last = conn.execute("SELECT seq, hash FROM ledger WHERE proposal=? ORDER BY seq DESC LIMIT 1",
                        (op.proposal,)).fetchone()
    previous = conn.execute(
        "SELECT seq FROM ledger WHERE proposal=? AND voter=? ORDER BY seq DESC LIMIT 1",
        (op.proposal, op.voter)).fetchone()
    seq = (last["seq"] if last else 0) + 1
    entry = {**op.entry, "seq": seq, "prev": last["hash"] if last else GENESIS,
             "supersedes": previous["seq"] if previous else None}
    counted = {"choices": entry.get("choices", []), "ranking": entry.get("ranking", []),
               "mode": entry.get("mode", "replace")}
    conn.execute(
        "INSERT INTO ledger (proposal, seq, voter, ballot, entry, hash) VALUES (?,?,?,?,?,?)",
        (op.proposal, seq, op.voter, json.dumps(counted), json.dumps(entry), hash_entry(entry)))


class GovernanceReads:
    """Read methods of the Store for groups and decisions (mixed into SqliteStore)."""

    engine: SqliteEngine

    async def _rows(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        return await self.engine.read(lambda conn: conn.execute(sql, args).fetchall())

    async def get_group(self, actor_id: str) -> GroupRecord | None:
        rows = await self._rows("SELECT * FROM groups WHERE actor_id=?", (actor_id,))
        if not rows:
            return None
        return GroupRecord(actor_id=rows[0]["actor_id"], closed=bool(rows[0]["closed"]),
                           rules=rows[0]["rules"])

    async def group_roles(self, group_id: str, role: str) -> list[str]:
        rows = await self._rows(
            "SELECT actor FROM group_roles WHERE group_id=? AND role=? ORDER BY created_at",
            (group_id, role))
        return [r[0] for r in rows]

    async def get_proposal(self, proposal_id: str) -> ProposalRecord | None:
        rows = await self._rows("SELECT * FROM proposals WHERE id=?", (proposal_id,))
        return _proposal(rows[0]) if rows else None

    async def reserve_proposal_number(self, group_id: str) -> int:
        """Hand out the group's next proposal number, once (an atomic increment)."""
        def reserve(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "UPDATE groups SET next_proposal = next_proposal + 1 WHERE actor_id=?"
                " RETURNING next_proposal - 1", (group_id,)).fetchone()
            if row is None:
                raise LookupError(f"{group_id} is not a group")
            return int(row[0])

        return await self.engine.write(reserve)

    async def ledger(self, proposal_id: str, after_seq: int, limit: int) -> list[LedgerRow]:
        rows = await self._rows(
            "SELECT seq, voter, entry, hash FROM ledger WHERE proposal=? AND seq>?"
            " ORDER BY seq LIMIT ?", (proposal_id, after_seq, limit))
        return [LedgerRow(seq=r["seq"], voter=r["voter"], entry=r["entry"], hash=r["hash"])
                for r in rows]

    async def ledger_size(self, proposal_id: str) -> int:
        rows = await self._rows("SELECT COUNT(*) FROM ledger WHERE proposal=?", (proposal_id,))
        return int(rows[0][0])

    async def in_electorate(self, proposal_id: str, actor: str) -> bool:
        rows = await self._rows("SELECT 1 FROM electorate WHERE proposal=? AND actor=?",
                                (proposal_id, actor))
        return bool(rows)

    async def electorate(self, proposal_id: str) -> list[str]:
        rows = await self._rows(
            "SELECT actor FROM electorate WHERE proposal=? ORDER BY actor", (proposal_id,))
        return [r[0] for r in rows]

    async def counted_ballots(self, proposal_id: str) -> tuple[list[CountedBallot], str]:
        """Every ledger entry's vote (not its evidence) and the head hash, for the tally."""
        def read(conn: sqlite3.Connection) -> tuple[list[CountedBallot], str]:
            out = []
            head = GENESIS
            for row in conn.execute("SELECT seq, voter, ballot, hash FROM ledger"
                                    " WHERE proposal=? ORDER BY seq", (proposal_id,)):
                ballot = json.loads(row[2])
                out.append(CountedBallot(seq=row[0], voter=row[1],
                                         choices=tuple(ballot["choices"]),
                                         ranking=tuple(ballot["ranking"]),
                                         mode=ballot["mode"]))
                head = row[3]
            return out, head

        return await self.engine.read(read)

    async def refusals(self, proposal_id: str) -> list[RefusalRecord]:
        rows = await self._rows(
            "SELECT * FROM refusals WHERE proposal=? ORDER BY id", (proposal_id,))
        return [RefusalRecord(proposal=r["proposal"], voter=r["voter"], reason=r["reason"],
                              activity_id=r["activity_id"], received=r["received"])
                for r in rows]

    async def get_meta(self, key: str) -> str | None:
        rows = await self._rows("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None
