"""The two engines a storage test runs over: a SQLite file, and a fresh database on the real
PostgreSQL server the tests start (``pg_database`` in conftest.py). A test module says
``db = both_engines()`` to run every test of it on each."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from storage import audit
from storage.db import dialect, open_db
from storage.migrations import GUARDS

ENGINES = ("sqlite", "postgresql")

INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.errors.IntegrityError)
"""What a guard trigger raises, on either engine."""


def open_store(request, tmp_path, engine: str):
    """A fresh store with the audit schema on ``engine``."""
    if engine == "postgresql":
        db = open_db(request.getfixturevalue("pg_database"))
        request.addfinalizer(db.close)
    else:
        db = open_db(tmp_path / "infoshare.db")
    audit.ensure_schema(db)
    return db


def both_engines():
    """A ``db`` fixture run once on SQLite and once on PostgreSQL."""
    @pytest.fixture(params=ENGINES)
    def db(request, tmp_path):
        return open_store(request, tmp_path, request.param)
    return db


def drop_guards(db) -> None:
    """What a forger with the owner's rights does first: drop the chain's guard triggers."""
    on = " ON decisions" if dialect(db) == "postgresql" else ""
    for name in GUARDS[dialect(db)]:
        db.conn.execute(f"DROP TRIGGER IF EXISTS {name}{on}")


def set_top(db, seq: int) -> None:
    """Rewrite the highest seq ever appended (SQLite's sqlite_sequence, PostgreSQL's audit_sequence)."""
    table = "audit_sequence" if dialect(db) == "postgresql" else "sqlite_sequence"
    db.conn.execute(f"UPDATE {table} SET seq = ? WHERE name = 'decisions'", [seq])


def dump(db) -> str:
    """Everything the store holds, as text (to show a secret is in none of it)."""
    if dialect(db) == "sqlite":
        return "\n".join(db.conn.iterdump())
    tables = [r[0] for r in db.execute("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = current_schema()").fetchall()]
    return "\n".join(str(row) for t in tables for row in db.execute(f"SELECT * FROM {t}").fetchall())


def columns(db, table: str) -> list[str]:
    """The column names of ``table``."""
    return [d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0").description]
