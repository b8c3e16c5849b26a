"""The conversation engine as a user meets it: answers, back, start over, why, where, the record."""

from __future__ import annotations

import json

import pytest

from bot.console import render
from content.loader import load_pack, pack_ids
from dialogs.engine import Engine
from content.sources import named
from dialogs.events import Event, choice_event, cite_text
from dialogs.walk import get_walk
from storage import audit
from storage.db import open_db


@pytest.fixture
def engine(db_path):
    """The shared engine fixture, with a made-up contact for the advice outcome."""
    return Engine(open_db(db_path), contacts={"manager": "Test duty manager, ext 000"})


def say(engine, event, user="u-test", conv="c1", channel="console"):
    return engine.handle(channel, conv, user, event)


def last(replies):
    return replies[-1]


def nodes_with_paths(pack_id):
    """Each node of the pack and the answers that reach it from the start."""
    walk = get_walk(pack_id)
    found = {walk.pack.start: []}
    for path, _ in walk.paths():
        for i, (node, _a) in enumerate(path):
            found.setdefault(node, [a for _n, a in path[:i]])
    return found


@pytest.mark.parametrize("pack_id", pack_ids())
def test_why_back_and_start_over_at_every_node(engine, pack_id):
    pack = load_pack(pack_id)
    for node, answers in nodes_with_paths(pack_id).items():
        conv = f"{pack_id}-{node}"
        say(engine, Event("start", pack_id), conv=conv)
        for a in answers:
            say(engine, Event("answer", a), conv=conv)
        shown = last(engine.current("console", conv, "u-test"))
        assert shown.kind == "question" and shown.text == pack.nodes[node]["question"]

        why = say(engine, Event("why"), conv=conv)[0]
        assert why.kind == "why" and why.text == pack.nodes[node]["help"]
        assert why.citations == named(pack.nodes[node]["cite"])

        # back, repeatedly, to the start, one question at a time
        seen = [node]
        for _ in answers:
            seen.append(last(say(engine, Event("back"), conv=conv)).text)
        assert last(say(engine, Event("back"), conv=conv)).text == pack.nodes[pack.start]["question"]
        expected = [pack.nodes[n]["question"] for n in reversed(_path_nodes(pack_id, answers))]
        assert seen[1:] == expected

        for a in answers:
            say(engine, Event("answer", a), conv=conv)
        restarted = last(say(engine, Event("restart"), conv=conv))
        assert restarted.text == pack.nodes[pack.start]["question"]
        assert say(engine, Event("where"), conv=conv)[0].facts == []


def _path_nodes(pack_id, answers):
    walk = get_walk(pack_id)
    from dialogs.walk import WalkModel
    m = WalkModel(state=walk.pack.start)
    for a in answers:
        walk.answer(m, a)
    return [n for n, _ in m.history]


def test_typed_words_work_like_buttons(engine):
    pack = load_pack("hmg-2018")
    say(engine, Event("start"))
    assert last(say(engine, Event("text", "No"))).text == pack.nodes["purpose"]["question"]
    assert last(say(engine, Event("text", "Y"))).text == pack.nodes["consent"]["question"]
    assert last(say(engine, Event("text", "BACK"))).text == pack.nodes["purpose"]["question"]
    assert last(say(engine, Event("text", "yes"))).text == pack.nodes["consent"]["question"]
    assert last(say(engine, Event("text", "n"))).text == pack.nodes["identifiable"]["question"]
    where = say(engine, Event("text", "where am I?"))[0]
    assert where.facts == [(pack.nodes["immediate_risk"]["question"], "No"),
                           (pack.nodes["purpose"]["question"], "Yes"),
                           (pack.nodes["consent"]["question"], "No")]
    assert say(engine, Event("text", "why"))[0].text == pack.nodes["identifiable"]["help"]
    outcome = last(say(engine, Event("text", "Not sure")))
    assert outcome.kind == "outcome" and outcome.title == pack.outcomes["seek_advice"]["title"]
    assert last(say(engine, Event("text", "back"))).text == pack.nodes["identifiable"]["question"]
    assert last(say(engine, Event("text", "restart"))).text == pack.nodes["immediate_risk"]["question"]
    assert last(say(engine, Event("text", "unsure"))).title == pack.outcomes["urgent_action"]["title"]


