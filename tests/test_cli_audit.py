"""``infoshare audit verify|purge|mine`` and ``infoshare digest`` as a user runs them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from bot.cli import cli
from storage import audit
from storage.db import open_db

WHEN = datetime(2026, 11, 17, 10, 0, tzinfo=timezone.utc)  # Tuesday of 2026-W47


def row(user="U0CLI00001", outcome="share", channel="console", reason="Consent given"):
    return {"user_id": user, "channel": channel, "conversation_id": "c1", "pack_id": "hmg-2018",
            "pack_version": "1.0.0", "answers": [["immediate_risk", "no"]], "outcome": outcome,
            "kind": "decision", "record": {"reason": reason, "case_ref": "CR-9"}}


@pytest.fixture
def db_path(tmp_path):
    path = tmp_path / "cli.db"
    db = open_db(path)
    audit.ensure_schema(db)
    for i in range(4):
        audit.append_decision(db, row(outcome=["share", "do_not_share"][i % 2]), now=WHEN + timedelta(hours=i))
    audit.append_decision(db, row(user="U0OTHER002", reason="Someone else's"), now=WHEN)
    audit.append_decision(db, row(), now=WHEN - timedelta(days=800))
    return path


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input)


def test_commands_are_registered_with_help():
    result = run("audit", "--help")
    assert result.exit_code == 0 and all(c in result.output for c in ("verify", "purge", "mine", "recount"))
    for path in (["audit", "verify"], ["audit", "purge"], ["audit", "mine"], ["audit", "recount"], ["digest"]):
        result = run(*path, "--help")
        assert result.exit_code == 0 and "--db" in result.output and "--config" in result.output, path


def test_verify_ok(db_path):
    result = run("audit", "verify", "--db", db_path)
    assert result.exit_code == 0
    assert result.output == f"ok: 6 rows verified; chain head {audit.chain_head(open_db(db_path))}\n"


def test_verify_names_the_first_bad_row(db_path):
    db = open_db(db_path)
    for name in audit.TRIGGERS:
        db.conn.execute(f"DROP TRIGGER {name}")
    db.conn.execute("UPDATE decisions SET outcome = 'share' WHERE seq = 2")
    result = run("audit", "verify", "--db", db_path)
    assert result.exit_code == 1
    assert "record NOT verified: row 2 (ISD-2026-000002): its fields were changed" in result.output
    assert "warning: guard trigger(s) missing" in result.output
    assert "Traceback" not in result.output


def test_changed_counts_fail_verify_until_recount(db_path):
    open_db(db_path).conn.execute("UPDATE decision_counts SET n = n + 1")
    result = run("audit", "verify", "--db", db_path)
    assert result.exit_code == 1 and "summary counts for" in result.output and "infoshare audit recount" in result.output
    result = run("audit", "recount", "--db", db_path)
    assert result.exit_code == 0 and result.output == "per-day counts rebuilt from the record\n"
    assert run("audit", "verify", "--db", db_path).exit_code == 0


def test_verify_against_a_published_head(db_path):
    assert run("audit", "verify", "--db", db_path, "--head", audit.chain_head(open_db(db_path))).exit_code == 0
    result = run("audit", "verify", "--db", db_path, "--head", "ab" * 32)
    assert result.exit_code == 1 and "is not in the chain" in result.output


def test_verify_json(db_path):
    result = run("audit", "verify", "--db", db_path, "--json")
    assert json.loads(result.output)["ok"] is True and json.loads(result.output)["rows"] == 6


def test_a_missing_database_is_a_clear_error(tmp_path):
    for args in (["audit", "verify"], ["audit", "mine", "--user", "U1"], ["digest"], ["audit", "purge"]):
        result = run(*args, "--db", tmp_path / "typo.db")
        assert result.exit_code == 2 and "no database at" in result.output, args
        assert not (tmp_path / "typo.db").exists()


def test_purge_asks_first_and_records_itself(db_path):
    result = run("audit", "purge", "--older-than", "365", "--db", db_path, input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert audit.get_decision(open_db(db_path), "ISD-2024-000006")["record"] is not None
    result = run("audit", "purge", "--older-than", "365", "--db", db_path, "--dry-run")
    assert result.exit_code == 0 and result.output.startswith("1 decision(s) recorded before")
    result = run("audit", "purge", "--older-than", "365", "--db", db_path, input="y\n")
    assert result.exit_code == 0 and "purged 1 decision(s)" in result.output and "ISD-2026-000007" in result.output
    db = open_db(db_path)
    assert audit.get_decision(db, "ISD-2024-000006")["record"] is None
    assert audit.get_decision(db, "ISD-2026-000007")["kind"] == "purge"
    assert run("audit", "verify", "--db", db_path).exit_code == 0


def test_purge_default_comes_from_the_configuration(db_path, tmp_path):
    config = tmp_path / "infoshare.toml"
    config.write_text("[retention]\ndays = 3650\n")
    result = run("audit", "purge", "--db", db_path, "--config", config, "--yes")
    assert result.exit_code == 0 and result.output.startswith("nothing to purge")
    config.write_text("[retention]\ndays = 30\n")
    result = run("audit", "purge", "--db", db_path, "--config", config, "--yes")
    assert result.exit_code == 0 and "purged 1 decision(s)" in result.output


@pytest.mark.parametrize("days", ["0", "-3"])
def test_purge_refuses_a_senseless_period(db_path, days):
    result = run("audit", "purge", "--older-than", days, "--db", db_path, "--yes")
    assert result.exit_code == 2 and "at least 1" in result.output


def test_a_bad_config_file_is_a_clear_error(db_path, tmp_path):
    result = run("audit", "verify", "--db", db_path, "--config", tmp_path / "nope.toml")
    assert result.exit_code == 2 and "configuration file not found" in result.output


def test_mine_shows_only_mine(db_path):
    result = run("audit", "mine", "--user", "U0CLI00001", "--db", db_path, "--limit", "3")
    lines = result.output.splitlines()
    assert result.exit_code == 0 and len(lines) == 3
    assert lines[0] == "ISD-2024-000006  2024-09-08T10:00:00Z  hmg-2018  share  case CR-9"  # appended last
    assert lines[1] == "ISD-2026-000004  2026-11-17T13:00:00Z  hmg-2018  do_not_share  case CR-9"
    assert "Someone else" not in run("audit", "mine", "--user", "U0CLI00001", "--db", db_path, "--json").output
    result = run("audit", "mine", "--user", "U0CLI00001", "--channel", "slack", "--db", db_path)
    assert result.output == "no decisions recorded by U0CLI00001 on slack\n"


def test_digest_markdown_json_csv_and_chart(db_path, tmp_path):
    result = run("digest", "--week", "2026-W47", "--db", db_path)
    assert result.exit_code == 0
    assert result.output.startswith("# Information sharing digest: week 2026-W47")
    assert "| Do not share | 2 | 0 | +2 |" in result.output
    d = json.loads(run("digest", "--week", "2026-W47", "--format", "json", "--db", db_path).output)
    assert (d["week"], d["total"], d["verified"]) == ("2026-W47", 5, True)
    assert d["by_outcome"] == {"share": 3, "do_not_share": 2, "seek_advice": 0, "urgent_action": 0}
    assert d["chain_head"] == audit.chain_head(open_db(db_path))
    text = run("digest", "--since", "2026-11-17", "--until", "2026-11-17", "--format", "csv", "--db", db_path).output
    assert "total,decisions,5,0\n" in text
    chart = tmp_path / "week.png"
    result = run("digest", "--week", "2026-W47", "--db", db_path, "--chart", chart, "--no-verify")
    assert result.exit_code == 0 and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["--week", "2026-W99"], "2026 has no week 99"),
    (["--week", "last"], "week must look like 2026-W47"),
    (["--since", "2026-11-20", "--until", "2026-11-01"], "is before --since"),
    (["--week", "2026-W47", "--since", "2026-11-01"], "not both"),
    (["--format", "pdf"], "Invalid value for '--format'"),
])
def test_digest_bad_input(db_path, args, message):
    result = run("digest", *args, "--db", db_path)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_db_from_the_environment(db_path, monkeypatch):
    monkeypatch.setenv("INFOSHARE_DB", str(db_path))
    assert run("audit", "verify").exit_code == 0


def test_purge_also_deletes_unanswered_questions_past_their_retention(db_path, tmp_path):
    from storage import gaps
    db = open_db(db_path)
    gaps.record_unanswered(db, pack_id="hmg-2018", question="something old", channel="console",
                           best_topic=None, score=0.0, now=datetime.now(timezone.utc) - timedelta(days=45))
    config = tmp_path / "infoshare.toml"
    config.write_text("[retention]\ndays = 3650\nunanswered_days = 30\n")
    result = run("audit", "purge", "--db", db_path, "--config", config, "--dry-run")
    assert result.exit_code == 0 and "1 unanswered question(s) older than 30 days would be deleted" in result.output
    result = run("audit", "purge", "--db", db_path, "--config", config, "--yes")
    assert result.exit_code == 0 and "deleted 1 unanswered question(s)" in result.output
    assert open_db(db_path).execute("select count(*) from unanswered").fetchone()[0] == 0
    config.write_text("[retention]\nunanswered_days = 0\n")
    result = run("audit", "purge", "--db", db_path, "--config", config, "--yes")
    assert result.exit_code == 2 and "unanswered_days must be at least 1" in result.output
