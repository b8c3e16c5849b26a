"""Moving a SQLite store into PostgreSQL: every table, the audit chain row for row, then checked.

The chain is copied as stored (hashes, purged rows and purge rows included), so the copy
verifies to the same head; the destination's guard triggers are off only inside the copy's one
transaction (a purged row could not be appended otherwise), which either commits whole or
leaves the destination as it was. The digest's counts are recomputed from the copied rows.
"""

from __future__ import annotations

from typing import Any, Callable

from storage.db import Database, DatabaseProblem, db_lock, dialect, snapshot, table_exists, transaction
from storage.migrations import migrate

BATCH = 5_000

TABLES = {
    # table: (columns, order)
    "conversations": ("id, state, version, updated_at", "id"),
    "processed_events": ("key, seen_at", "key"),
    "conversation_references": ("channel, key, reference, updated_at", "channel, key"),
    "live_cards": ("channel, conversation, activity_id, kind, updated_at", "channel, conversation"),
    "unanswered": ("id, asked_at, pack_id, channel, question, removed, name_warning, best_topic, score", "id"),
    "topic_counts": ("day, pack_id, topic, channel, count", "day, pack_id, topic, channel"),
    "decisions": ("seq, ref, kind, recorded_at, day, user_id, channel, conversation_id, pack_id, pack_version, "
                  "outcome, answers, record, prev_hash, body_hash, hash, purged_by", "seq"),
    "audit_checks": ("checked_at, rows, head, ok, first_bad, problem", "rowid"),
}


def copy_store(source: Database, target: Database,
               progress: Callable[[str, int], None] = lambda table, n: None) -> dict[str, Any]:
    """Copy everything from the SQLite ``source`` into the empty PostgreSQL ``target``, then
    verify the chain there; ``{"tables": {table: rows}, "head": ..., "verified": VerifyResult}``.

    Raises:
        DatabaseProblem: the target is not PostgreSQL, already holds decisions or
            conversations, or the source's own chain does not verify (nothing is copied).
    """
    from storage import audit
    if dialect(source) != "sqlite" or dialect(target) != "postgresql":
        raise DatabaseProblem("db copy moves a SQLite store (--from PATH) into PostgreSQL (--to postgresql://...)")
    if not table_exists(source, "decisions"):
        raise DatabaseProblem("the source holds no audit record (no decisions table)")
    migrate(target)
    audit.ensure_schema(target)
    if target.execute("SELECT (SELECT count(*) FROM decisions) + (SELECT count(*) FROM conversations)").fetchone()[0]:
        raise DatabaseProblem("the target already holds decisions or conversations: copy into an empty database")
    with db_lock(source):
        before = audit.verify_chain(source, record_check=False)
    if not before.ok:
        raise DatabaseProblem(f"the source's record does not verify (row {before.first_bad}: {before.problem}); "
                              "nothing was copied")
    counts: dict[str, int] = {}
    with db_lock(source), snapshot(source) as src, transaction(target) as dst:
        dst.execute("ALTER TABLE decisions DISABLE TRIGGER USER")
        for table, (columns, order) in TABLES.items():
            if not table_exists(source, table):
                continue
            marks = ", ".join("?" * len(columns.split(",")))
            cur = src.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")
            counts[table] = 0
            while rows := cur.fetchmany(BATCH):
                dst.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
                counts[table] += len(rows)
                progress(table, counts[table])
        top = src.execute("SELECT seq FROM sqlite_sequence WHERE name = 'decisions'").fetchone()
        dst.execute("INSERT INTO audit_sequence (name, seq) VALUES ('decisions', ?) ON CONFLICT (name) DO UPDATE "
                    "SET seq = excluded.seq", [max(top[0] if top else 0, before.rows)])
        audit.rebuild_counts(target)  # nested: a savepoint of this transaction
        for table in ("unanswered", "audit_checks"):  # the next id follows the copied ones
            dst.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
        dst.execute("ALTER TABLE decisions ENABLE TRIGGER USER")
    after = audit.verify_chain(target)
    if not after.ok or after.head != before.head or after.rows != before.rows:
        raise DatabaseProblem(f"the copy does not verify as the source does ({after.problem or 'head differs'}); "
                              "drop the target database and copy again")
    return {"tables": counts, "head": after.head, "verified": after}
