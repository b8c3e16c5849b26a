"""Typed text as the engine takes it, checked by what the user sees and what the SQLite file holds.

User text is cleaned once, in the engine, before anything is matched or stored: control
characters go, and text over the limit is refused. A bare yes or no with no question waiting
says what can be done now, and is not stored as an unanswered question."""

from __future__ import annotations

import sqlite3

import pytest

from dialogs.events import Event
from dialogs.text import MAX_TEXT, clean_text
from storage import audit
from storage.db import open_db
from storage.gaps import list_unanswered

NASTY = ("\x00", "\x1b", "\x07", "\x7f", "\x9b", "\r")
ESCAPED = ("\\u0000", "\\u001b", "\\u0007", "\\u007f", "\\u009b", "[31m", "]0;")


def say(engine, event, conv="c1"):
    return engine.handle("console", conv, "u-test", event)


def every_stored_text(db_path):
    """Every text cell of every table in the file, read back with plain sqlite3."""
    conn = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        return [cell for t in tables for row in conn.execute(f'select * from "{t}"')
                for cell in row if isinstance(cell, str)]
    finally:
        conn.close()


def assert_clean_file(db_path):
    texts = every_stored_text(db_path)
    assert texts
    for cell in texts:
        assert not any(c in cell for c in NASTY), repr(cell)
        assert not any(e in cell for e in ESCAPED), repr(cell)  # nor as JSON escapes


@pytest.mark.parametrize("raw,clean", [
    ("plain words", "plain words"),
    ("nul\x00bell\x07del\x7f", "nulbelldel"),
    ("red \x1b[31mtext\x1b[0m here", "red text here"),
    ("title \x1b]0;pwned\x07 after", "title  after"),
    ("c1 \x9b31m csi\x85", "c1  csi"),
    ("two\r\nlines\rthree", "two\nlines\nthree"),
    ("tab\tseparated", "tab separated"),
    ("Ysgol Gymraeg – café ‘quotes’ 😊", "Ysgol Gymraeg – café ‘quotes’ 😊"),
    ("reason: \u202edesrever\u202c done", "reason: desrever done"),  # a right-to-left override
    ("zero\u200bwidth\ufeff isolate\u2066x\u2069", "zerowidth isolatex"),
    ("line\u2028sep\u2029para", "line\nsep\npara"),
    ("family \U0001F468\u200d\U0001F469\u200d\U0001F467", "family \U0001F468\u200d\U0001F469\u200d\U0001F467"),
])
def test_clean_text_removes_control_characters_and_keeps_newlines(raw, clean):
    assert clean_text(raw) == clean


