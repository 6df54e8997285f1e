"""PostgreSQL side of groups and decisions: operation interpreters and reads.

A port of storage/sqlite/governance.py. What sqlite got from having one writer is
asked for explicitly here, because several transactions (and processes) run at once:

- ``AppendBallot`` locks the proposal's row (``FOR UPDATE``) before it reads the
  ledger's head, so two ballots on one proposal take turns: each links to the other's
  hash and gets the next ``seq``, and a ballot racing ``CloseProposal`` sees the state
  the close committed (READ COMMITTED re-reads a row it waited for);
- ``reserve_proposal_number`` is one ``UPDATE ... RETURNING``, which holds the group's
  row until it commits, so two reservations never see the same counter;
- ``CloseProposal``'s ``UPDATE ... WHERE state='open'`` is re-checked on the row a
  concurrent close left, so only one of two closes finds it open.

Orderings by text use ``COLLATE "C"`` (byte order, as sqlite compares), whatever the
database's default collation is.
"""

from __future__ import annotations

import json

import asyncpg

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
from storage.postgres.engine import PgEngine, rowcount
from storage.rows import proposal as _proposal

__all__ = ["GovernanceReads", "apply_governance"]


async def apply_governance(conn: asyncpg.Connection, op: object) -> None:
    if isinstance(op, PutGroup):
        await conn.execute(
            "INSERT INTO groups (actor_id, closed, rules) VALUES ($1,$2,$3)"
            " ON CONFLICT (actor_id) DO UPDATE SET closed=EXCLUDED.closed,"
            " rules=EXCLUDED.rules", op.actor_id, int(op.closed), op.rules)
    elif isinstance(op, SetRole):
        if op.present:
            await conn.execute(
                "INSERT INTO group_roles (group_id, actor, role, created_at)"
                " VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
                op.group_id, op.actor, op.role, op.created_at)
        else:
            await conn.execute(
                "DELETE FROM group_roles WHERE group_id=$1 AND actor=$2 AND role=$3",
                op.group_id, op.actor, op.role)
    elif isinstance(op, PutProposal):
        p = op.proposal
        await conn.execute(
            "INSERT INTO proposals (id, group_id, number, proposer, rule, multiple, options,"
            " end_time, quorum, threshold, electorate_size, electorate_hash, state, action,"
            " document, result, created_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)",
            p.id, p.group_id, p.number, p.proposer, p.rule, int(p.multiple),
            json.dumps(list(p.options)), p.end_time, p.quorum, p.threshold,
            p.electorate_size, p.electorate_hash, p.state,
            json.dumps(p.action) if p.action is not None else None, p.document,
            json.dumps(p.result) if p.result is not None else None, p.created_at)
        # One round trip for the whole electorate, however large.
        await conn.execute(
            "INSERT INTO electorate (proposal, actor) SELECT $1::text, unnest($2::text[])",
            p.id, list(op.electorate))
    elif isinstance(op, AppendBallot):
        await _append_ballot(conn, op)
    elif isinstance(op, CloseProposal):
        status = await conn.execute(
            "UPDATE proposals SET state='closed', result=$1, document=$2"
            " WHERE id=$3 AND state='open'", json.dumps(op.result), op.document, op.id)
        if rowcount(status) == 0:
            raise AlreadyClosed(op.id)
    elif isinstance(op, SetProposalDocument):
        await conn.execute("UPDATE proposals SET document=$1 WHERE id=$2 AND state='open'",
                           op.document, op.id)
    elif isinstance(op, PutRefusal):
        r = op.refusal
        await conn.execute(
            "INSERT INTO refusals (proposal, voter, reason, activity_id, received)"
            " VALUES ($1,$2,$3,$4,$5)", r.proposal, r.voter, r.reason, r.activity_id,
            r.received)
    elif isinstance(op, SetMeta):
        if op.value is None:
            await conn.execute("DELETE FROM meta WHERE key=$1", op.key)
        else:
            await conn.execute("INSERT INTO meta (key, value) VALUES ($1,$2) ON CONFLICT (key)"
                               " DO UPDATE SET value=EXCLUDED.value", op.key, op.value)
    else:  # pragma: no cover - the Op union is closed
        raise TypeError(f"unknown operation {op!r}")