def test_seek_advice_shows_the_deployments_contacts(engine):
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("answer", "no"))
    outcome = last(say(engine, Event("answer", "unsure")))
    facts = dict(outcome.facts)
    roles = [c["role"] for c in load_pack("hmg-2018").contacts("seek_advice")]
    dsl_role = next(c["role"] for c in load_pack("hmg-2018").contacts("seek_advice") if c["id"] == "manager")
    assert facts[dsl_role] == "Test duty manager, ext 000"
    assert all(r in facts for r in roles)
    unset = [facts[r] for r in roles if r != dsl_role]
    assert unset and all("not set here" in v for v in unset)  # no invented numbers


def test_share_outcome_carries_the_how_to_share_checklist(engine):
    say(engine, Event("start", "wirral"))
    for a in ("no", "yes", "yes"):
        out = last(say(engine, Event("answer", a)))
    assert out.kind == "outcome" and out.title == load_pack("wirral").outcomes["share"]["title"]
    lists = dict(out.lists)
    assert lists["How to share"] == [c["text"] for c in load_pack("wirral").checklist]
    assert out.citations


def test_urgent_action_says_call_999_in_wales(engine):
    say(engine, Event("start", "wales"))
    out = last(say(engine, Event("answer", "yes")))
    assert out.kind == "outcome"
    assert "999" in " ".join(v for _k, v in out.facts) + out.text + json.dumps(out.lists)
    assert "130" in out.text + json.dumps(out.lists)


def test_stale_click_changes_nothing(engine):
    first = last(say(engine, Event("start")))
    second = last(say(engine, choice_event(first, first.choices[1])))  # "No"
    assert second.text == load_pack("hmg-2018").nodes["purpose"]["question"]
    stale = say(engine, choice_event(first, first.choices[0]))  # "Yes" on the old question
    assert [r.kind for r in stale] == ["stale"]
    assert "changed nothing" in stale[0].text
    assert last(engine.current("console", "c1", "u-test")).text == second.text


def test_unknown_pack_and_bad_answer_change_nothing(engine):
    say(engine, Event("start"))
    before = last(engine.current("console", "c1", "u-test"))
    err = say(engine, Event("start", "narnia"))
    assert err[0].kind == "error" and "narnia" in err[0].text
    err = say(engine, Event("answer", "maybe"))
    assert err[0].kind == "error"
    assert last(engine.current("console", "c1", "u-test")).token == before.token


def test_resume_after_restart_at_the_same_question(db_path):
    e1 = Engine(open_db(db_path))
    say(e1, Event("start", "bromley"))
    say(e1, Event("answer", "no"))
    say(e1, Event("answer", "yes"))
    e2 = Engine(open_db(db_path))  # a new process would build a new engine on the same file
    shown = last(e2.current("console", "c1", "u-test"))
    assert shown.text == load_pack("bromley").nodes["identifiable"]["question"]
    assert last(say(e2, Event("answer", "no"))).title == load_pack("bromley").outcomes["share"]["title"]


def walk_to_share_and_record(engine, conv="c1", **overrides):
    say(engine, Event("start", "hmg-2018"), conv=conv)
    for a in ("no", "yes", "yes"):
        say(engine, Event("answer", a), conv=conv)
    form = say(engine, Event("record"), conv=conv)
    values = {"categories": ["health", "education"], "recipient": "childrens_social_care",
              "purpose": "safeguarding_referral", "lawful_basis": "consent", "informed": "yes",
              "case_ref": "CASE-0042", "reason": "Parent agreed; concern about attendance and injuries."}
    values.update(overrides)
    return form, values


