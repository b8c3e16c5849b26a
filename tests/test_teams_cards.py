"""Teams cards and events without a server: every reply renders, every button maps back to its event."""

from __future__ import annotations

import json

import pytest

from bot.teams import cards
from dialogs.engine import Engine
from dialogs.events import Choice, Event, Reply, choice_event
from storage.db import open_db

ALLOWED = {"TextBlock", "FactSet", "Input.Text", "Input.ChoiceSet", "ActionSet", "Action.Submit", "Action.OpenUrl"}


def elements(card):
    for item in card.get("body", []) + card.get("actions", []):
        yield item
        if item["type"] == "ActionSet":
            yield from item["actions"]


def rows(card):
    """The card's rows of buttons, top to bottom: each ActionSet in the body, then the card's own."""
    found = [[a["title"] for a in b["actions"]] for b in card["body"] if b["type"] == "ActionSet"]
    return found + ([[a["title"] for a in card["actions"]]] if card.get("actions") else [])


def walk_replies():
    """Real replies of every kind the engine gives on the way through a decision."""
    engine = Engine(open_db(":memory:"))

    def say(ev):
        return engine.handle("teams", "c1", "u1", ev)

    seen = say(Event("start")) + say(Event("why")) + say(Event("where"))
    for answer in ("no", "yes", "yes"):
        seen += say(Event("answer", answer))
    seen += say(Event("record"))
    seen += say(Event("record_submit", values={"categories": "health"}))
    seen += say(Event("leave")) + say(Event("back")) + say(Event("help")) + say(Event("topics"))
    return engine, seen


def test_every_reply_kind_renders_as_an_adaptive_card_of_at_most_1_5():
    _, replies = walk_replies()
    kinds = {r.kind for r in replies}
    assert {"info", "question", "why", "where", "outcome", "record_form", "record_field", "form_errors"} <= kinds
    for out in cards.render_turn(replies):
        if out.card is None:
            continue
        card = out.card
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
        assert {e["type"] for e in elements(card)} <= ALLOWED
        json.dumps(card)  # plain JSON


def test_every_button_sends_the_event_choice_event_gives():
    _, replies = walk_replies()
    for reply in replies:
        if reply.kind in ("record_field",) and reply.form or reply.kind == "topics":
            continue  # drawn as a form, or one searchable list (below)
        card = cards.render(reply)
        buttons = [a for a in elements(card) if a["type"] == "Action.Submit"]
        assert len(buttons) == len(reply.choices)
        for choice, button in zip(reply.choices, buttons):
            assert button["title"] == choice.label
            assert cards.event_from_submit(button["data"]) == choice_event(reply, choice)


def test_answers_have_a_row_of_their_own_and_navigation_another():
    engine = Engine(open_db(":memory:"))

    def say(*events):
        for ev in events:
            replies = engine.handle("teams", "c", "u", ev)
        return cards.render(replies[-1])
    assert rows(say(Event("start"))) == [["Yes", "No", "Not sure"], ["Start over", "Why?"]]
    assert rows(say(Event("answer", "no"))) == [["Yes", "No", "Not sure"], ["Back", "Start over", "Why?"]]
    question = cards.render(engine.current("teams", "c", "u")[-1])
    text_at = [b["type"] for b in question["body"]]
    assert text_at.index("ActionSet") == 2  # straight under the question (title, question, answers)
    assert rows(say(Event("answer", "yes"), Event("answer", "yes"))) == [
        ["Record this decision"], ["Back", "Start over", "Why?"]]
    engine.handle("teams", "c", "u", Event("record"))
    values = {"categories": "health", "recipient": "health", "purpose": "safeguarding_referral",
              "lawful_basis": "consent", "informed": "yes", "reason": "Made-up reason."}
    assert rows(say(Event("record_submit", values=values))) == [
        ["Confirm and record", "Change"], ["Back", "Leave without recording"]]