async def _append_ballot(conn: asyncpg.Connection, op: AppendBallot) -> None:
    """Order, link and store one ballot, holding the proposal's row until commit."""
    row = await conn.fetchrow("SELECT state, end_time FROM proposals WHERE id=$1 FOR UPDATE",
                              op.proposal)
    if row is None:
        raise BallotRejected("no such proposal", reason="no-such-proposal")
    if row["state"] != "open" or op.received >= row["end_time"]:
        raise BallotRejected("the vote has closed", reason="vote-closed")
    last = await conn.fetchrow(
        "SELECT seq, hash FROM ledger WHERE proposal=$1 ORDER BY seq DESC LIMIT 1",
        op.proposal)
    previous = await conn.fetchval(
        "SELECT seq FROM ledger WHERE proposal=$1 AND voter=$2 ORDER BY seq DESC LIMIT 1",
        op.proposal, op.voter)
    seq = (last["seq"] if last else 0) + 1
    entry = {**op.entry, "seq": seq, "prev": last["hash"] if last else GENESIS,
             "supersedes": previous}
    counted = {"choices": entry.get("choices", []), "ranking": entry.get("ranking", []),
               "mode": entry.get("mode", "replace")}
    await conn.execute(
        "INSERT INTO ledger (proposal, seq, voter, ballot, entry, hash)"
        " VALUES ($1,$2,$3,$4,$5,$6)",
        op.proposal, seq, op.voter, json.dumps(counted), json.dumps(entry), hash_entry(entry))


class GovernanceReads:
    """Read methods of the Store for groups and decisions (mixed into PgStore)."""

    engine: PgEngine

    async def get_group(self, actor_id: str) -> GroupRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM groups WHERE actor_id=$1", actor_id)
        if row is None:
            return None
        return GroupRecord(actor_id=row["actor_id"], closed=bool(row["closed"]),
                           rules=row["rules"])

    async def group_roles(self, group_id: str, role: str) -> list[str]:
        # Ties in created_at come out in actor order, as from sqlite's primary key scan.
        rows = await self.engine.fetch(
            "SELECT actor FROM group_roles WHERE group_id=$1 AND role=$2"
            ' ORDER BY created_at, actor COLLATE "C"', group_id, role)
        return [r[0] for r in rows]

    async def get_proposal(self, proposal_id: str) -> ProposalRecord | None:
        row = await self.engine.fetchrow("SELECT * FROM proposals WHERE id=$1", proposal_id)
        return _proposal(row) if row else None

    async def reserve_proposal_number(self, group_id: str) -> int:
        """Hand out the group's next proposal number, once (an atomic increment)."""
        async def reserve(conn: asyncpg.Connection) -> int:
            number = await conn.fetchval(
                "UPDATE groups SET next_proposal = next_proposal + 1 WHERE actor_id=$1"
                " RETURNING next_proposal - 1", group_id)
            if number is None:
                raise LookupError(f"{group_id} is not a group")
            return int(number)

        return await self.engine.write(reserve)

    async def ledger(self, proposal_id: str, after_seq: int, limit: int) -> list[LedgerRow]:
        rows = await self.engine.fetch(
            "SELECT seq, voter, entry, hash FROM ledger WHERE proposal=$1 AND seq>$2"
            " ORDER BY seq LIMIT $3", proposal_id, after_seq, limit)
        return [LedgerRow(seq=r["seq"], voter=r["voter"], entry=r["entry"], hash=r["hash"])
                for r in rows]

    async def ledger_size(self, proposal_id: str) -> int:
        return int(await self.engine.fetchval(
            "SELECT COUNT(*) FROM ledger WHERE proposal=$1", proposal_id))

    async def in_electorate(self, proposal_id: str, actor: str) -> bool:
        row = await self.engine.fetchrow(
            "SELECT 1 FROM electorate WHERE proposal=$1 AND actor=$2", proposal_id, actor)
        return row is not None

    async def electorate(self, proposal_id: str) -> list[str]:
        rows = await self.engine.fetch(
            'SELECT actor FROM electorate WHERE proposal=$1 ORDER BY actor COLLATE "C"',
            proposal_id)
        return [r[0] for r in rows]

    async def counted_ballots(self, proposal_id: str) -> tuple[list[CountedBallot], str]:
        """Every ledger entry's vote (not its evidence) and the head hash, for the tally."""
        rows = await self.engine.fetch(
            "SELECT seq, voter, ballot, hash FROM ledger WHERE proposal=$1 ORDER BY seq",
            proposal_id)
        out = []
        for row in rows:
            ballot = json.loads(row[2])
            out.append(CountedBallot(seq=row[0], voter=row[1],
                                     choices=tuple(ballot["choices"]),
                                     ranking=tuple(ballot["ranking"]), mode=ballot["mode"]))
        return out, rows[-1][3] if rows else GENESIS

    async def refusals(self, proposal_id: str) -> list[RefusalRecord]:
        rows = await self.engine.fetch(
            "SELECT * FROM refusals WHERE proposal=$1 ORDER BY id", proposal_id)
        return [RefusalRecord(proposal=r["proposal"], voter=r["voter"], reason=r["reason"],
                              activity_id=r["activity_id"], received=r["received"])
                for r in rows]

    async def get_meta(self, key: str) -> str | None:
        value = await self.engine.fetchval("SELECT value FROM meta WHERE key=$1", key)
        return str(value) if value is not None else None
