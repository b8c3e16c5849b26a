"""The console chat driven in a real subprocess with scripted input, to a recorded decision."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from storage import audit
from storage.db import open_db

ROOT = Path(__file__).parents[1]


def run_chat(db: Path, script: list[str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INFOSHARE_DB": str(db), "INFOSHARE_CONFIG": ""}
    env.pop("INFOSHARE_CONFIG")
    return subprocess.run([sys.executable, "-m", "bot", "chat", "--user", "tester", *args],
                          input="\n".join(script) + "\n", capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=60)


def test_a_new_user_walks_to_a_recorded_decision(tmp_path):
    db = tmp_path / "chat.db"
    script = ["2",      # immediate risk: No
              "1",      # purpose: Yes
              "1",      # consent: Yes -> share
              "1",      # Record this decision
              "1,2",    # categories
              "1", "1", "1",       # recipient, purpose, lawful basis
              "3", "skip",         # no special category data; no confidentiality override (optional)
              "1",                 # told: yes
              "CASE-1234",         # case reference
              "Consent given in writing; referral to the front door.",
              "1",      # Confirm and record
              "quit"]
    result = run_chat(db, script, "--pack", "hmg-2018")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Is a child at immediate risk of harm right now?" in out
    assert "1) Yes   2) No   3) Not sure" in out
    assert "How to share:" in out
    m = re.search(r"Your decision reference is (\S+)\.", out)
    assert m, out[-2000:]
    row = audit.get_decision(open_db(db), m.group(1))
    assert row["outcome"] == "share" and row["user_id"] == "tester" and row["channel"] == "console"
    assert row["record"]["case_ref"] == "CASE-1234"
    assert row["record"]["special_category"] == "not_special" and not row["record"].get("confidentiality_override")
    assert "Traceback" not in result.stderr


def test_quitting_and_coming_back_resumes_at_the_same_question(tmp_path):
    db = tmp_path / "chat.db"
    first = run_chat(db, ["no", "yes", "quit"], "--pack", "wales")
    assert "Goodbye. Your place is saved." in first.stdout
    again = run_chat(db, ["where", "quit"])
    assert "Resuming where you left off." in again.stdout
    tail = again.stdout.split("Resuming where you left off.")[1]
    assert "Question 3" in tail


def test_unknown_pack_is_a_clear_error(tmp_path):
    result = run_chat(tmp_path / "x.db", ["quit"], "--pack", "atlantis")
    assert result.returncode == 2
    assert "unknown pack 'atlantis'" in result.stderr
    assert "Traceback" not in result.stderr