def test_many_choices_of_one_kind_are_a_searchable_list_with_one_button():
    reply = Reply("topics", "Pick one", choices=[Choice("topic", f"T{i}", f"t{i}") for i in range(29)])
    card = cards.render(reply)
    assert [a["title"] for a in card["actions"]] == [cards.PICK_LABEL]
    [picker] = [b for b in card["body"] if b["type"] == "Input.ChoiceSet"]
    assert picker["style"] == "filtered" and len(picker["choices"]) == 29
    data = card["actions"][0]["data"]
    assert cards.event_from_submit(dict(data, **{cards.PICK_INPUT: "t7"})) == Event("topic", "t7")
    assert cards.event_from_submit(dict(data)) == Event("topic", None)  # nothing picked: the engine says so


def test_buttons_past_six_go_to_the_overflow_menu():
    reply = Reply("info", "Pick one", choices=[Choice(k, k.title()) for k in ("start", "topics", "help", "mine",
                                                                              "checklist", "record", "digest")])
    modes = [a.get("mode") for a in cards.render(reply)["actions"]]
    assert modes[:5] == [None] * 5 and set(modes[5:]) == {"secondary"}


def test_the_record_step_is_one_live_form_card():
    engine = Engine(open_db(":memory:"))
    engine.handle("teams", "c", "u", Event("start"))
    for a in ("no", "yes", "yes"):
        engine.handle("teams", "c", "u", Event("answer", a))
    replies = engine.handle("teams", "c", "u", Event("record"))
    assert [r.kind for r in replies] == ["record_form", "record_field"]
    out = cards.render_turn(replies)
    assert len(out) == 1 and out[0].live
    card = out[0].card
    ids = [e["id"] for e in card["body"] if e["type"].startswith("Input.")]
    assert ids == [cards.INPUT_PREFIX + f["id"] for f in replies[0].form if not f.get("when")]
    assert rows(card) == [[cards.SUBMIT_LABEL], ["Back", "Leave without recording"]]
    submit = next(a for a in elements(card) if a.get("title") == cards.SUBMIT_LABEL)
    assert "associatedInputs" not in submit  # the inputs travel with it
    assert cards.event_from_submit(dict(submit["data"], **{"field:case_ref": "TEST-9", "field:x": 5})) == \
        Event("record_submit", token=replies[-1].token, values={"case_ref": "TEST-9"})
    others = card["actions"]
    assert {a["title"] for a in others} == {"Back", "Leave without recording"}
    assert all(a["associatedInputs"] == "none" for a in others)


def test_form_errors_redraw_the_form_with_messages_and_what_was_typed():
    engine = Engine(open_db(":memory:"))
    engine.handle("teams", "c", "u", Event("start"))
    for a in ("no", "yes", "yes"):
        engine.handle("teams", "c", "u", Event("answer", a))
    engine.handle("teams", "c", "u", Event("record"))
    errors = engine.handle("teams", "c", "u", Event("record_submit", values={"case_ref": "TEST-2"}))
    current = engine.current("teams", "c", "u")
    [out] = cards.render_turn(errors, current=current, submitted={"case_ref": "TEST-2"})
    text = json.dumps(out.card)
    assert out.live and "needs an answer" in text
    case = next(e for e in out.card["body"] if e.get("id") == "field:case_ref")
    assert case["value"] == "TEST-2"


