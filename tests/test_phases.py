"""The conversation's phases as a machine: every event a phase does not take is answered in one
place and changes nothing; the machine refuses moves the design forbids; the diagrams a lead can
lay beside their partnership's flowchart are drawn from the machines themselves."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
from click.testing import CliRunner

from bot.cli import cli
from content.loader import load_pack, pack_ids
from dialogs.events import Event
from dialogs.phases import ACCEPTS, PHASES, PhaseError, move
from storage.conversations import load_state
from storage.db import open_db

# Events that bring a fresh conversation (hmg-2018) to each phase.
TO_PHASE = {
    "idle": [],
    "walk": [Event("start")],
    "outcome": [Event("start"), Event("answer", "no"), Event("answer", "unsure")],
    "record": [Event("start"), Event("answer", "no"), Event("answer", "unsure"), Event("record")],
    "confirm": [Event("start"), Event("answer", "no"), Event("answer", "unsure"), Event("record"), "fill the form"],
    "leaving": [Event("start"), Event("answer", "no"), Event("answer", "unsure"), Event("leave")],
    "done": [Event("start"), Event("answer", "no"), Event("answer", "unsure"), Event("leave"),
             Event("text", "Made-up reason: my manager records it")],
}

# An event of each kind that some phase takes, as a stale button would send it.
STALE = {
    "answer": Event("answer", "yes"),
    "record": Event("record"),
    "choose": Event("choose", "categories", values={"value": "health"}),
    "record_submit": Event("record_submit", values={"case_ref": "T-2"}),
    "edit": Event("edit"),
    "confirm": Event("confirm"),
}


def _stored(db_path):
    """Everything a turn could change: each conversation's state and the decisions recorded."""
    db = open_db(db_path)
    states = db.execute("select id, state, version from conversations order by id").fetchall()
    return states, db.execute("select count(*) from decisions").fetchone()[0]


def _phase(engine, conv):
    raw, _version = load_state(engine.db, f"console:{conv}:u-test")
    return raw["phase"] if raw else "idle"


def _filled(form):
    """Made-up values for every field of a record form: the first choice, or a line of text."""
    def value(f):
        if not f.get("choices"):
            return "Made-up text, no names"
        return [f["choices"][0]["value"]] if f["kind"] == "multi" else f["choices"][0]["value"]
    return {f["id"]: value(f) for f in form}


def _bring(engine, phase, conv="c1"):
    replies = []
    for ev in TO_PHASE[phase]:
        if ev == "fill the form":
            ev = Event("record_submit", values=_filled(next(r.form for r in replies if r.form)))
        replies = engine.handle("console", conv, "u-test", ev)
    assert _phase(engine, conv) == phase


@pytest.mark.parametrize("kind,phase", [(k, p) for k in sorted(ACCEPTS) for p in PHASES if p not in ACCEPTS[k]])
def test_an_event_the_phase_does_not_take_is_answered_and_changes_nothing(engine, db_path, phase, kind):
    _bring(engine, phase)
    before_state = engine.current("console", "c1", "u-test")
    before_rows = _stored(db_path)
    replies = engine.handle("console", "c1", "u-test", STALE[kind])
    assert replies, "every event gets an answer"
    shown = " ".join(r.text for r in replies)
    says_so = any(p in shown for p in ("Nothing was changed", "Nothing was recorded", "no outcome to record",
                                       "no summary to change", "no question waiting"))
    shows_what_waits = [r.text for r in replies] == [r.text for r in before_state]  # a yes typed at a form
    assert says_so or (kind == "answer" and shows_what_waits), shown
    assert _stored(db_path) == before_rows
    assert [r.text for r in engine.current("console", "c1", "u-test")] == [r.text for r in before_state]


def test_nothing_is_recorded_by_a_stale_confirm_in_any_phase_but_confirm(engine, db_path):
    others = [p for p in PHASES if p != "confirm"]
    for phase in others:
        _bring(engine, phase, conv=phase)
    before = _stored(db_path)[1]
    for phase in others:
        replies = engine.handle("console", phase, "u-test", Event("confirm"))
        assert not any(r.kind == "recorded" for r in replies), phase
        assert _phase(engine, phase) == phase
    assert _stored(db_path)[1] == before


@pytest.mark.parametrize("phase", ["outcome", "record", "confirm", "leaving"])
def test_a_walk_never_begins_over_an_unrecorded_outcome(phase):
    with pytest.raises(PhaseError):
        move(phase, "begin")
    assert move(phase, "ask_reason") == "leaving"  # the engine asks why it is left first


def test_recording_is_reached_only_through_the_summary_or_a_reason():
    assert move("confirm", "recorded") == "done"
    assert move("leaving", "recorded") == "done"
    for phase in ("idle", "walk", "outcome", "record", "done"):
        with pytest.raises(PhaseError):
            move(phase, "recorded")


@pytest.mark.parametrize("pack_id", pack_ids())
def test_pack_diagram_shows_every_question_and_that_not_sure_about_danger_is_urgent(pack_id):
    result = CliRunner().invoke(cli, ["content", "diagram", "--pack", pack_id])
    assert result.exit_code == 0, result.output
    pack = load_pack(pack_id)
    assert result.output.startswith("---\n" + pack.title)
    for node in pack.nodes.values():
        assert f'state "{node["question"]}"' in result.output
    assert f"{pack.start} --> urgent_action: yes | unsure" in result.output


def test_dialog_diagram_shows_the_phases():
    result = CliRunner().invoke(cli, ["content", "diagram", "--dialog"])
    assert result.exit_code == 0, result.output
    for line in ("idle --> walk: begin", "outcome --> leaving: ask_reason", "confirm --> done: recorded",
                 "leaving --> done: recorded"):
        assert line in result.output
    assert "outcome --> walk: begin" not in result.output


def test_diagram_refuses_an_unknown_pack_and_both_options():
    result = CliRunner().invoke(cli, ["content", "diagram", "--pack", "narnia"])
    assert result.exit_code == 2 and "narnia" in result.output
    result = CliRunner().invoke(cli, ["content", "diagram", "--pack", "wales", "--dialog"])
    assert result.exit_code == 2 and "not both" in result.output


def test_svg_is_drawn_with_graphviz_or_says_what_is_missing(tmp_path):
    out = tmp_path / "wales.svg"
    result = CliRunner().invoke(cli, ["content", "diagram", "--pack", "wales", "--format", "svg", "--out", str(out)])
    if importlib.util.find_spec("graphviz") and shutil.which("dot"):
        assert result.exit_code == 0, result.output
        assert "<svg" in out.read_text()
    else:
        assert result.exit_code == 2
        assert "needs Graphviz" in result.output and "--format mermaid needs nothing more" in result.output
        assert not out.exists()
