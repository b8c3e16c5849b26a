"""PostgreSQL as the store (issue 15), on the tests' own server: the application role that cannot
alter a decision, moving a SQLite store across with its chain, migrations, and what users and
the load balancer see while the database is down."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from test_audit import decision

from bot.console import Console
from bot.server import Channels, build_app
from dialogs.engine import Engine
from storage import audit, gaps
from storage.db import DatabaseProblem, open_db
from storage.digest import build_digest
from storage.migrations import LATEST, migrate, schema_version

ROOT = Path(__file__).resolve().parents[1]
ROLES = ROOT / "storage" / "migrations" / "roles_postgresql.sql"


def infoshare(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bot", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "INFOSHARE_CONFIG": "", **(env or {})}, timeout=300)


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


# --- the application role ------------------------------------------------------------------------

@pytest.fixture
def app_url(postgres_server, pg_database):
    """The store migrated by its owner, and the documented application role's URL for it."""
    owner = open_db(pg_database)
    audit.ensure_schema(owner)
    owner.close()
    # as psql -v app_password=... -f roles_postgresql.sql would run it
    roles = "\n".join(line for line in ROLES.read_text().splitlines() if not line.startswith("--"))
    for statement in roles.replace(":app_password", "'made-up-secret'").split(";"):
        if statement.strip():
            postgres_server.execute(statement, database=pg_database)
    yield postgres_server.url_for(name_of(pg_database), user="infoshare_app")
    postgres_server.drop_database(name_of(pg_database))  # the role holds rights there until then
    postgres_server.execute("DROP ROLE infoshare_app")


def test_the_application_role_records_reads_and_purges_but_cannot_alter_a_decision(app_url):
    db = open_db(app_url)
    assert migrate(db) == [] and schema_version(db) == LATEST  # nothing to create: no DDL needed
    old = datetime.now(timezone.utc) - timedelta(days=400)
    for i in range(3):
        audit.append_decision(db, decision(), now=old + timedelta(hours=i))
    audit.append_decision(db, decision(outcome="do_not_share"))
    assert audit.purge(db, 365)["purged"] == 3  # the purge path is open to it
    assert audit.verify_chain(db).ok
    for sql in ("DELETE FROM decisions WHERE seq = 4", "TRUNCATE decisions",
                "UPDATE decisions SET outcome = 'share' WHERE seq = 4",
                "UPDATE decisions SET hash = 'x' WHERE seq = 4",
                "DELETE FROM decision_counts", "UPDATE audit_sequence SET seq = 1",
                "DROP TRIGGER decisions_no_delete ON decisions",
                "ALTER TABLE decisions DISABLE TRIGGER USER"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute(sql)
    # the one kind of UPDATE it may make, emptying detail, only through a recorded purge
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
        db.execute("UPDATE decisions SET record = NULL WHERE seq = 4")
    result = audit.verify_chain(db)
    assert result.ok and result.rows == 5 and result.warnings == []
    assert audit.get_decision(db, "ISD-" + datetime.now(timezone.utc).strftime("%Y") + "-000004")["outcome"] == \
        "do_not_share"
    db.close()


# --- the schema's migrations ---------------------------------------------------------------------

def test_migrations_run_once_and_a_newer_schema_is_refused(pg_database, postgres_server):
    db = open_db(pg_database)
    assert migrate(db) == [1]
    again = open_db(pg_database)
    assert migrate(again) == [] and schema_version(again) == 1
    out = infoshare("db", "migrate", "--db", pg_database)
    assert out.returncode == 0 and "up to date: the schema is at version 1" in out.stdout
    postgres_server.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 'x')", database=pg_database)
    with pytest.raises(DatabaseProblem, match="version 99, newer than"):
        migrate(open_db(pg_database))
    for d in (db, again):
        d.close()


def test_a_dropped_guard_is_put_back_at_open_and_its_absence_was_reported(pg_database, postgres_server):
    db = open_db(pg_database)
    audit.ensure_schema(db)
    audit.append_decision(db, decision())
    postgres_server.execute("ALTER TABLE decisions DISABLE TRIGGER decisions_no_delete", database=pg_database)
    assert any("decisions_no_delete" in w for w in audit.verify_chain(db).warnings)
    audit.ensure_schema(open_db(pg_database))  # the next start
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation):
        db.execute("DELETE FROM decisions")
    assert audit.verify_chain(db).warnings == []
    db.close()


# --- moving a SQLite store across -----------------------------------------------------------------

def sqlite_store(path: Path):
    db = open_db(path)
    audit.ensure_schema(db)
    old = datetime.now(timezone.utc) - timedelta(days=400)
    for i in range(6):
        audit.append_decision(db, decision(outcome=("share", "do_not_share")[i % 2]), now=old + timedelta(days=i))
    audit.purge(db, 390)
    for outcome in ("seek_advice", "urgent_action", "share"):
        audit.append_decision(db, decision(outcome=outcome, record={"reason": f"Made-up reason: {outcome}"}))
    gaps.record_unanswered(db, pack_id="hmg-2018", question="can I text a made-up foster carer?",
                           channel="slack", best_topic=None, score=0.2)
    gaps.record_asked(db, pack_id="hmg-2018", topic="golden-rules", channel="teams")
    audit.verify_chain(db)
    return db