def test_the_record_step_writes_one_audit_row_after_confirm(engine, db_path):
    form, values = walk_to_share_and_record(engine)
    assert form[0].kind == "record_form"
    ids = [f["id"] for f in form[0].form]
    assert ids[:7] == ["categories", "recipient", "purpose", "lawful_basis", "special_category",
                       "confidentiality_override", "informed"]
    basis = next(f for f in form[0].form if f["id"] == "lawful_basis")
    # fits the path: consent = yes, where public task and legal obligation also fit (Pan-Cheshire's consent myth)
    assert [c["value"] for c in basis["choices"]] == ["consent", "public_task", "legal_obligation"]
    valid = {f["id"]: [c["value"] for c in f.get("choices", [])] for f in form[0].form}
    values["categories"] = valid["categories"][:2]
    values["recipient"], values["purpose"] = valid["recipient"][0], valid["purpose"][0]
    summary = last(say(engine, Event("record_submit", values=values)))
    assert summary.kind == "summary"
    assert audit.my_decisions(open_db(db_path), "u-test", "console") == []  # nothing before confirm
    done = say(engine, Event("confirm"))
    ref = next(r.ref for r in done if r.kind == "recorded")
    rows = audit.my_decisions(open_db(db_path), "u-test", "console")
    assert len(rows) == 1
    row = audit.get_decision(open_db(db_path), ref)
    assert row["ref"] == ref and row["outcome"] == "share" and row["pack_id"] == "hmg-2018"
    assert row["pack_version"] == load_pack("hmg-2018").version
    assert row["user_id"] == "u-test" and row["channel"] == "console" and row["conversation_id"] == "c1"
    assert row["answers"] == [["immediate_risk", "no"], ["purpose", "yes"], ["consent", "yes"]]
    assert row["record"]["case_ref"] == "CASE-0042"
    assert row["record"]["lawful_basis"] == "consent"
    assert row["record"]["categories"] == valid["categories"][:2]
    assert row["recorded_at"].endswith("Z")
    # a second confirm records nothing more
    say(engine, Event("confirm"))
    assert len(audit.my_decisions(open_db(db_path), "u-test", "console")) == 1


def test_record_form_errors_name_the_fields_and_store_nothing(engine, db_path):
    _form, values = walk_to_share_and_record(engine)
    values.update(recipient="martians", reason="", informed="no")
    errors = say(engine, Event("record_submit", values=values))[0]
    assert errors.kind == "form_errors"
    assert set(errors.errors) >= {"recipient", "reason", "not_told_reason"}
    assert audit.my_decisions(open_db(db_path), "u-test", "console") == []


def test_identifiers_are_removed_from_free_text_and_the_user_is_told(engine, db_path):
    form, values = walk_to_share_and_record(engine)
    valid = {f["id"]: [c["value"] for c in f.get("choices", [])] for f in form[0].form}
    values.update(categories=valid["categories"][:1], recipient=valid["recipient"][0], purpose=valid["purpose"][0],
                  reason="Mum on 07700 900123 agreed, email jo.bloggs@example.org")
    replies = say(engine, Event("record_submit", values=values))
    assert any(r.kind == "privacy" for r in replies)
    ref = next(r.ref for r in say(engine, Event("confirm")) if r.kind == "recorded")
    reason = audit.get_decision(open_db(db_path), ref)["record"]["reason"]
    assert "07700" not in reason and "jo.bloggs" not in reason


def test_do_not_share_is_recorded_too(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("answer", "no"))
    out = last(say(engine, Event("answer", "no")))
    assert out.title == load_pack("hmg-2018").outcomes["do_not_share"]["title"]
    form = say(engine, Event("record"))[0].form
    assert [c["value"] for c in next(f for f in form if f["id"] == "lawful_basis")["choices"]] == ["no_sharing"]
    first = {f["id"]: (f.get("choices") or [{"value": None}])[0]["value"] for f in form}
    first.update(categories=[first["categories"]], reason="No clear purpose was given by the requester.",
                 informed="yes", case_ref="")
    assert last(say(engine, Event("record_submit", values=first))).kind == "summary"
    ref = next(r.ref for r in say(engine, Event("confirm")) if r.kind == "recorded")
    assert audit.get_decision(open_db(db_path), ref)["outcome"] == "do_not_share"


