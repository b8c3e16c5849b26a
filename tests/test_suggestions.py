""""Did you mean" suggestions are lettered A, B, C and picked by typing the letter; the walk's
choices keep their numbers, so a number typed after a suggestion list still means the walk's
choice it is shown beside, and a letter can only ever mean a suggestion."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path


from bot.console import QUIT_WORDS, Console, render
from content.loader import load_pack
from dialogs.answers import get_topic
from dialogs.engine import SUGGESTION_KEYS, WORDS, Engine
from dialogs.events import Event, choice_event
from storage.db import open_db
from storage.gaps import list_unanswered

ROOT = Path(__file__).parents[1]
VAGUE = "information sharing"  # the bot's whole field: it offers topics rather than guess (test_answers)


def say(engine, event):
    return engine.handle("console", "c1", "u-test", event)


def stored_state(db_path):
    row = open_db(db_path).execute("select state from conversations where id = 'console:c1:u-test'").fetchone()
    return json.loads(row[0])


def test_no_suggestion_letter_is_a_typed_word_a_number_or_a_way_to_quit():
    for key in SUGGESTION_KEYS:
        assert key.lower() not in WORDS and key.lower() not in QUIT_WORDS and not key.isdigit()


def test_suggestions_are_lettered_in_the_text_and_on_the_buttons(engine):
    say(engine, Event("start", "hmg-2018"))
    answer, question = say(engine, Event("text", VAGUE))
    assert answer.kind == "answer" and question.kind == "question"
    assert 2 <= len(answer.choices) <= 3
    keys = [c.key for c in answer.choices]
    assert keys == list(SUGGESTION_KEYS[:len(keys)])
    lines = answer.text.splitlines()
    for c in answer.choices:
        assert c.kind == "topic" and c.label == get_topic("hmg-2018", c.value).title
        assert f"{c.key}) {c.label}" in lines
        assert f"- {c.label}" not in lines  # listed once, with its letter
    assert lines[-1] == ("Type A or B to read one." if len(keys) == 2 else "Type A, B or C to read one.")
    # the console letters them (in the text) and numbers only the walk's choices
    shown = render(answer, numbered=False)
    assert "A) " in shown and "1)" not in shown and "[" not in shown
    assert render(question, numbered=True).splitlines()[-1].startswith("1) Yes   2) No   3) Not sure")


def test_typing_a_letter_shows_that_topic_and_leaves_the_walk_where_it_was(engine, db_path):
    first = say(engine, Event("start", "hmg-2018"))[-1]
    answer = say(engine, Event("text", VAGUE))[0]
    second = answer.choices[1]
    shown = say(engine, Event("text", "b"))
    assert shown[0].kind == "answer" and shown[0].title == second.label
    assert shown[0].text == get_topic("hmg-2018", second.value).answer
    assert shown[-1].kind == "question" and shown[-1].text == load_pack("hmg-2018").nodes["immediate_risk"]["question"]
    assert stored_state(db_path)["history"] == []  # the walk was not answered
    # 'A)' and 'a.' work too, and the other suggestions stay pickable after a pick
    assert say(engine, Event("text", "A)"))[0].title == answer.choices[0].label
    assert say(engine, Event("text", "b."))[0].title == second.label
    # offering and picking suggestions moved nothing: the first question's buttons still work
    assert say(engine, choice_event(first, first.choices[1]))[-1].text == load_pack("hmg-2018").nodes["purpose"]["question"]


def test_a_number_after_suggestions_is_the_walks_choice_it_is_shown_beside(tmp_path):
    """The console as a user meets it: the suggestions are lettered, 1 is still the walk's Yes."""
    engine = Engine(open_db(tmp_path / "c.db"))
    out = io.StringIO()
    console = Console(engine, "u-test", out=out)
    console.show(engine.handle("console", "local", "u-test", Event("start", "hmg-2018")))
    answer, question = engine.handle("console", "local", "u-test", console.event_for(VAGUE))
    console.show([answer, question])
    assert console.last is question
    assert console.event_for("1") == Event("answer", "yes", token=question.token)
    assert console.event_for("a") == Event("text", "a")  # a letter goes to the engine, which knows the list
    console.show(engine.handle("console", "local", "u-test", console.event_for("a")))
    assert f"== {answer.choices[0].label} " in out.getvalue()


def test_a_letter_with_no_list_open_says_so_and_is_not_stored(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("text", VAGUE))
    say(engine, Event("answer", "no"))  # something else happened: the list is closed
    assert stored_state(db_path)["offered"] == []
    replies = say(engine, Event("text", "a"))
    assert replies[0].kind == "info" and "no 'did you mean' list open" in replies[0].text
    assert replies[-1].text == load_pack("hmg-2018").nodes["purpose"]["question"]
    gaps = list_unanswered(open_db(db_path), "2000-01-01", "2100-01-01")
    assert [g["question"] for g in gaps] == [VAGUE]  # the vague question, and not 'a'


def test_b_no_longer_means_back_it_never_collides_with_a_suggestion(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("answer", "no"))
    replies = say(engine, Event("text", "b"))
    assert replies[0].kind == "info"
    assert stored_state(db_path)["history"] == [["immediate_risk", "no"]]
    assert say(engine, Event("text", "back"))[-1].text == load_pack("hmg-2018").nodes["immediate_risk"]["question"]


def test_the_list_is_stored_with_the_conversation_and_survives_a_restart(db_path):
    e1 = Engine(open_db(db_path))
    say(e1, Event("start", "hmg-2018"))
    offered = [c.value for c in say(e1, Event("text", VAGUE))[0].choices]
    assert stored_state(db_path)["offered"] == offered
    e2 = Engine(open_db(db_path))  # a new process on the same file
    assert say(e2, Event("text", "a"))[0].title == get_topic("hmg-2018", offered[0]).title


def test_console_picks_a_suggestion_by_letter(tmp_path):
    env = {**os.environ, "INFOSHARE_DB": str(tmp_path / "chat.db")}
    env.pop("INFOSHARE_CONFIG", None)
    result = subprocess.run([sys.executable, "-m", "bot", "chat", "--user", "tester", "--pack", "hmg-2018"],
                            input=f"{VAGUE}\nb\nquit\n", capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    m = re.search(r"^B\) (.+)$", out, re.MULTILINE)
    assert m and "Type A" in out, out
    after = out.split("Type A", 1)[1]
    assert f"== {m.group(1)} " in after  # B's answer, titled
    assert "Act now" not in out and "Question 2" not in out  # the walk was not answered
    assert not re.search(r"\d\) " + re.escape(m.group(1)), out)  # suggestions are never numbered
