"""Nested transactions are savepoints of one name: each undoes exactly its own writes."""

from __future__ import annotations

import pytest

from storage.db import open_db, transaction


def rows(db):
    return [r[0] for r in db.execute("select x from t order by x").fetchall()]


def test_a_failing_savepoint_undoes_its_own_writes_and_those_inside_it_only(tmp_path):
    db = open_db(tmp_path / "t.db")
    db.execute("create table t (x)")
    with transaction(db) as conn:
        conn.execute("insert into t values (1)")
        with pytest.raises(RuntimeError):
            with transaction(db):
                conn.execute("insert into t values (2)")
                with transaction(db):
                    conn.execute("insert into t values (3)")
                raise RuntimeError("undo 2 and 3")
        with transaction(db):
            conn.execute("insert into t values (4)")
            with pytest.raises(RuntimeError):
                with transaction(db):
                    conn.execute("insert into t values (5)")
                    raise RuntimeError("undo 5")
            conn.execute("insert into t values (6)")
    assert rows(db) == [1, 4, 6]
    assert not db.conn.in_transaction


def test_savepoint_statements_are_the_same_text_every_time(tmp_path):
    """One name for every savepoint, so SQLite parses SAVEPOINT and RELEASE once per connection."""
    db = open_db(tmp_path / "t.db")
    seen = []
    db.conn.set_trace_callback(seen.append)
    for _ in range(3):
        with transaction(db), transaction(db), transaction(db):
            pass
    db.conn.set_trace_callback(None)
    assert sorted(set(seen)) == ["BEGIN IMMEDIATE", "COMMIT", "RELEASE nested", "SAVEPOINT nested"]