def test_leaving_without_recording_needs_a_reason_and_records_it(engine, db_path):
    say(engine, Event("start"))
    say(engine, Event("answer", "no"))
    say(engine, Event("answer", "unsure"))
    ask = last(say(engine, Event("restart")))
    assert ask.title == "Leave without recording"
    replies = say(engine, Event("text", "Manager will record it on the case file."))
    recorded = next(r for r in replies if r.kind == "recorded")
    assert last(replies).text == load_pack("hmg-2018").nodes["immediate_risk"]["question"]
    row = audit.get_decision(open_db(db_path), recorded.ref)
    assert row["kind"] == "left_without_recording" and row["outcome"] == "seek_advice"
    assert row["record"]["reason"] == "Manager will record it on the case file."


def test_text_record_step_in_order(engine, db_path):
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("answer", "no"))
    say(engine, Event("answer", "no"))
    shown = say(engine, Event("text", "record"))
    field = last(shown)
    assert field.kind == "record_field" and field.field["id"] == "categories"
    steps = 0
    while last(shown).kind == "record_field" and steps < 12:
        f = last(shown).field
        if f["kind"] == "text":
            value = "CASE-7" if f["id"] == "case_ref" else "Purpose not clear; told the requester."
        else:
            value = "1"
        shown = say(engine, Event("text", value))
        steps += 1
    assert last(shown).kind == "summary"
    ref = next(r.ref for r in say(engine, Event("text", "confirm")) if r.kind == "recorded")
    assert audit.get_decision(open_db(db_path), ref)["record"]["reason"].startswith("Purpose not clear")


def test_warm_up_builds_the_default_matcher_in_the_background(engine):
    from dialogs import answers
    answers._MATCHERS.pop("hmg-2018", None)
    thread = engine.warm_up()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert "hmg-2018" in answers._MATCHERS  # built before anyone asked


def test_a_stored_conversation_on_a_removed_pack_starts_afresh(engine, db_path):
    from storage import conversations
    db = open_db(db_path)
    conversations.ensure_schema(db)
    conversations.save_state(db, "console:c9:u-test", {"pack": "gone-pack", "phase": "walk", "node": "purpose",
                                                        "history": [["immediate_risk", "no"]], "turn": 3,
                                                        "walk_id": "old", "an_old_key": 1}, expected_version=0)
    shown = engine.current("console", "c9", "u-test")
    assert last(shown).kind == "info" and "start" in last(shown).text.lower()
    started = say(engine, Event("start"), conv="c9")
    assert last(started).text == load_pack("hmg-2018").nodes["immediate_risk"]["question"]


def test_a_delivery_key_is_processed_once_and_stored_with_the_turn(engine, db_path):
    first = say(engine, Event("start", "hmg-2018"))[-1]
    no = next(c for c in first.choices if c.label == "No")
    moved = engine.handle("console", "c1", "u-test", choice_event(first, no), once="click-1")
    assert moved[-1].kind == "question" and moved[-1].text != first.text

    # the same delivery again (a retry, a double click): nothing shown, nothing changed
    assert engine.handle("console", "c1", "u-test", choice_event(first, no), once="click-1") is None
    assert engine.current("console", "c1", "u-test")[-1].text == moved[-1].text

    # the key and the turn are in the store together
    db = open_db(db_path)
    assert db.execute("select count(*) from processed_events where key = 'click-1'").fetchone()[0] == 1
    state = json.loads(db.execute("select state from conversations").fetchone()[0])
    assert state["node"] != load_pack("hmg-2018").start


def test_a_delivery_key_is_kept_for_a_stale_click_and_a_turn_that_changes_nothing(engine, db_path):
    first = say(engine, Event("start", "hmg-2018"))[-1]
    no = next(c for c in first.choices if c.label == "No")
    say(engine, choice_event(first, no))
    stale = engine.handle("console", "c1", "u-test", choice_event(first, no), once="old-button")
    assert [r.kind for r in stale] == ["stale"]
    assert engine.handle("console", "c1", "u-test", choice_event(first, no), once="old-button") is None
    why = engine.handle("console", "c1", "u-test", Event("why"), once="why-1")
    assert why[0].kind == "why"
    assert engine.handle("console", "c1", "u-test", Event("why"), once="why-1") is None


