"""The schema as one numbered list of migrations, applied in order, each once, for either engine.

Each migration is a pair of SQL files beside this module, ``NNNN_sqlite.sql`` and
``NNNN_postgresql.sql``; ``schema_migrations`` records which versions a store has. A new
version is a new pair of files and a line in :data:`MIGRATIONS`; a file already released is
never edited. :func:`migrate` runs at every start (and as ``infoshare db migrate``): two
servers starting together apply a version once (SQLite's write lock, or an advisory lock on
PostgreSQL), and a store already up to date costs one query.

The chain's guard triggers are not only created by a migration but put back at every open if
someone dropped them (:func:`repair_guards`); what was done while they were missing is still
found by ``audit verify``.

Example:
    >>> from storage.db import open_db
    >>> db = open_db(":memory:")
    >>> migrate(db)
    [1]
    >>> migrate(db), schema_version(db)
    ([], 1)
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from storage.db import Database, db_lock, dialect, transaction
from storage.postgres import MIGRATE_LOCK

log = logging.getLogger("infoshare.storage")
HERE = Path(__file__).parent
GENESIS = "0" * 64


@dataclass(frozen=True)
class Migration:
    version: int
    title: str

    def sql(self, engine: str) -> str:
        return (HERE / f"{self.version:04d}_{engine}.sql").read_text(encoding="utf-8")


MIGRATIONS = (
    Migration(1, "conversations, delivery keys, references, live cards, content gaps, audit chain"),
)
LATEST = MIGRATIONS[-1].version

GUARDS = {
    "sqlite": ("decisions_append_only_insert", "decisions_no_update", "decisions_no_delete", "decisions_count"),
    "postgresql": ("decisions_append_only_insert", "decisions_no_update", "decisions_no_delete", "decisions_count",
                   "decisions_no_truncate"),
}
"""The triggers that guard the chain, by engine (``audit verify`` warns when one is missing)."""

_LEDGER = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, title TEXT NOT NULL, " \
          "applied_at TEXT NOT NULL)"


def statements(script: str, engine: str) -> list[str]:
    """A script as the statements to run one by one (SQLite); PostgreSQL takes it whole."""
    if engine == "postgresql":
        return [script]
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        if not buf and line.lstrip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return [s for s in out if s]


def schema_version(db: Database) -> int:
    """The newest migration applied to ``db`` (0 for an empty store)."""
    from storage.db import table_exists
    if not table_exists(db, "schema_migrations"):
        return 0
    return db.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(db: Database) -> list[int]:
    """Apply every migration ``db`` lacks, in order, each in its own transaction; the versions
    applied (empty when up to date). Then put back any missing guard (:func:`repair_guards`)."""
    if getattr(db, "_migrated", False):
        return []
    engine = dialect(db)
    applied: list[int] = []
    if schema_version(db) == LATEST:  # up to date: no DDL (an application role may not create tables)
        repair_guards(db)
        db._migrated = True
        return []
    with db_lock(db):
        for m in MIGRATIONS:
            with transaction(db) as conn:
                if engine == "postgresql":
                    conn.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATE_LOCK])
                conn.execute(_LEDGER)
                if conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [m.version]).fetchone():
                    continue
                for statement in statements(m.sql(engine), engine):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (version, title, applied_at) VALUES (?, ?, ?)",
                             [m.version, m.title, datetime.now(timezone.utc).isoformat(timespec="seconds")])
                applied.append(m.version)
        newest = db.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    if newest > LATEST:
        from storage.db import DatabaseProblem
        raise DatabaseProblem(f"the store's schema is version {newest}, newer than this version of infoshare "
                              f"knows ({LATEST}): run the newer version, or restore a backup")
    repair_guards(db)
    db._migrated = True
    return applied


def missing_guards(db: Database) -> list[str]:
    """The guard triggers that are not in place (dropped, or disabled on PostgreSQL)."""
    engine = dialect(db)
    if engine == "postgresql":
        sql = ("SELECT tgname FROM pg_trigger WHERE tgrelid = 'decisions'::regclass "
               "AND NOT tgisinternal AND tgenabled <> 'D'")
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'decisions'"
    present = {r[0] for r in db.execute(sql).fetchall()}
    return [t for t in GUARDS[engine] if t not in present]


def repair_guards(db: Database) -> list[str]:
    """Put back the guard triggers that are missing; the names put back. On PostgreSQL a role
    that does not own the table cannot: a warning is logged and ``audit verify`` reports them."""
    engine = dialect(db)
    with db_lock(db):
        missing = missing_guards(db)
        if not missing:
            return []
        script = (HERE / f"guards_{engine}.sql").read_text(encoding="utf-8").replace("{GENESIS}", GENESIS)
        try:
            with transaction(db) as conn:
                for statement in statements(script, engine):
                    conn.execute(statement)
                if engine == "postgresql":
                    for name in missing:  # CREATE OR REPLACE keeps a disabled trigger disabled
                        conn.execute(f"ALTER TABLE decisions ENABLE TRIGGER {name}")
        except Exception as exc:  # noqa: BLE001 - e.g. insufficient privilege: verify still reports them
            if engine != "postgresql":
                raise
            log.warning("audit guard trigger(s) missing and not put back (%s): %s", ", ".join(missing),
                        type(exc).__name__)
            return []
    return missing