def test_db_copy_moves_the_store_with_its_chain_and_the_copy_verifies_to_the_same_head(tmp_path, pg_database):
    source = sqlite_store(tmp_path / "infoshare.db")
    head, rows = audit.chain_head(source), audit.verify_chain(source, record_check=False).rows
    out = infoshare("db", "copy", "--from", tmp_path / "infoshare.db", "--to", pg_database)
    assert out.returncode == 0, out.stderr
    assert f"ok: {rows} audit rows copied and verified; chain head {head}" in out.stdout
    out = infoshare("audit", "verify", "--db", pg_database, "--head", head)
    assert out.returncode == 0 and f"ok: {rows} rows verified; chain head {head}" in out.stdout
    out = infoshare("digest", "--db", pg_database, "--format", "json", "--since", "2000-01-01")
    digest = json.loads(out.stdout)
    assert out.returncode == 0 and digest["verified"] is True and digest["chain_head"] == head
    assert digest["total"] == 9 and digest["unanswered"][0]["question"].startswith("can I text")
    target = open_db(pg_database)
    mine, theirs = build_digest(source, verify=False), build_digest(target, verify=False)
    for key in ("total", "by_outcome", "by_pack", "by_day", "attention", "do_not_share_reasons", "top_topics",
                "unanswered", "chain_head"):
        assert mine[key] == theirs[key], key
    # the copy goes on as the source would have: the next decision extends the same chain
    nxt = audit.append_decision(target, decision())
    assert nxt["seq"] == rows + 1 and nxt["prev_hash"] == head and audit.verify_chain(target).ok
    again = infoshare("db", "copy", "--from", tmp_path / "infoshare.db", "--to", pg_database)
    assert again.returncode == 2 and "already holds decisions" in again.stderr
    assert audit.verify_chain(target).rows == rows + 1  # refused: nothing added
    target.close()


def test_a_copy_of_a_tampered_store_is_refused_and_nothing_is_copied(tmp_path, pg_database):
    source = sqlite_store(tmp_path / "infoshare.db")
    source.conn.execute("DROP TRIGGER decisions_no_update")
    source.conn.execute("UPDATE decisions SET outcome = 'share' WHERE seq = 8")
    source.conn.close()
    out = infoshare("db", "copy", "--from", tmp_path / "infoshare.db", "--to", pg_database)
    assert out.returncode == 2 and "does not verify" in out.stderr and "nothing was copied" in out.stderr
    target = open_db(pg_database)
    assert target.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
    target.close()


# --- the database down -----------------------------------------------------------------------------

class Outage:
    """Takes the test's database away (new connections refused, open ones ended) and back."""

    def __init__(self, server, url):
        self.server, self.name = server, name_of(url)

    def begin(self):
        self.server.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self.server.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                            [self.name])

    def end(self):
        self.server.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


class Lines(io.StringIO):
    """Console input that runs ``before[n]`` just before handing out line ``n``."""

    def __init__(self, lines, before):
        super().__init__()
        self.lines, self.before, self.n = list(lines), before, 0

    def readline(self, *a):
        if self.n in self.before:
            self.before[self.n]()
        self.n += 1
        return self.lines[self.n - 1] + "\n" if self.n <= len(self.lines) else ""


async def test_while_the_database_is_down_healthz_says_so_users_are_asked_to_retry_and_nothing_is_half_written(
        pg_database, postgres_server, monkeypatch, aiohttp_client_factory):
    monkeypatch.setenv("INFOSHARE_DB_TIMEOUT", "2")
    db = open_db(pg_database)
    engine = Engine(db)
    client = await aiohttp_client_factory(build_app(Channels(db=db)))
    healthy = await client.get("/healthz")
    assert healthy.status == 200 and (await healthy.json())["database"] == "ok"
    outage = Outage(postgres_server, pg_database)
    out = io.StringIO()
    # start, answer No, then the database goes away before the second answer
    Console(engine, "U0DOWN0001", out).run("hmg-2018", Lines(["no", "yes", "yes"], {1: outage.begin}))
    shown = out.getvalue()
    assert "Sorry, something went wrong on my side. Nothing was changed. Please try again" in shown
    down = await client.get("/healthz")
    body = await down.json()
    assert down.status == 503 and body["status"] == "unavailable" and body["database"] not in ("", "ok")
    outage.end()
    up = await client.get("/healthz")
    assert up.status == 200 and (await up.json())["database"] == "ok"
    # back: the walk is where the last completed turn left it (after "no"), and goes on from there
    state = json.loads(db.execute("SELECT state FROM conversations").fetchone()[0])
    assert (state["phase"], state["history"]) == ("walk", [["immediate_risk", "no"]])
    assert db.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
    replies = engine.current("console", "local", "U0DOWN0001")
    assert replies[-1].kind == "question"
    db.close()


@pytest.fixture
async def aiohttp_client_factory():
    """aiohttp's test client for an application, closed after the test."""
    from aiohttp.test_utils import TestClient, TestServer
    clients = []

    async def make(app):
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