def test_a_turn_that_fails_leaves_its_delivery_key_unused(engine, db_path, monkeypatch):
    first = say(engine, Event("start", "hmg-2018"))[-1]
    no = next(c for c in first.choices if c.label == "No")
    from storage import conversations

    def conflict(*args, **kwargs):
        raise conversations.ConcurrentUpdate("c1")
    monkeypatch.setattr(conversations, "save_state", conflict)
    assert [r.kind for r in engine.handle("console", "c1", "u-test", choice_event(first, no), once="k")] == ["stale"]
    monkeypatch.undo()
    # the click was not marked done: delivered again, it is processed
    again = engine.handle("console", "c1", "u-test", choice_event(first, no), once="k")
    assert again is not None and again[-1].kind == "question" and again[-1].text != first.text


# ---- a child at immediate risk (issue 11) ------------------------------------------------------

@pytest.mark.parametrize("pack_id", pack_ids())
@pytest.mark.parametrize("answer", ["yes", "unsure"])
def test_urgent_outcome_gives_999_and_never_ask_your_organisation(tmp_path, pack_id, answer):
    bare = Engine(open_db(str(tmp_path / "bare.db")))  # a deployment that has set no contacts
    bare.handle("console", "c", "u", Event("start", pack_id))
    outcome = last(bare.handle("console", "c", "u", Event("answer", answer)))
    assert outcome.kind == "outcome" and outcome.title == load_pack(pack_id).outcomes["urgent_action"]["title"]
    facts = dict(outcome.facts)
    assert any(v == "999" for v in facts.values()), facts
    shown = render(outcome, numbered=True)
    assert "ask your organisation" not in shown and "not set here" not in shown
    assert "children's social care" in shown.lower() or "children's services" in shown.lower()


@pytest.mark.parametrize("pack_id", pack_ids())
def test_not_sure_about_danger_leads_with_the_dsl_now_not_information_governance(tmp_path, pack_id):
    bare = Engine(open_db(str(tmp_path / "bare.db")))
    bare.handle("console", "c", "u", Event("start", pack_id))
    outcome = last(bare.handle("console", "c", "u", Event("answer", "unsure")))
    assert outcome.text.startswith("You are not sure whether the child is safe, so treat it as urgent.")
    assert "designated safeguarding lead or manager straight away" in outcome.text
    shown = render(outcome, numbered=True).lower()
    assert "999" in outcome.text and "information governance" not in shown and "caldicott" not in shown


def test_a_configured_contact_is_shown_beside_999(tmp_path):
    eng = Engine(open_db(str(tmp_path / "c.db")), contacts={"childrens_social_care": "Front door 0000 000",
                                                               "police": "Local police station"})
    eng.handle("console", "c", "u", Event("start", "wirral"))
    facts = dict(last(eng.handle("console", "c", "u", Event("answer", "yes"))).facts)
    assert facts["Integrated Front Door (Wirral children's services)"] == "Front door 0000 000"
    assert facts["Police"] == "999 (Local police station)"


def test_urgent_decisions_reached_by_not_sure_count_with_the_urgent_ones_in_the_digest(engine):
    from storage.digest import build_digest
    say(engine, Event("start", "hmg-2018"))
    say(engine, Event("answer", "unsure"))
    say(engine, Event("record"))
    for value in ("health", "childrens_social_care", "safeguarding_referral", "vital_interests", "skip",
                  "skip", "will", "skip", "Not sure the child was safe at pick-up; spoke to the DSL."):
        replies = say(engine, Event("text", value))
    assert last(replies).kind == "summary", [r.text for r in replies]
    say(engine, Event("confirm"))
    d = build_digest(engine.db)
    assert d["by_outcome"]["urgent_action"] == 1 and d["attention"]["urgent_action"] == 1


# ---- sources by name, checklist, records (issue 11) --------------------------------------------

