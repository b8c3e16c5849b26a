"""The Teams channel over HTTP: real activity JSON posted to the running server, replies read at a mock connector.

The server runs as ``infoshare serve --dev`` would (no MicrosoftAppId, 127.0.0.1); see
``tests/teams_mock.py``. All people, ids and case details are made up.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest

from dialogs.events import Event
from storage import audit, references
from teams_mock import (BOT, CHANNEL, GROUP, LEAD, PERSONAL, TENANT, USER, TeamsHarness, action, actions, activity,
                        card_of, card_text, inputs)

AAD = USER["aadObjectId"]


def state(h: TeamsHarness, conversation: str = PERSONAL) -> dict:
    row = h.rows("select state from conversations where id = ?", [f"teams:{conversation}:{AAD}"])
    return json.loads(row[0][0]) if row else {}


def nothing_stored(h: TeamsHarness) -> bool:
    tables = ("conversations", "processed_events", "conversation_references", "live_cards", "decisions")
    return all(h.rows(f"select count(*) from {t}")[0][0] == 0 for t in tables)


def versions_ok(card: dict) -> bool:
    return card["type"] == "AdaptiveCard" and float(card["version"]) <= 1.5


# ---- the walk ---------------------------------------------------------------------------------

async def test_a_whole_walk_from_start_to_a_recorded_decision(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        assert await h.post(h.message("start")) == 201
        sent = h.connector.cards(PERSONAL)
        assert len(sent) == 2 and "decision aid" in card_text(sent[0]).lower()
        first_id, q1 = h.latest_card()
        assert "immediate risk" in card_text(q1)
        # On a phone each row needs room: the answers on a row of their own, navigation below.
        [answers] = [b for b in q1["body"] if b["type"] == "ActionSet"]
        assert [a["title"] for a in answers["actions"]] == ["Yes", "No", "Not sure"]
        assert [a["title"] for a in q1["actions"]] == ["Start over", "Why?"]

        # Each click updates the same card in place: no new message.
        for answer in ("No", "Yes", "Yes"):
            card_id, card = h.latest_card()
            assert await h.post(h.click(card_id, card, answer)) == 201
            assert h.latest_card()[0] == first_id
        assert len(h.connector.cards(PERSONAL)) == 2
        assert len(h.connector.of("update")) == 3

        _, outcome = h.latest_card()
        facts = next(b for b in outcome["body"] if b["type"] == "FactSet")["facts"]
        assert facts[0]["title"] == "Outcome" and "share" in facts[0]["value"].lower()
        assert "Source:" in card_text(outcome)

        # The record step: one form with choice sets and text inputs.
        assert await h.post(h.click(first_id, outcome, "Record this decision")) == 201
        _, form = h.latest_card()
        fields = inputs(form)
        assert fields["field:categories"]["type"] == "Input.ChoiceSet" and fields["field:categories"]["isMultiSelect"]
        assert fields["field:reason"]["type"] == "Input.Text"
        basis = fields["field:lawful_basis"]["choices"][0]["value"]

        # Missing answers come back as messages under their fields, with what was filled in kept.
        assert await h.post(h.click(first_id, form, "Continue", {"categories": "health,education"})) == 201
        _, errors = h.latest_card()
        assert "needs an answer" in card_text(errors)
        assert inputs(errors)["field:categories"]["value"] == "health,education"
        assert state(h)["phase"] == "record"

        values = {"categories": "health,education", "recipient": "health", "purpose": "safeguarding_referral",
                  "lawful_basis": basis, "informed": "yes", "case_ref": "TEST-0001",
                  "reason": "Made-up reason: the school nurse needs the attendance pattern."}
        assert await h.post(h.click(first_id, errors, "Continue", values)) == 201
        _, summary = h.latest_card()
        assert "Summary of the decision" in card_text(summary)
        [first_row] = [b for b in summary["body"] if b["type"] == "ActionSet"]
        assert [a["title"] for a in first_row["actions"]] == ["Confirm and record", "Change"]
        assert [a["title"] for a in summary["actions"]] == ["Back", "Leave without recording"]
        assert await h.post(h.click(first_id, summary, "Confirm and record")) == 201

        recorded = [c for c in h.connector.cards(PERSONAL) if "Decision recorded" in card_text(c)]
        assert len(recorded) == 1
        ref = state(h)["last_ref"]
        assert ref in card_text(recorded[0])
        row = audit.get_decision(h.db, ref)
        assert row["channel"] == "teams" and row["user_id"] == AAD and row["conversation_id"] == PERSONAL
        assert row["outcome"] == "share" and row["kind"] == "decision"
        assert row["answers"] == [["immediate_risk", "no"], ["purpose", "yes"], ["consent", "yes"]]
        assert row["record"]["case_ref"] == "TEST-0001" and row["record"]["categories"] == ["health", "education"]
        assert audit.verify_chain(h.db).ok

        every = h.connector.cards() + [card_of(c["body"]) for c in h.connector.of("update")]
        assert all(versions_ok(c) for c in every)
        assert all("data" in a for c in every for a in c.get("actions", []) if a["type"] == "Action.Submit")


async def test_the_record_form_explains_itself(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        card_id, card = h.latest_card()
        for label in ("No", "Yes", "Yes", "Record this decision"):
            await h.post(h.click(card_id, card, label))
            card_id, card = h.latest_card()
        fields = inputs(card)
        assert all(f.get("placeholder") for f in fields.values() if f["type"] == "Input.ChoiceSet")
        assert all(f["maxLength"] == 500 for f in fields.values() if f["type"] == "Input.Text")
        assert "field:not_told_reason" not in fields  # only after "No, not told"
        assert "adds a question after Continue: Why are they not being told?" in json.dumps(card)

        values = {"categories": "health", "recipient": "health", "purpose": "safeguarding_referral",
                  "lawful_basis": fields["field:lawful_basis"]["choices"][0]["value"], "informed": "no",
                  "reason": "Made-up reason."}
        await h.post(h.click(card_id, card, "Continue", values))
        _, again = h.latest_card()
        asked = inputs(again)["field:not_told_reason"]
        assert asked["maxLength"] == 500 and inputs(again)["field:informed"]["value"] == "no"
        assert "needs an answer" in card_text(again) and state(h)["phase"] == "record"

        values["not_told_reason"] = "Made-up: telling them would put the child at risk."
        await h.post(h.click(card_id, again, "Continue", values))
        assert "Summary of the decision" in card_text(h.latest_card()[1])
        assert state(h)["record"]["not_told_reason"].startswith("Made-up: telling them")


async def test_typed_words_work_as_in_the_console(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        await h.post(h.message("no"))
        await h.post(h.message("why"))
        texts = [card_text(c) for c in h.connector.cards(PERSONAL)]
        assert "Question 2" in texts[-2]  # typed answers post the next question as a new card
        assert texts[-1].startswith("Why is this asked?")
        await h.post(h.message("back"))
        assert "Question 1" in card_text(h.connector.cards(PERSONAL)[-1])
        assert state(h)["history"] == []
        assert not h.connector.of("update")


async def test_a_question_in_your_own_words_gets_the_same_answer_as_the_console(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        question = "do I need consent to share?"
        await h.post(h.message(question))
        console = h.engine.handle("console", "compare", "someone", Event("text", question))[0]
        card = h.connector.cards(PERSONAL)[-1]
        assert console.kind == "answer"
        assert console.text.splitlines()[0] in card_text(card)
        for c in console.choices:  # the suggested topics are buttons that ask for that topic
            assert action(card, c.label)["data"]["infoshare"] == {"kind": "topic", "value": c.value}


async def test_did_you_mean_topics_are_lettered_buttons_and_a_typed_letter_picks_one(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("information sharing"))
        card = h.connector.cards(PERSONAL)[-1]
        console = h.engine.handle("console", "compare", "someone", Event("text", "information sharing"))[0]
        assert [c.key for c in console.choices][:2] == ["A", "B"]
        for c in console.choices:  # the letters in the text, the titles on the buttons
            assert f"{c.key}) {c.label}" in card_text(card)
            assert action(card, c.label)["data"]["infoshare"] == {"kind": "topic", "value": c.value}
        await h.post(h.message("b"))
        assert console.choices[1].label in card_text(h.connector.cards(PERSONAL)[-1])


async def test_the_topics_are_one_searchable_list_and_one_button(tmp_path, monkeypatch):
    from dialogs.answers import list_topics
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        await h.post(h.message("topics"))
        card = h.connector.cards(PERSONAL)[-1]
        submits = [a for a in actions(card) if a["type"] == "Action.Submit"]
        assert [a["title"] for a in submits] == ["Read the answer"]  # not one button a topic
        picker = inputs(card)["field:pick"]
        assert picker["style"] == "filtered" and picker["placeholder"] and picker["isRequired"]
        topics = list_topics(state(h)["pack"])
        assert [(c["value"], c["title"]) for c in picker["choices"]] == [(t, title) for t, title in topics]
        before = state(h)

        topic, title = topics[3]
        assert await h.post(h.click("", card, "Read the answer", {"pick": topic})) == 201
        answer = h.connector.cards(PERSONAL)[-2]  # the answer, then the walk's question again
        assert title in card_text(answer)

        for bad, says in (("no-such-topic", "There is no topic"), ("", "No topic was chosen")):
            n = len(h.connector.calls)
            assert await h.post(h.click("", card, "Read the answer", {"pick": bad})) == 201
            replies = [card_text(card_of(c["body"])) for c in h.connector.calls[n:] if c["kind"] == "send"]
            assert any(says in r for r in replies), replies
        after = state(h)
        assert (after["node"], after["history"], after["phase"]) == (before["node"], before["history"], before["phase"])


def assert_digest_card(card):
    """The digest as Teams draws it: a card with a table, the chart and fact sets; no Markdown
    headings or pipe rows, which Teams shows as they are."""
    assert versions_ok(card)
    text = json.dumps(card)
    assert "Information sharing digest" in card_text(card) and "Record integrity" in card_text(card)
    assert "\n#" not in text and '"# ' not in text and "|---" not in text and "## " not in text
    kinds = [b["type"] for b in card["body"]]
    assert {"Table", "Image"} <= set(kinds)
    table = next(b for b in card["body"] if b["type"] == "Table")
    header = [c["items"][0]["text"] for c in table["rows"][0]["cells"]]
    assert header == ["Outcome", "Count", "Previous", "Change"] and len(table["rows"]) == 5
    image = next(b for b in card["body"] if b["type"] == "Image")
    assert image["url"].startswith("data:image/png;base64,") and image["altText"]
    assert len(text) < 28_000  # Teams refuses a bigger message


async def test_a_lead_types_digest(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch, leads=[LEAD["aadObjectId"]]) as h:
        audit.append_decision(h.db, {"user_id": AAD, "channel": "teams", "conversation_id": PERSONAL,
                                     "pack_id": "wirral", "pack_version": "1.0.0", "outcome": "share",
                                     "answers": [["immediate_risk", "no"]], "kind": "decision",
                                     "record": {"reason": "Made-up reason", "case_ref": "TEST-1"}})
        await h.post(h.message("digest", user=LEAD))
        digest = card_of(h.connector.messages(PERSONAL)[-1])
        pack = next(b for b in digest["body"] if b["type"] == "FactSet")
        assert pack["facts"] == [{"title": "wirral", "value": "1"}]
        assert_digest_card(digest)
        await h.post(h.message("digest"))  # not a lead
        assert "Only the safeguarding leads" in card_text(h.connector.cards(PERSONAL)[-1])


# ---- installing, and shared conversations -----------------------------------------------------

async def test_install_in_personal_scope_says_what_the_bot_does(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        update = activity("conversationUpdate", service_url=h.connector.url, membersAdded=[dict(BOT)])
        assert await h.post(update) == 201
        welcome = h.connector.cards(PERSONAL)[-1]
        assert "decide whether to share information" in card_text(welcome)
        start = action(welcome, "Start a decision")
        assert start["data"] == {"infoshare": {"kind": "start"}}
        assert await h.post(h.message(value=start["data"])) == 201
        assert "Question 1" in card_text(h.connector.cards(PERSONAL)[-1])
        # A member other than the bot joining is not greeted.
        calls = len(h.connector.calls)
        other = activity("conversationUpdate", service_url=h.connector.url, membersAdded=[{"id": "29:someone-else"}])
        assert await h.post(other) == 201 and len(h.connector.calls) == calls


async def test_install_in_a_team_welcomes_without_case_buttons_and_remembers_the_channel(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        update = activity("conversationUpdate", service_url=h.connector.url, conversation=CHANNEL,
                          conversation_type="channel", membersAdded=[dict(BOT)],
                          channelData={"tenant": {"id": TENANT}, "team": {"id": CHANNEL}, "eventType": "teamMemberAdded"})
        assert await h.post(update) == 201
        welcome = h.connector.cards(CHANNEL)[-1]
        assert "private 1:1 chat" in card_text(welcome)
        assert not [a for a in welcome.get("actions", []) if a["type"] == "Action.Submit"]
        assert references.get_reference(h.db, "teams", CHANNEL)["conversation"]["id"] == CHANNEL


@pytest.mark.parametrize("conversation,kind", [(CHANNEL + ";messageid=1764064800001", "channel"), (GROUP, "groupChat")])
async def test_a_mention_in_a_shared_conversation_moves_to_the_personal_chat(tmp_path, monkeypatch, conversation, kind):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        text = "<at>infoshare</at> can I tell the school about the made-up bruise on Child X?"
        mention = {"type": "mention", "text": "<at>infoshare</at>", "mentioned": dict(BOT)}
        assert await h.post(h.message(text, conversation=conversation, conversation_type=kind,
                                      entities=[mention])) == 201
        create = h.connector.of("create")[0]["body"]
        assert create["isGroup"] is False and create["channelData"]["tenant"]["id"] == TENANT
        assert TENANT in (create.get("tenantId"), create.get("tenantID"))  # botbuilder 4.17 spells it tenantID
        assert create["members"] == [{"id": USER["id"], "aadObjectId": AAD}]
        private = h.connector.of("create")[0]["response_id"]
        # The case is discussed only in the private chat ...
        assert h.connector.cards(private)
        # ... and the shared conversation gets one short, neutral note with no case content.
        shared = h.connector.of("send", conversation)
        assert len(shared) == 1
        note = json.dumps(shared[0]["body"])
        assert "private 1:1 chat" in note and "bruise" not in note and "consent" not in note.lower()
        assert not h.rows("select id from conversations where id like ?", [f"teams:{conversation}%"])
        assert references.get_reference(h.db, "teams", AAD)["conversation"]["id"] == private


async def test_a_mention_without_a_tenant_asks_the_user_to_open_a_chat(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        msg = h.message("<at>infoshare</at> start", conversation=GROUP, conversation_type="groupChat",
                        channelData={})
        msg["conversation"].pop("tenantId")
        assert await h.post(msg) == 201
        assert not h.connector.of("create")
        assert "could not open one" in card_text(h.connector.cards(GROUP)[-1])
        assert not h.rows("select id from conversations")


# ---- authentication ---------------------------------------------------------------------------

def _unsigned_jwt(claims: dict) -> str:
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'RS256', 'typ': 'JWT', 'kid': 'made-up'})}.{b64(claims)}.{b64('sig')}"


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer not-a-token", "Basic dXNlcjpwYXNz",
    "Bearer " + _unsigned_jwt({"iss": "https://issuer.example.org", "aud": "00000000-0000-4000-8000-00000000c0de"}),
])
async def test_with_an_app_id_an_activity_without_a_valid_token_is_refused(tmp_path, monkeypatch, authorization):
    async with TeamsHarness(tmp_path, monkeypatch, app_id="00000000-0000-4000-8000-00000000c0de") as h:
        headers = {"Authorization": authorization} if authorization is not None else {}
        assert await h.post(h.message("start"), headers=headers) == 401
        assert h.connector.calls == []
        assert nothing_stored(h)


# ---- bad input --------------------------------------------------------------------------------

async def test_bad_requests_get_a_4xx_and_change_nothing(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        good = h.message("start")
        assert await h.post(None, raw=b'{"type": "message", ') == 400
        assert await h.post(None, raw=b"\xff\xfe not json") == 400
        assert await h.post([good]) == 400
        assert await h.post({k: v for k, v in good.items() if k != "type"}) == 400
        assert await h.post(dict(good, type="")) == 400
        assert await h.post(dict(good, type=5)) == 400
        assert await h.post(dict(good, conversation=None)) == 400
        assert await h.post(dict(good, serviceUrl="not a url")) == 400
        assert await h.post(dict(good, serviceUrl="https://smba.example.org/")) == 400  # --dev: loopback only
        assert await h.post(dict(good, **{"from": "someone"})) == 400
        assert await h.post(None, raw=json.dumps(good).encode(), headers={"Content-Type": "text/plain"}) == 415
        big = dict(good, text="x" * (300 * 1024))
        assert await h.post(big) == 413
        assert h.connector.calls == []
        assert nothing_stored(h)


async def test_an_invoke_is_refused_with_a_4xx(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        invoke = activity("invoke", service_url=h.connector.url, name="composeExtension/query", value={})
        status = await h.post(invoke)
        assert 400 <= status < 500
        assert not h.rows("select id from conversations")


async def test_an_unknown_activity_type_is_accepted_and_ignored(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        assert await h.post(activity("typing", service_url=h.connector.url)) == 201
        assert h.connector.calls == [] and not h.rows("select id from conversations")


async def test_a_redelivered_activity_is_processed_once(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        card_id, card = h.latest_card()
        click = h.click(card_id, card, "No")
        assert await h.post(click) == 201
        calls, turn = len(h.connector.calls), state(h)["turn"]
        assert await h.post(click) == 201
        assert len(h.connector.calls) == calls and state(h)["turn"] == turn
        assert state(h)["history"] == [["immediate_risk", "no"]]


async def test_a_click_on_an_old_card_is_answered_politely_and_changes_nothing(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        card_id, first = h.latest_card()
        await h.post(h.click(card_id, first, "No"))
        before, updates = state(h), len(h.connector.of("update"))
        assert await h.post(h.click(card_id, first, "Yes")) == 201  # the first version's token
        assert state(h) == before and len(h.connector.of("update")) == updates
        stale = card_text(h.connector.cards(PERSONAL)[-1])
        assert "earlier question" in stale and "changed nothing" in stale


async def test_a_card_that_cannot_be_updated_is_sent_again(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        card_id, card = h.latest_card()
        h.connector.fail_updates = True
        assert await h.post(h.click(card_id, card, "No")) == 201
        new_id, new = h.latest_card()
        assert new_id != card_id and "Question 2" in card_text(new)


# ---- faults -----------------------------------------------------------------------------------

async def test_a_fault_gets_an_apology_logs_no_text_and_the_conversation_goes_on(tmp_path, monkeypatch, caplog):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        real = h.engine.handle

        def broken(*args, **kwargs):
            raise RuntimeError("engine fault while reading: made-up secret case text")

        monkeypatch.setattr(h.engine, "handle", broken)
        caplog.set_level(logging.DEBUG)
        assert await h.post(h.message("secret case words about Child X")) == 201
        last = h.connector.messages(PERSONAL)[-1]
        assert "Sorry, something went wrong" in last["text"]
        log = caplog.text
        assert "RuntimeError" in log
        assert "secret case" not in log and "Child X" not in log and "made-up secret" not in log

        monkeypatch.setattr(h.engine, "handle", real)
        card_id, card = h.latest_card()
        assert await h.post(h.click(card_id, card, "No")) == 201
        assert "Question 2" in card_text(h.latest_card()[1])


async def test_no_message_text_is_logged_on_a_normal_walk(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("start"))
        await h.post(h.message("is it fine to tell the made-up school about Child Y?"))
    assert "Child Y" not in caplog.text and "made-up school" not in caplog.text


# ---- proactive messages -----------------------------------------------------------------------

async def test_send_proactive_reaches_a_user_who_has_talked_to_the_bot(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("help"))
        sent_id = await h.teams.send_proactive(AAD, "**Weekly digest**\n\n- 3 decisions")
        posted = h.connector.of("send", PERSONAL)[-1]
        assert posted["response_id"] == sent_id
        assert posted["body"]["text"].startswith("**Weekly digest**") and posted["body"]["textFormat"] == "markdown"
        stored = json.dumps(references.get_reference(h.db, "teams", AAD))
        assert USER["name"] not in stored  # references keep ids, not names
        await h.teams.send_proactive(USER["id"], "by Teams id too")
        with pytest.raises(references.UnknownReference):
            await h.teams.send_proactive("00000000-0000-4000-8000-00000000dead", "nobody")


async def test_a_failed_proactive_post_is_raised_to_the_caller_not_apologised_for(tmp_path, monkeypatch):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        await h.post(h.message("help"))
        h.connector.fail_sends = True
        calls = len(h.connector.calls)
        with pytest.raises(Exception):  # noqa: B017 - any failure of the post: it must reach the caller
            await h.teams.send_proactive(AAD, "**Weekly digest**")
        assert len(h.connector.calls) == calls + 1  # the one failed post, no apology after it


async def test_when_even_the_apology_cannot_be_sent_the_request_still_ends_cleanly(tmp_path, monkeypatch, caplog):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        h.connector.fail_sends = True
        assert await h.post(h.message("start")) == 201
        assert await h.post(h.message("made-up words about Child Z")) == 201
        assert "could not send the apology" in caplog.text and "Child Z" not in caplog.text
        h.connector.fail_sends = False
        assert state(h)["phase"] == "walk"  # the walk had started: it is still there
        await h.post(h.message("where"))
        assert "Now at: Is a child at immediate risk" in card_text(h.connector.cards(PERSONAL)[-1])
