"""Checking the chain: every row's hash recomputed, the links between rows, the purges' own
record of what they emptied, and the database's triggers; each check logged."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from storage.audit.chain import GENESIS, HASH_VERSION, VerifyResult, _conn, _counts_problem, _enc, _j, utc_iso
from storage.db import Database, db_lock, dialect, snapshot, transaction
from storage.migrations import missing_guards

def verify_chain(db: Database, expected_head: str | None = None,
                 record_check: bool = True) -> VerifyResult:
    """Recompute every row's hashes and links, oldest first, and say where the chain breaks.

    Finds an edited row (its hash no longer recomputes), a deleted row (the next row's
    ``prev_hash`` or ``seq`` does not follow; the last row against the highest seq ever appended), a
    reordered row (``seq`` is inside the hash) and an inserted row (it breaks the link of the
    row after it), whether or not the triggers are in place. ``expected_head``, a head printed
    in an earlier digest, must still be in the chain: that finds a tail rewritten wholesale.
    The result is also logged in ``audit_checks`` (``record_check=False`` to skip).
    """
    with db_lock(db), snapshot(db) as conn:  # rows appended meanwhile are not half-seen
        result = _verify(conn, expected_head, _top_sql(db))
        if result.ok:
            problem = _counts_problem(conn)
            if problem:
                result.ok, result.problem = False, problem
    missing = missing_guards(db)
    if missing:
        result.warnings.append("guard trigger(s) missing: " + ", ".join(missing))
    if record_check:
        log_check(db, result)
    return result


def log_check(db: Database, result: "VerifyResult") -> None:
    """Keep a verification's result in ``audit_checks`` (what a digest without one shows)."""
    with db_lock(db), transaction(db):
        db.conn.execute("INSERT INTO audit_checks (checked_at, rows, head, ok, first_bad, problem) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        [utc_iso(datetime.now(timezone.utc)), result.rows, result.head,
                         int(result.ok), result.first_bad, result.problem])


def _top_sql(db: Database) -> str:
    """The highest seq ever appended: SQLite's ``sqlite_sequence``, kept by a trigger on PostgreSQL."""
    if dialect(db) == "postgresql":
        return "SELECT seq FROM audit_sequence WHERE name = 'decisions'"
    return "SELECT seq FROM sqlite_sequence WHERE name = 'decisions'"


def _verify(conn: Any, expected_head: str | None, top_sql: str) -> VerifyResult:
    purges: dict[int, dict[str, Any]] = {}
    for seq, record, recorded_at in conn.execute(
            "SELECT seq, record, recorded_at FROM decisions WHERE kind = 'purge'"):
        try:
            purges[seq] = {**json.loads(record), "recorded_at": recorded_at}
        except (TypeError, ValueError):
            purges[seq] = {"recorded_at": recorded_at}
    purged_seen: dict[int, Any] = {}  # purge seq -> [count, sha256 over "seq:body_hash\n"]

    expected_seq, prev, rows, head_found = 1, GENESIS, 0, expected_head is None
    sha256, version = hashlib.sha256, HASH_VERSION

    def bad(seq: int, problem: str) -> VerifyResult:
        return VerifyResult(False, rows, prev, seq, problem)

    read = getattr(conn, "stream", conn.execute)  # PostgreSQL: in batches, not the whole chain at once
    cur = read(
        "SELECT seq, ref, kind, recorded_at, day, channel, pack_id, pack_version, outcome, "
        "prev_hash, body_hash, hash, purged_by, user_id, conversation_id, answers, record "
        "FROM decisions ORDER BY seq")
    for (seq, ref, kind, recorded_at, day, channel, pack_id, pack_version, outcome,
         prev_hash, bh, stored_hash, purged_by, user_id, conversation_id, answers, record) in cur:
        if seq != expected_seq:
            if seq > expected_seq:
                gap = (f"row {expected_seq} is missing" if seq == expected_seq + 1
                       else f"rows {expected_seq} to {seq - 1} are missing")
                return bad(seq, f"{gap} before this row (deleted?)")
            return bad(seq, f"row number {seq} is out of order (expected {expected_seq})")
        if prev_hash != prev:
            return bad(seq, "prev_hash does not match the hash of the row before "
                            "(a row was deleted, inserted or moved here)")
        if purged_by is None:
            body = (f"[{_j(user_id)},{_j(conversation_id)},{_j(answers)},{_j(record)}]")
            if sha256(body.encode("utf-8")).hexdigest() != bh:
                return bad(seq, "its detail (user, conversation, answers or record) was changed")
        else:
            if user_id is not None or conversation_id is not None or answers is not None \
                    or record is not None:
                return bad(seq, "marked as purged but still holds detail")
            purge = purges.get(purged_by)
            if purge is None or purged_by <= seq:
                return bad(seq, "its detail was removed outside a recorded purge")
            if recorded_at >= purge.get("cutoff", ""):
                return bad(seq, "its detail was removed although it is newer than the purge cutoff")
            seen = purged_seen.setdefault(purged_by, [0, sha256()])
            seen[0] += 1
            seen[1].update(f"{seq}:{bh}\n".encode())
        try:
            head = (f'["{version}",{seq},{_enc(ref)},{_enc(kind)},{_enc(recorded_at)},{_enc(day)},'
                    f"{_j(channel)},{_j(pack_id)},{_j(pack_version)},{_j(outcome)},{_enc(prev_hash)},"
                    f"{_enc(bh)}]")
        except TypeError:  # a NOT NULL column holding a number after tampering
            return bad(seq, "its fields were changed (a value has the wrong type)")
        if sha256(head.encode("utf-8")).hexdigest() != stored_hash:
            return bad(seq, "its fields were changed (the hash does not recompute)")
        if kind == "purge":
            count, digest = purged_seen.get(seq, [0, sha256()])
            claimed = purges.get(seq, {})
            if count != claimed.get("purged") or digest.hexdigest() != claimed.get("checkpoint", ""):
                return bad(seq, f"this purge says it emptied {claimed.get('purged')} rows "
                                f"but {count} rows name it")
        prev = stored_hash
        rows += 1
        expected_seq += 1
        if not head_found and prev == expected_head:
            head_found = True
    top = conn.execute(top_sql).fetchone()
    if top and top[0] > rows:
        return VerifyResult(False, rows, prev, rows + 1,
                            f"the newest row(s) {rows + 1} to {top[0]} are missing (deleted?)")
    if not head_found:
        return VerifyResult(False, rows, prev, None,
                            f"the expected head {expected_head[:16]}... is not in the chain "
                            "(rows were rewritten or removed since it was published)")
    return VerifyResult(True, rows, prev)


def last_check(db: Database) -> dict[str, Any] | None:
    """The most recent :func:`verify_chain` result logged in ``audit_checks``, or None."""
    order = "id" if dialect(db) == "postgresql" else "rowid"
    row = _conn(db).execute(
        "SELECT checked_at, rows, head, ok, first_bad, problem FROM audit_checks "
        f"ORDER BY {order} DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return {"checked_at": row[0], "rows": row[1], "head": row[2], "ok": bool(row[3]),
            "first_bad": row[4], "problem": row[5]}