FORM = [{"id": "informed", "kind": "single", "prompt": "Was the person told?", "required": True,
         "choices": [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No, not told"}]},
        {"id": "not_told_reason", "kind": "text", "prompt": "Why not? For example, a made-up reason.",
         "required": True, "when": {"informed": "no"}}]


def test_a_conditional_field_is_shown_only_once_its_answer_is_given():
    card = cards.render_form(FORM, token="t.1")
    assert "field:not_told_reason" not in json.dumps(card)
    notes = [b["text"] for b in card["body"] if b["type"] == "TextBlock" and b.get("isSubtle")]
    assert "Choosing 'No, not told' adds a question after Continue: Why not?" in notes
    for values in ({"informed": "no"}, None):
        form = FORM if values else [dict(FORM[0], value="no"), FORM[1]]  # submitted, or stored
        field = next(e for e in cards.render_form(form, token="t.1", values=values)["body"]
                     if e.get("id") == "field:not_told_reason")
        assert field["label"] == "Why not? For example, a made-up reason."
        assert field["isRequired"] is False  # the engine checks it, so changing the answer is never blocked


def test_every_dropdown_has_a_placeholder_and_every_text_the_engines_limit():
    _, replies = walk_replies()
    form = next(r for r in replies if r.kind == "record_field" and r.form).form
    card = cards.render_form([dict(f, value=None) for f in form], token="t.1", values={"informed": "no"})
    fields = [e for e in card["body"] if e["type"].startswith("Input.")]
    assert all(e["placeholder"] for e in fields if e["type"] == "Input.ChoiceSet")
    texts = [e for e in fields if e["type"] == "Input.Text"]
    assert len(texts) >= 3 and all(e["maxLength"] == 500 for e in texts)


def test_the_reason_for_leaving_is_one_text_input_sent_as_text():
    reply = Reply("record_field", "Please tell me why.", title="Leaving without recording",
                  field={"id": "reason", "kind": "text", "prompt": "Reason", "required": True},
                  choices=[Choice("record", "Record the decision instead", style="primary")], token="w.7")
    [out] = cards.render_turn([reply])
    send = next(a for a in out.card["actions"] if a["title"] == cards.SEND_LABEL)
    assert cards.event_from_submit(dict(send["data"], **{"field:reason": "Made-up reason"})) == \
        Event("text", "Made-up reason", token="w.7")
    instead = next(a for a in out.card["actions"] if a["title"] == "Record the decision instead")
    assert cards.event_from_submit(instead["data"]) == Event("record", token="w.7")


def test_long_markdown_goes_as_a_text_message():
    [out] = cards.render_turn([Reply("info", "# Digest\n\n| a | b |\n|---|---|", title="Weekly digest")])
    assert out.card is None and out.text.startswith("**Weekly digest**")


@pytest.mark.parametrize("value", [
    None, "text", [], {}, {"infoshare": "answer"}, {"infoshare": {"kind": "delete_everything"}},
    {"infoshare": {"kind": 5}}, {"other": {"kind": "answer"}},
])
def test_payloads_that_are_not_ours_give_no_event(value):
    assert cards.event_from_submit(value) is None


def test_odd_values_in_our_payload_are_dropped_not_trusted():
    ev = cards.event_from_submit({"infoshare": {"kind": "answer", "value": ["yes"], "token": {"x": 1}}})
    assert ev == Event("answer", None, token=None)
    long = cards.event_from_submit({"infoshare": {"kind": "topic", "value": "t" * 5000}})
    assert len(long.value) == 200


@pytest.mark.parametrize("typed,event", [
    ("digest", Event("digest")),
    ("Digest.", Event("digest")),
    ("ask do I need consent?", Event("text", "do I need consent?")),
    ("ask: can I tell the school", Event("text", "can I tell the school")),
    ("ask", Event("topics")),
    ("  start   wirral ", Event("text", "start wirral")),
    ("yes", Event("text", "yes")),
    ("", Event("text", "")),
    (None, Event("text", "")),
])
def test_typed_words(typed, event):
    assert cards.event_from_text(typed) == event


def test_welcome_in_a_shared_conversation_has_no_case_buttons():
    shared = cards.welcome_card(shared=True, app_id="00000000-0000-4000-8000-00000000c0de")
    assert [a["type"] for a in shared["actions"]] == ["Action.OpenUrl"]
    assert shared["actions"][0]["url"].endswith("users=28:00000000-0000-4000-8000-00000000c0de")
    personal = cards.welcome_card(shared=False)
    assert [cards.event_from_submit(a["data"]).kind for a in personal["actions"]] == ["start", "topics", "help"]


def test_the_digest_card_without_a_chart_has_a_table_of_days():
    from storage.digest import build_digest
    db = open_db(":memory:")
    Engine(db)
    d = build_digest(db, week="2026-W47", packs_dir="/nonexistent")
    card = cards.digest_card(d, chart=None)
    tables = [b for b in card["body"] if b["type"] == "Table"]
    days = [r["cells"][0]["items"][0]["text"] for r in tables[1]["rows"][1:]]
    assert days[0] == "Mon 16 Nov" and len(days) == 7
    assert not any(b["type"] == "Image" for b in card["body"])
    assert "## " not in json.dumps(card) and "|---" not in json.dumps(card)
    assert card["body"][1]["text"] == "**0 decisions** (previous week: 0, change 0)"
