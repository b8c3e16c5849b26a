"""Bad database files, configuration and server addresses: one line naming the problem, exit 2,
never a traceback; and ``audit verify`` on a damaged or read-only file (issue 13, item 4)."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from storage import audit
from storage.db import DatabaseProblem, open_db

ROOT = Path(__file__).parents[1]


def infoshare(*args, env=None, cwd=None, timeout=120):
    return subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", *map(str, args)],
                          cwd=cwd or ROOT, env={**os.environ, **(env or {})}, input="", capture_output=True,
                          text=True, timeout=timeout)


def one_line_exit_2(out, *words):
    assert out.returncode == 2, (out.returncode, out.stderr[-500:])
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("kind, words", [
    ("directory", ["is a directory"]),
    ("missing folder", ["does not exist"]),
    ("not sqlite", ["not an SQLite database"]),
])
def test_a_bad_database_file_is_one_line_and_exit_2(tmp_path, kind, words):
    path = {"directory": tmp_path, "missing folder": tmp_path / "nowhere" / "x.db",
            "not sqlite": tmp_path / "notes.db"}[kind]
    if kind == "not sqlite":
        path.write_text("meeting notes, not a database\n" * 50)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    out = infoshare("chat", "--pack", "wirral", env={"INFOSHARE_DB": str(path), "HOME": str(tmp_path)})
    one_line_exit_2(out, str(path), *words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created or changed
    if kind == "not sqlite":
        assert path.read_text().startswith("meeting notes")


def test_open_db_refuses_a_read_only_file_for_writing_and_opens_it_to_read(tmp_path, monkeypatch):
    path = tmp_path / "ro.db"
    db = open_db(path)
    audit.ensure_schema(db)
    db.conn.close()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == path and mode == os.W_OK else real(p, mode))
    with pytest.raises(DatabaseProblem, match="read-only"):
        open_db(path)
    ro = open_db(path, readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        ro.conn.execute("CREATE TABLE x (y)")


def audit_db(path: Path) -> Path:
    db = open_db(path)
    audit.ensure_schema(db)
    when = datetime(2026, 11, 17, 10, 0, tzinfo=timezone.utc)
    for i in range(300):
        audit.append_decision(db, {"user_id": "U0BAD0001", "channel": "console", "conversation_id": "c1",
                                   "pack_id": "hmg-2018", "pack_version": "1.0.0",
                                   "answers": [["immediate_risk", "no"]], "outcome": "share", "kind": "decision",
                                   "record": {"reason": f"made-up reason number {i} " * 4, "case_ref": f"CR-{i}"}},
                              now=when + timedelta(minutes=i))
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    return path


def test_verify_reads_a_read_only_file_without_writing_to_it(tmp_path, monkeypatch):
    path = audit_db(tmp_path / "ro.db")
    before = path.read_bytes()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == path and mode == os.W_OK else real(p, mode))
    result = CliRunner().invoke(cli, ["audit", "verify", "--db", str(path)])
    assert result.exit_code == 0 and "ok: 300 rows verified" in result.output
    assert path.read_bytes() == before


def test_a_corrupt_page_never_reads_ok(tmp_path):
    path = audit_db(tmp_path / "damaged.db")
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    pages = len(data) // page
    middle = (pages // 2) * page
    data[middle + 8:middle + 400] = b"\xab" * 392  # scribble over a page of decisions
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["audit", "verify", "--db", str(path)])
    assert result.exit_code != 0
    assert "ok:" not in result.output and "NOT verified" in result.output


@pytest.mark.parametrize("toml, words", [
    ('[digest]\nlead_dms = "false"\n', ["[digest] lead_dms", "true or false", "'false'"]),
    ('[leads]\nslack = "U0123ABCD"\n', ["[leads] slack", "a list of strings"]),
    ('default_pack = "atlantis"\n', ["default_pack", "'atlantis'", "not an installed pack"]),
    ('[retention]\ndays = "30"\n', ["[retention] days", "a whole number"]),
    ('[contacts]\ndsl = 1234\n', ["[contacts] dsl", "a string"]),
])
def test_configuration_types_are_checked_and_each_message_names_the_key(tmp_path, toml, words):
    cfg = tmp_path / "infoshare.toml"
    cfg.write_text(toml)
    out = infoshare("chat", "--db", tmp_path / "x.db", "--config", cfg, env={"HOME": str(tmp_path)})
    one_line_exit_2(out, *words)
    assert not (tmp_path / "x.db").exists()


def test_serve_on_a_port_in_use_or_a_host_that_does_not_resolve_is_one_line(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = infoshare("serve", "--dev", "--host", "127.0.0.1", "--port", port, "--db", tmp_path / "s.db",
                        env={"HOME": str(tmp_path)})
        one_line_exit_2(out, f"127.0.0.1:{port}")
    out = infoshare("serve", "--host", "no-such-host.invalid", "--port", "0", "--db", tmp_path / "s.db",
                    env={"HOME": str(tmp_path)})
    one_line_exit_2(out, "no-such-host.invalid", "does not resolve")


@pytest.mark.parametrize("url, words", [
    ("mysql://u@h/db", ["mysql://", "not a database this version knows", "postgresql://"]),
    ("postgresql://infoshare:s3cret@no-such-host.invalid/infoshare",
     ["postgresql://infoshare:***@no-such-host.invalid/infoshare", "no-such-host.invalid"]),
    ("postgres://u@127.0.0.1:1/db", ["postgres://u@127.0.0.1:1/db", "refused"]),
])
def test_a_database_url_that_cannot_be_used_is_one_line_and_creates_no_file(tmp_path, url, words):
    for how in (["chat", "--db", url], ["chat"]):  # --db, or INFOSHARE_DB
        out = infoshare(*how, env={"INFOSHARE_DB": url}, cwd=tmp_path)
        one_line_exit_2(out, *words)
        assert "s3cret" not in out.stderr + out.stdout  # the password is never printed
    assert list(tmp_path.iterdir()) == []  # no file named after the URL


def test_a_sqlite_url_names_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    audit.ensure_schema(open_db("sqlite:///record.db"))
    assert (tmp_path / "record.db").is_file()
