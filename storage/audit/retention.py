"""Retention: emptying the detail of old rows (the purge), itself recorded as a chain row that
commits to exactly which rows it emptied, so every row's hash can still be recomputed."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone
from typing import Any

from storage.audit.chain import PurgeError, _conn, _head, _insert, chain_row, lock_chain, utc_iso
from storage.db import Database, db_lock, transaction

def purge_cutoff(older_than_days: int, now: datetime | None = None) -> str:
    """The ``recorded_at`` before which detail is removed, as stored (UTC ISO)."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise PurgeError(f"--older-than must be a whole number of days of at least 1, not {older_than_days!r}")
    now = now or datetime.now(timezone.utc)
    return utc_iso(now - timedelta(days=older_than_days))


def _day_bound(cutoff: str) -> str:
    """The last London day that can hold a row recorded before ``cutoff`` (lets SQLite use an index)."""
    return (date.fromisoformat(cutoff[:10]) + timedelta(days=1)).isoformat()


def count_purgeable(db: Database, older_than_days: int, now: datetime | None = None) -> int:
    """How many rows :func:`purge` would empty now."""
    cutoff = purge_cutoff(older_than_days, now)
    return _conn(db).execute(
        "SELECT count(*) FROM decisions WHERE day <= ? AND recorded_at < ? "
        "AND kind != 'purge' AND purged_by IS NULL", [_day_bound(cutoff), cutoff]).fetchone()[0]


PURGE_BATCH = 20_000
"""Rows emptied per purge transaction: each batch holds the write lock for about a second,
so conversations recording meanwhile wait briefly instead of for the whole purge."""


def purge(db: Database, older_than_days: int, now: datetime | None = None,
          batch: int = PURGE_BATCH) -> dict[str, Any]:
    """Remove the detail of rows recorded more than ``older_than_days`` ago; keep the chain verifiable.

    Each old row keeps ``seq``, ``ref``, kind, time, channel, pack, outcome and its hashes; its
    ``user_id``, ``conversation_id``, ``answers`` and ``record`` become NULL and ``purged_by``
    names the purge row. The work is done in transactions of at most ``batch`` rows; each
    appends, in the same transaction, one purge row (kind ``purge``) recording the cutoff, the
    count and a checkpoint (SHA-256 over ``"seq:body_hash\n"`` of the rows it emptied).
    Nothing is recorded when no row is old enough.

    Returns:
        ``{"purged": n, "checkpoint": hex of the last batch or None, "ref": ref of the last
        purge row or None, "refs": every purge row's ref, "cutoff": iso}``
    """
    cutoff = purge_cutoff(older_than_days, now)
    moment = now or datetime.now(timezone.utc)
    total, refs, checkpoint = 0, [], None
    while True:
        with db_lock(db):  # one thread at a time on a shared connection
            with transaction(db) as conn:
                lock_chain(db, conn)
                targets = conn.execute(
                    "SELECT seq, body_hash FROM decisions WHERE day <= ? AND recorded_at < ? "
                    "AND kind != 'purge' AND purged_by IS NULL ORDER BY seq LIMIT ?",
                    [_day_bound(cutoff), cutoff, max(1, int(batch))]).fetchall()
                if not targets:
                    break
                digest = hashlib.sha256()
                for seq, bh in targets:
                    digest.update(f"{seq}:{bh}\n".encode())
                head_seq, prev = _head(conn)
                purge_seq = head_seq + 1
                record = {"cutoff": cutoff, "older_than_days": older_than_days, "purged": len(targets),
                          "first_seq": targets[0][0], "last_seq": targets[-1][0],
                          "checkpoint": digest.hexdigest()}
                stored = chain_row({"kind": "purge", "user_id": None, "channel": "system",
                                    "pack_id": None, "outcome": None, "answers": [], "record": record},
                                   purge_seq, prev, moment)
                _insert(conn, stored)
                conn.execute("INSERT INTO audit_gate (purge_seq) VALUES (?)", [purge_seq])
                conn.executemany(
                    "UPDATE decisions SET user_id = NULL, conversation_id = NULL, answers = NULL, "
                    "record = NULL, purged_by = ? WHERE seq = ?",
                    ((purge_seq, seq) for seq, _ in targets))
                conn.execute("DELETE FROM audit_gate")
        total += len(targets)
        refs.append(stored["ref"])
        checkpoint = record["checkpoint"]
    return {"purged": total, "checkpoint": checkpoint, "ref": refs[-1] if refs else None,
            "refs": refs, "cutoff": cutoff}
