"""The ballot ledger: a hash chain of accepted ballots, and which of them count.

DESIGN §3.1: every accepted ballot becomes a ``BallotRecord`` entry, in order of
acceptance, with ``seq`` counting from 1 and ``prev`` holding the hash of the entry
before it (:data:`GENESIS` for the first). An entry's hash is
``sha256:<hex of SHA-256(JCS(entry))>`` over the whole entry, ``prev`` included, so the
last entry's hash (the ledger head quoted in the result) commits to every entry and to
their order.

A member may vote again before the proposal closes; the new entry names the ``seq`` of
the voter's previous entry in ``supersedes`` (null for a first ballot), and only each
voter's last entry counts. One exception: Mastodon sends a multiple-choice (``anyOf``)
vote as one signed ``Create(Note)`` per option, so each becomes its own entry with
``"mode": "add"``; such an entry adds its choices to the voter's counted ballot instead
of replacing it (``supersedes`` still names the voter's previous entry). An entry
without ``mode``, or with ``"mode": "replace"``, replaces.

These functions report problems instead of raising, so an audit can list every one,
each with the seq it concerns. Seqs are positions in the ledger as given (the n-th
entry should have seq n); a problem with an entry that is missing, moved or inserted is
reported at the position where the chain breaks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from protocol.canonical import HASH_PREFIX, CanonicalizationError, jcs, sha256_tagged
from protocol.decisions_common import Ballot

__all__ = [
    "GENESIS",
    "chain_problems",
    "counted_ballots",
    "electorate_hash",
    "final_ballots",
    "hash_entry",
    "supersede_problems",
]

#: The ``prev`` of the first entry: 64 zeros in the tagged hash form.
GENESIS = HASH_PREFIX + "0" * 64

Problem = tuple[int, str]


def hash_entry(entry: Mapping[str, object]) -> str:
    """The hash that the next entry's ``prev`` must hold: SHA-256 over JCS(entry)."""
    return sha256_tagged(jcs(entry))


def electorate_hash(ids: Iterable[str]) -> str:
    """``electorateHash``: SHA-256 over JCS of the distinct member ids, sorted.

    Sorting is by Unicode code point (the order of Python's ``sorted``), so the hash
    does not depend on the order in which the collection pages were served.

    >>> electorate_hash(["b", "a", "b"]) == sha256_tagged(b'["a","b"]')
    True
    """
    return sha256_tagged(jcs(sorted(set(ids))))


def chain_problems(
    entries: Sequence[Mapping[str, object]],
    *,
    head: str | None = None,
    hashes: Sequence[str | None] | None = None,
) -> list[Problem]:
    """Check ``seq`` runs 1, 2, 3... and each ``prev`` is the hash of the entry before.

    With ``head`` (the ``ledgerHead`` a result quotes), the last entry's hash must equal
    it too; that is what catches an edit to the last entry, which no ``prev`` covers.
    An empty ledger's head is :data:`GENESIS`. ``hashes`` are the entries' hashes when
    the caller computed them already (None for one that could not be hashed); the
    entries may then be abridged to the fields checked here.
    """
    problems: list[Problem] = []
    # None: the entry before could not be hashed (already reported), so skip the link.
    expected_prev: str | None = GENESIS
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            problems.append((position, "entry is not a JSON object"))
            expected_prev = None
            continue
        seq = entry.get("seq")
        if not _is_int(seq) or seq != position:
            problems.append((position, f"seq is {seq!r}, expected {position}"))
        prev = entry.get("prev")
        if expected_prev is not None and prev != expected_prev:
            before = f"entry {position - 1}" if position > 1 else "genesis"
            problems.append(
                (position, f"prev {prev!r} is not the hash of {before} ({expected_prev})")
            )
        if hashes is not None:
            expected_prev = hashes[position - 1]
            if expected_prev is None:
                problems.append((position, "entry cannot be hashed"))
            continue
        try:
            expected_prev = hash_entry(entry)
        except CanonicalizationError as exc:
            problems.append((position, f"entry cannot be hashed: {exc.message}"))
            expected_prev = None
    if head is not None and expected_prev is not None and head != expected_prev:
        last = len(entries)
        problems.append((last, f"ledger head {head} is not the hash of entry {last}"))
    return problems


def final_ballots(entries: Iterable[Mapping[str, object]]) -> dict[str, Mapping[str, object]]:
    """Each voter's counted ballot, by voter id: their last entry.

    A later entry from the same voter replaces the earlier one whatever its
    ``supersedes`` says; :func:`supersede_problems` reports entries whose
    ``supersedes`` does not name the ballot they actually replace. After ``"mode":
    "add"`` entries the value is a copy of the voter's last entry whose ``choices`` are
    the union, in order of first appearance, of the choices since their last replacing
    entry.
    """
    counted: dict[str, Mapping[str, object]] = {}
    for entry in entries:
        voter = entry.get("voter") if isinstance(entry, Mapping) else None
        if not isinstance(voter, str):
            continue
        previous = counted.pop(voter, None)  # keep dict order = order of counted entries
        before, added = (previous or {}).get("choices"), entry.get("choices")
        if entry.get("mode") == "add" and isinstance(before, list) and isinstance(added, list):
            entry = {**entry, "choices": before + [c for c in added if c not in before]}
        counted[voter] = entry
    return counted


def counted_ballots(entries: Iterable[Mapping[str, object]]) -> list[Ballot]:
    """The :class:`~protocol.decisions.Ballot` of each voter's last entry, ready to tally."""
    return [Ballot.from_entry(entry) for entry in final_ballots(entries).values()]


def supersede_problems(entries: Sequence[Mapping[str, object]]) -> list[Problem]:
    """Entries whose ``supersedes`` is not the seq of that voter's previous entry.

    A voter's first entry must have ``supersedes`` null or absent; each later one must
    name the seq of the voter's entry before it (the one it stops from counting).
    """
    problems: list[Problem] = []
    last_seq: dict[str, int] = {}
    for position, entry in enumerate(entries, start=1):
        voter = entry.get("voter") if isinstance(entry, Mapping) else None
        if not isinstance(voter, str) or not voter:
            problems.append((position, "entry has no voter"))
            continue
        if entry.get("mode", "replace") not in ("replace", "add"):
            problems.append((position, f"mode {entry.get('mode')!r} is neither add nor replace"))
        claimed = entry.get("supersedes")
        previous = last_seq.get(voter)
        if claimed is not None and not _is_int(claimed):
            problems.append((position, f"supersedes {claimed!r} is not a seq"))
        elif claimed != previous:
            if previous is None:
                problem = f"supersedes {claimed} but this is {voter}'s first ballot"
            else:
                problem = f"supersedes {claimed!r} but {voter}'s previous ballot is {previous}"
            problems.append((position, problem))
        seq = entry.get("seq")
        last_seq[voter] = seq if isinstance(seq, int) and not isinstance(seq, bool) else position
    return problems


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