def test_sources_are_shown_by_document_name_and_whole_heading(engine):
    say(engine, Event("start", "bromley"))
    for a in ("no", "yes"):
        say(engine, Event("answer", a))
    why = say(engine, Event("why"))[0]
    assert ".txt" not in render(why, numbered=True)
    line = cite_text(why.citations)
    assert ("Bromley Safeguarding Children Board, Multi-Agency Children's Safeguarding Information Sharing Protocol: "
            "Does the information enable an individual to be identified?") in line
    assert all(set(c) == {"document", "section"} for c in why.citations)


def test_checklist_opens_bromleys_self_check_in_any_phase(engine):
    say(engine, Event("start", "bromley"))
    replies = say(engine, Event("text", "checklist"))
    check = replies[0]
    assert check.title == "Bromley's information sharing checklist"
    items = dict(check.lists)["Ask yourself"]
    assert len(items) == len(load_pack("bromley").data["self_check"]["items"]) >= 10
    assert "Bromley Safeguarding Children Board" in render(check, numbered=True)
    assert last(replies).kind == "question"  # the walk goes on where it was


def test_checklist_in_other_packs_is_the_how_to_share_checklist(engine):
    say(engine, Event("start", "wales"))
    check = say(engine, Event("text", "checklist"))[0]
    assert dict(check.lists)["Ask yourself"] == [c["text"] for c in load_pack("wales").checklist]


def test_superseded_pack_says_so_when_a_walk_starts(engine):
    intro = say(engine, Event("start", "hmg-2018"))[0]
    assert "replaced by new national advice in May 2024" in intro.text
    assert "replaced" not in say(engine, Event("start", "wirral"))[0].text


def _record_consent_not_told(engine, pack_id):
    say(engine, Event("start", pack_id))
    walk = ("no", "yes", "yes", "yes", "yes") if pack_id in ("buckinghamshire", "bromley") else ("no", "yes", "yes")
    for a in walk:
        outcome = last(say(engine, Event("answer", a)))
    assert outcome.title == load_pack(pack_id).outcomes["share"]["title"]
    say(engine, Event("record"))
    replies = []
    for value in ("health", "education", "early_help", "consent"):
        replies = say(engine, Event("text", value))
    return replies


@pytest.mark.parametrize("pack_id", ["hmg-2018", "wirral", "pan-cheshire", "wales"])
def test_consent_given_offers_public_task_and_legal_obligation_too(engine, pack_id):
    say(engine, Event("start", pack_id))
    for a in ("no", "yes", "yes"):
        say(engine, Event("answer", a))
    say(engine, Event("record"))
    for value in ("health", "education", "early_help"):
        field = last(say(engine, Event("text", value)))
    assert field.field["id"] == "lawful_basis"
    assert {c.value for c in field.choices} >= {"consent", "public_task", "legal_obligation"}


def test_consent_with_not_told_asks_to_explain_or_correct(engine):
    prompt = last(_record_consent_not_told(engine, "wirral"))
    assert prompt.field["id"] == "special_category" and any(c.label == "Skip" for c in prompt.choices)
    say(engine, Event("text", "skip"))
    say(engine, Event("text", "skip"))
    asked = last(say(engine, Event("text", "no")))
    assert asked.field["id"] == "not_told_reason"
    assert asked.text.startswith("You chose consent as the lawful basis, but the person has not been told.")
    say(engine, Event("text", "Mother consented; the child is too young to understand."))
    say(engine, Event("text", "skip"))
    summary = last(say(engine, Event("text", "Early help referral agreed with the family.")))
    assert summary.kind == "summary"
    assert dict(summary.facts)["Why not told, although consent is the lawful basis (please check)"].startswith("Mother")


def test_buckinghamshire_records_who_consented_the_risk_and_what_was_asked(engine):
    replies = _record_consent_not_told(engine, "buckinghamshire")
    ids = [f["id"] for f in replies[-1].form] if replies[-1].form else []
    assert {"consent_given_by", "risk_level", "requested", "special_category", "confidentiality_override"} <= set(ids)
    assert last(replies).field["id"] == "consent_given_by"
