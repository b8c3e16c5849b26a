"""Durability: a row the user was told about survives SIGKILL; concurrent writers lose nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storage import audit
from storage.db import open_db

ROOT = Path(__file__).parents[1]

WRITER = """
import sys, time
from pathlib import Path
from storage import audit
from storage.db import open_db
path, count, label, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
db = open_db(path)
audit.ensure_schema(db)
while go != "-" and not Path(go).exists():
    time.sleep(0.005)
for i in range(count):
    row = audit.append_decision(db, {
        "user_id": "U0PROC" + label, "channel": "slack", "conversation_id": f"c-{label}-{i}",
        "pack_id": "hmg-2018", "pack_version": "1.0.0", "answers": [["immediate_risk", "no"]],
        "outcome": "share", "kind": "decision", "record": {"reason": f"made-up {label} {i}"}})
    print("recorded", row["ref"], flush=True)
"""


def writer(path, count, label, go="-"):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(count), label, str(go)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def decision(user, i):
    return {"user_id": user, "channel": "teams", "conversation_id": f"{user}-{i}", "pack_id": "wirral",
            "pack_version": "1.0.0", "answers": [["immediate_risk", "no"], ["purpose", "yes"]],
            "outcome": "do_not_share", "kind": "decision", "record": {"reason": f"made-up reason {i}"}}


def test_a_row_reported_recorded_survives_sigkill(tmp_path):
    path = tmp_path / "kill.db"
    proc = writer(path, 10_000, "K")
    told = []
    try:
        while len(told) < 40:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            told.append(line.split()[1])
        proc.send_signal(signal.SIGKILL)  # mid-way through the next append
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    db = open_db(path)
    for ref in told:
        assert audit.get_decision(db, ref) is not None, ref
    result = audit.verify_chain(db)
    assert result.ok and result.rows >= len(told)


def test_threads_each_with_a_connection_lose_nothing(tmp_path):
    path = tmp_path / "threads.db"
    audit.ensure_schema(open_db(path))
    errors, refs = [], []

    def work(n):
        db = open_db(path)
        try:
            for i in range(25):
                refs.append(audit.append_decision(db, decision(f"U0THREAD{n:02d}", i))["ref"])
        except Exception as exc:  # pragma: no cover - what the test is looking for
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    db = open_db(path)
    assert len(set(refs)) == 200
    assert [r[0] for r in db.conn.execute("SELECT seq FROM decisions ORDER BY seq")] == list(range(1, 201))
    assert audit.verify_chain(db).ok


def test_threads_sharing_one_connection_lose_nothing(tmp_path):
    db = open_db(tmp_path / "shared.db")
    audit.ensure_schema(db)
    errors = []

    def work(n):
        try:
            for i in range(20):
                audit.append_decision(db, decision(f"U0SHARE{n:02d}", i))
                audit.my_decisions(db, f"U0SHARE{n:02d}", "teams")
        except Exception as exc:  # pragma: no cover
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    result = audit.verify_chain(db)
    assert result.ok and result.rows == 120


def test_several_processes_at_once_lose_nothing_and_never_see_locked(tmp_path):
    path = tmp_path / "procs.db"
    audit.ensure_schema(open_db(path))
    go = tmp_path / "go"
    procs = [writer(path, 40, f"P{n}", go) for n in range(4)]
    time.sleep(0.5)  # let them all open the database, then start them together
    go.touch()
    told = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "locked" not in err
        told += [line.split()[1] for line in out.splitlines()]
    assert len(told) == len(set(told)) == 160
    db = open_db(path)
    result = audit.verify_chain(db)
    assert result.ok and result.rows == 160
    assert {r[0] for r in db.conn.execute("SELECT ref FROM decisions")} == set(told)


def test_verify_while_another_process_appends(tmp_path):
    path = tmp_path / "busy.db"
    db = open_db(path)
    audit.ensure_schema(db)
    proc = writer(path, 300, "V")
    try:
        assert proc.stdout.readline().startswith("recorded")  # it is appending now
        results = []
        while proc.poll() is None and len(results) < 200:
            results.append(audit.verify_chain(db, record_check=False))
        assert results and all(r.ok for r in results), [r.problem for r in results if not r.ok]
    finally:
        proc.communicate(timeout=120)
    assert len(results) > 1
    assert audit.verify_chain(db).rows == 300


@pytest.mark.parametrize("setting", ["wal", "full"])
def test_the_store_runs_with_wal_and_synchronous_full(tmp_path, setting):
    db = open_db(tmp_path / "p.db")
    audit.ensure_schema(db)
    if setting == "wal":
        assert db.conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    else:
        assert db.conn.execute("pragma synchronous").fetchone()[0] == 2  # FULL


def test_a_new_file_opens_while_another_connection_is_writing_to_it(tmp_path):
    """Two servers started together on a new file: one is creating its tables (holding the write
    lock, the file not yet in WAL) when the other switches it to WAL. SQLite refuses that switch
    at once, without its busy timeout; the second server must wait for the lock, not exit."""
    path = tmp_path / "new.db"
    first = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    first.execute("CREATE TABLE made_up (x)")
    first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO made_up VALUES (1)")
    threading.Timer(0.3, lambda: first.execute("COMMIT")).start()
    db = open_db(path)
    assert db.conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert db.conn.execute("SELECT x FROM made_up").fetchall() == [(1,)]


OPENER = """
import sys, time
from storage.db import open_db
from storage.migrations import migrate
path, start = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, start - time.time() - 0.02))
while time.time() < start:
    pass
migrate(open_db(path))
"""


def test_several_processes_opening_one_new_file_at_once_all_open_it(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for n in range(6):
        path, start = tmp_path / f"new-{n}.db", time.time() + 0.4
        procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(path), str(start)], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        assert open_db(path).conn.execute("pragma journal_mode").fetchone()[0] == "wal"
