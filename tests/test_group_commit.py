"""Turns queued together share one durable commit, each still all-or-nothing (issue 13, item 8)."""

from __future__ import annotations

import threading

import pytest
from stores import ENGINES, open_store

from dialogs.engine import Engine
from dialogs.events import Event
from storage import conversations
from storage.db import GroupCommit, open_db


@pytest.mark.parametrize("engine_kind", ENGINES)
def test_turns_queued_while_one_runs_share_one_commit_and_a_failing_one_leaves_no_trace(
        request, tmp_path, engine_kind):
    engine = Engine(open_store(request, tmp_path, engine_kind))  # a SQLite file, or PostgreSQL
    statements: list[str] = []
    if engine_kind == "sqlite":
        engine.db.conn.set_trace_callback(statements.append)
    commits = GroupCommit(engine.db)
    users = [f"U0GROUP{i:02d}" for i in range(6)]

    def boom():
        conversations.seen_event(engine.db, "made-up:doomed")
        raise RuntimeError("made-up failure in one turn")

    hold = threading.Event()
    commits.submit(hold.wait, 30)  # hold the worker back so that every turn queues behind this
    futures = [commits.submit(engine.handle, "slack", f"D{u[1:]}", u, Event("start", "hmg-2018"), f"k-{u}")
               for u in users[:3]]
    futures.append(commits.submit(boom))
    futures += [commits.submit(engine.handle, "slack", f"D{u[1:]}", u, Event("start", "hmg-2018"), f"k-{u}")
                for u in users[3:]]
    hold.set()
    results = [f.exception(timeout=30) or f.result() for f in futures]
    commits.close()
    assert isinstance(results[3], RuntimeError)
    assert all(r[-1].kind == "question" for i, r in enumerate(results) if i != 3)
    if engine_kind == "sqlite":
        assert statements.count("COMMIT") <= 2  # (the held piece may have committed alone)
    db = engine.db
    assert db.execute("select count(*) from conversations").fetchone()[0] == 6
    assert not conversations.was_seen(db, "made-up:doomed")
    assert all(conversations.was_seen(db, f"k-{u}") for u in users)


def test_a_commit_that_fails_fails_every_turn_of_its_batch(db_path):
    db = open_db(db_path)
    conversations.ensure_schema(db)
    commits = GroupCommit(db)
    other = open_db(db_path)
    other.conn.execute("pragma busy_timeout = 0")
    db.conn.execute("pragma busy_timeout = 0")
    other.conn.execute("BEGIN IMMEDIATE")  # another server holds the write lock: BEGIN IMMEDIATE fails
    try:
        future = commits.submit(conversations.seen_event, db, "made-up:key")
        with pytest.raises(Exception, match="locked"):
            future.result(timeout=30)
    finally:
        other.conn.execute("ROLLBACK")
    assert commits.submit(conversations.seen_event, db, "made-up:key").result(timeout=30) is False
    commits.close()
    assert conversations.was_seen(open_db(db_path), "made-up:key")

