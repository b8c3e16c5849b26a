"""Every Slack payload of every walk in every pack keeps Block Kit's limits, and no label is cut.

Each path through each pack's questions (70 walks) is taken in the engine and every reply is
drawn with the adapter's own renderers (``bot.slack.blocks``: the message, the record modal, the
typed-answer modal, the App Home tab), as ``bot.slack.app`` sends them. ``tests/blockkit.py`` holds the
limits. The HTTP tests meet the same checker in the mock Web API, which refuses a payload that
breaks them with ``invalid_blocks`` as Slack does.
"""

from __future__ import annotations

import json

import pytest

from blockkit import cut_labels, problems, view_problems
from bot.slack import blocks as kit
from content.loader import pack_ids
from dialogs.engine import Engine
from dialogs.events import Event
from storage.db import open_db


def paths(pack: str) -> list[list[str]]:
    """Every sequence of answers from the first question to an outcome."""
    found: list[list[str]] = []

    def walk(prefix: list[str]) -> None:
        engine = Engine(open_db(":memory:"))
        engine.handle("slack", "D1", "U1", Event("start", pack))
        for a in prefix:
            engine.handle("slack", "D1", "U1", Event("answer", a))
        if engine.current("slack", "D1", "U1")[-1].kind == "outcome":
            found.append(prefix)
            return
        for a in ("yes", "no", "unsure"):
            walk(prefix + [a])
    walk([])
    return found


def made_up_values(form: list[dict]) -> dict:
    """A whole record form filled in with made-up answers ("not told", so its reason is asked too)."""
    values = {}
    for f in form:
        choices = [c["value"] for c in f.get("choices") or []]
        if f["id"] == "informed" and "no" in choices:
            values[f["id"]] = "no"
        elif f["kind"] == "multi":
            values[f["id"]] = choices[:2]
        elif f["kind"] == "single":
            values[f["id"]] = choices[0]
        else:
            values[f["id"]] = "Made-up text for a test, TEST-0001."
    return values


class Seen:
    """Everything drawn for one pack, checked as it is drawn."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.cut: set[str] = set()
        self.count = 0

    def message(self, where: str, replies) -> None:
        text, blocks = kit.message(replies, nonce="n1")
        self.count += 1
        self.problems += [f"{where}: {p}" for p in problems({"text": text, "blocks": blocks})]
        self.cut |= set(cut_labels(blocks))

    def view(self, where: str, view: dict) -> None:
        self.count += 1
        self.problems += [f"{where}: {p}" for p in view_problems(view)]
        self.cut |= set(cut_labels([view]))


def draw_pack(pack: str) -> Seen:
    seen = Seen()
    meta = json.dumps({"t": "abc.1", "c": "D1", "ts": "1.1"})
    for answers in paths(pack):
        engine = Engine(open_db(":memory:"), is_lead=lambda channel, user: True)

        def say(ev, engine=engine):
            return engine.handle("slack", "D1", "U1", ev)
        where = f"{pack} {'/'.join(answers)}"
        seen.message(where, say(Event("start", pack)))
        seen.message(where + " why", say(Event("why")))
        for a in answers:
            seen.message(where, say(Event("answer", a)))
        seen.message(where + " where", say(Event("where")))
        seen.message(where + " why", say(Event("why")))
        form_replies = say(Event("record"))
        seen.message(where + " record", form_replies)
        intro, field = form_replies[0], form_replies[-1]
        seen.view(where + " record modal", kit.record_modal(field, meta, intro.text))
        errors = say(Event("record_submit", values={}))
        seen.message(where + " form errors", errors)
        summary = say(Event("record_submit", values=made_up_values(field.form)))
        assert summary[-1].kind == "summary", (where, [r.text for r in summary])
        seen.message(where + " summary", summary)
        leaving = say(Event("leave"))
        seen.message(where + " leave", leaving)
        seen.view(where + " leave modal", kit.text_modal(leaving[-1], meta))
        seen.message(where + " back", say(Event("back")))
        seen.message(where + " confirm", say(Event("record")) + say(Event("record_submit",
                                                                           values=made_up_values(field.form))))
        seen.message(where + " recorded", say(Event("confirm")))
    engine = Engine(open_db(":memory:"), is_lead=lambda channel, user: True)
    say = lambda ev: engine.handle("slack", "D2", "U2", ev)  # noqa: E731
    say(Event("start", pack))
    for ev in (Event("help"), Event("topics"), Event("checklist"), Event("mine"), Event("digest"),
               Event("text", "do I need consent to share?"), Event("text", "information sharing"),
               Event("text", "what colour is the sky on a made-up planet?")):
        seen.message(f"{pack} {ev.kind} {ev.value or ''}", say(ev))
    seen.view(f"{pack} home", kit.home_view(say(Event("mine")), say(Event("topics")), "n1"))
    seen.problems += problems({"text": kit.moved_blocks()[0], "blocks": kit.moved_blocks()[1]})
    seen.problems += view_problems(kit.notice_view("This form is out of date. Nothing was changed."))
    return seen


@pytest.mark.parametrize("pack", pack_ids())
def test_every_slack_payload_of_every_walk_keeps_block_kits_limits(pack):
    seen = draw_pack(pack)
    assert seen.count > 100
    assert seen.problems == []
    assert sorted(seen.cut) == []  # nothing a person sees or hears is cut short


def test_the_checker_finds_what_slack_refuses():
    long = "x" * 80
    message = {"text": "t", "blocks": [
        {"type": "actions", "elements": [
            {"type": "button", "text": {"type": "mrkdwn", "text": long}, "action_id": "a", "accessibility_label": long},
            {"type": "button", "text": {"type": "plain_text", "text": ""}, "action_id": "a"}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}] + [{"type": "divider"}] * 49}
    found = "\n".join(problems(message))
    for expected in ("51 blocks, over 50", "must be plain_text", "80 characters, over 75", "empty text",
                     "action_ids repeat", "3001 characters, over 3000"):
        assert expected in found
    assert view_problems({"type": "modal", "title": {"type": "plain_text", "text": "Leaving without recording"},
                          "blocks": []}) == ["title: 25 characters, over 24"]


def test_the_mock_web_api_refuses_what_slack_would():
    from slack_mock import _invalid
    bad = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    assert _invalid("chat.postMessage", {"text": "t", "blocks": json.dumps(bad)}) == [
        "blocks[0] header.text: 151 characters, over 150"]
    assert _invalid("views.open", {"view": {"type": "modal", "title": {"type": "plain_text", "text": "t" * 25},
                                            "blocks": []}}) == ["title: 25 characters, over 24"]
    assert _invalid("chat.postMessage", {"text": "t", "blocks": [{"type": "divider"}]}) == []