def test_a_stored_unanswered_question_has_no_control_characters(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    replies = say(engine, Event("text", "what's the \x00capital\x07 of \x1b[31mPeru\x1b[0m\r\nplease"))
    assert replies[0].kind == "answer"
    [gap] = list_unanswered(open_db(db_path), "2000-01-01", "2100-01-01")
    assert gap["question"] == "what's the capital of Peru please"
    assert replies[-1].kind == "question"  # the walk's question is shown again, unchanged
    assert_clean_file(db_path)


def record_values(engine, **overrides):
    """Walk to a share outcome, open the record form and fill it validly (``overrides`` win)."""
    for a in ("no", "yes", "yes"):
        say(engine, Event("answer", a))
    form = say(engine, Event("record"))[0].form
    valid = {f["id"]: [c["value"] for c in f.get("choices", [])] for f in form}
    values = {"categories": valid["categories"][:1], "recipient": valid["recipient"][0],
              "purpose": valid["purpose"][0], "lawful_basis": "consent", "informed": "yes"}
    return {**values, **overrides}


def test_record_fields_typed_or_from_a_form_are_stored_clean(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    values = record_values(engine, lawful_basis="consent\x00", case_ref="CASE\x00-\x1b[31m77\x07",
                           reason="Parent agreed\x07 in writing;\x1b[2J\r\nreferral made\tthe same day\x00.")
    summary = say(engine, Event("record_submit", values=values))[-1]
    assert summary.kind == "summary"
    assert "CASE-77" in [v for _k, v in summary.facts]
    ref = next(r.ref for r in say(engine, Event("text", "confirm\x00")) if r.kind == "recorded")
    record = audit.get_decision(open_db(db_path), ref)["record"]
    assert record["case_ref"] == "CASE-77"
    assert record["lawful_basis"] == "consent"
    assert record["reason"] == "Parent agreed in writing;\nreferral made the same day."
    # typed, one field at a time, as in the console: the reason for leaving a second decision
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("answer", "no"))
    say(engine, Event("answer", "unsure"))
    say(engine, Event("leave"))
    left = next(r for r in say(engine, Event("text", "Manager\x1b[1m will\x00 record it\x07")) if r.kind == "recorded")
    assert audit.get_decision(open_db(db_path), left.ref)["record"]["reason"] == "Manager will record it"
    assert_clean_file(db_path)


def test_text_over_the_limit_is_refused_and_nothing_is_stored(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    before = engine.current("console", "c1", "u-test")[-1].token
    long_question = "can I share " + "x" * MAX_TEXT
    replies = say(engine, Event("text", long_question))
    assert replies[0].kind == "error"
    assert f"{MAX_TEXT} characters or fewer (it is {len(long_question)})" in replies[0].text
    assert "Nothing was changed or stored" in replies[0].text
    assert replies[-1].kind == "question" and replies[-1].token == before
    assert list_unanswered(open_db(db_path), "2000-01-01", "2100-01-01") == []

    values = record_values(engine, case_ref="CASE-1", reason="r" * (MAX_TEXT + 1))
    errors = say(engine, Event("record_submit", values=values))
    assert [r.kind for r in errors] == ["form_errors"]
    assert errors[0].errors == {"reason": f"Please keep this to {MAX_TEXT} characters or fewer (it is {MAX_TEXT + 1})."}
    # the limit is on the cleaned text: control characters do not count towards it
    values["reason"] = "r" * MAX_TEXT + "\x00" * 20
    assert say(engine, Event("record_submit", values=values))[-1].kind == "summary"
    ref = next(r.ref for r in say(engine, Event("confirm")) if r.kind == "recorded")
    assert audit.get_decision(open_db(db_path), ref)["record"]["reason"] == "r" * MAX_TEXT


def test_a_long_typed_reason_for_leaving_is_refused_and_not_recorded(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("answer", "no"))
    say(engine, Event("answer", "unsure"))
    say(engine, Event("leave"))
    replies = say(engine, Event("text", "because " * 80))
    assert replies[0].kind == "error" and "characters or fewer" in replies[0].text
    assert replies[-1].title == "Leave without recording"  # still asked for a reason
    assert audit.my_decisions(open_db(db_path), "u-test", "console") == []


# ---- yes / no with no question waiting ------------------------------------------------------

def reach_outcome(engine, conv="c1"):
    say(engine, Event("start", "hmg-2018"), conv=conv)
    for a in ("no", "yes", "yes"):
        out = say(engine, Event("answer", a), conv=conv)[-1]
    assert out.kind == "outcome"
    return out


@pytest.mark.parametrize("typed", ["yes", "Yes.", "y", "no", "N", "nope", "not sure", "don't know", "maybe"])
def test_yes_or_no_at_an_outcome_says_what_to_do_now_and_is_not_a_gap(engine, db_path, typed):
    outcome = reach_outcome(engine)
    replies = say(engine, Event("text", typed))
    assert [r.kind for r in replies] == ["info"]
    reply = replies[0]
    assert reply.title == "No question waiting"
    assert outcome.title in reply.text and "'record'" in reply.text and "'restart'" in reply.text
    assert [c.kind for c in reply.choices] == ["record", "back", "restart"]
    assert reply.token == outcome.token  # nothing moved: the outcome's buttons still work
    db = open_db(db_path)
    assert list_unanswered(db, "2000-01-01", "2100-01-01") == []
    assert db.execute("select count(*) from topic_counts").fetchone()[0] == 0
    # and its Record button opens the record step
    from dialogs.events import choice_event
    assert say(engine, choice_event(reply, reply.choices[0]))[0].kind == "record_form"


def test_yes_before_any_decision_or_after_one_is_recorded_is_not_a_gap_either(engine, db_path):
    replies = say(engine, Event("text", "yes"))
    assert replies[0].title == "No question waiting"
    assert replies[-1].choices[0].kind == "start"  # what to do: start a decision
    reach_outcome(engine)
    say(engine, Event("leave"))
    say(engine, Event("text", "The manager will record it on the case file."))
    replies = say(engine, Event("text", "no"))
    assert replies[0].title == "No question waiting" and "recorded as" in replies[-1].text
    assert list_unanswered(open_db(db_path), "2000-01-01", "2100-01-01") == []


def test_a_real_question_at_an_outcome_is_still_answered_and_an_unanswerable_one_stored(engine, db_path):
    reach_outcome(engine)
    replies = say(engine, Event("text", "what's the capital of Peru"))
    assert replies[0].kind == "answer" and replies[-1].kind == "outcome"
    [gap] = list_unanswered(open_db(db_path), "2000-01-01", "2100-01-01")
    assert gap["question"] == "what's the capital of Peru"
