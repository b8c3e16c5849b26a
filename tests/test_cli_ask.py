"""`infoshare ask`: one answer, JSON, and one JSON line per stdin question."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli

ROOT = Path(__file__).parents[1]


def test_ask_json_has_the_contract_keys():
    result = CliRunner().invoke(cli, ["ask", "--json", "is consent always needed before I can share information?"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert {"topic", "score", "answer", "sources", "suggestions"} <= set(out)
    assert out["topic"] == "myth-consent-always-needed"
    assert out["sources"] and all(set(s) == {"document", "section"} for s in out["sources"])
    assert ".txt" not in result.output and "Safeguarding" in out["sources"][0]["document"]


def test_ask_reads_questions_from_stdin_in_order():
    questions = ["what's Clare's Law?", "how do I share my screen in a meeting", "caldicot principles"]
    result = subprocess.run([sys.executable, "-m", "bot", "ask", "--json", "-"], input="\n".join(questions) + "\n",
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    assert [x["topic"] for x in lines] == ["dvds", None, "caldicott-principles"]


def test_ask_plain_text_shows_the_answer_and_source():
    result = CliRunner().invoke(cli, ["ask", "--pack", "wales", "section", "130", "duty", "to", "report"])
    assert result.exit_code == 0
    assert "Source: Welsh Government, Safeguarding Children: Information Sharing Guide: " in result.output
    assert ".txt" not in result.output


def test_ask_unknown_pack_exits_2():
    result = CliRunner().invoke(cli, ["ask", "--pack", "atlantis", "hello"])
    assert result.exit_code == 2 and "unknown pack 'atlantis'" in result.output


def test_a_question_in_welsh_says_welsh_is_not_supported_yet():
    result = CliRunner().invoke(cli, ["ask", "--json", "--pack", "wales",
                                      "Alla i rannu gwybodaeth gyda'r heddlu heb ganiatâd y rhieni?"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["topic"] is None and out["language"] == "cy" and out["sources"] == []
    assert "can't answer questions in Welsh yet" in out["answer"] and "999" in out["answer"]
    english = json.loads(CliRunner().invoke(cli, ["ask", "--json", "is the parents' newsletter in Welsh"]).output)
    assert english["language"] == "en"
