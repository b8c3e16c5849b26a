"""Questions in the DM, the App Home tab, the digest for leads, Back / Why / Start over, the text modal."""

from __future__ import annotations

import json

from content.loader import load_pack
from dialogs.answers import get_matcher
from dialogs.events import Event

from slack_mock import SlackUser

pytest_plugins = ["slack_mock"]  # its fixtures: slack_api, slack_env, slack_engine, slack_db_path, slack_server, alice

PACK = load_pack("hmg-2018")
Q = {n: PACK.nodes[n]["question"] for n in PACK.nodes}


def labels(blocks):
    return [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


async def test_a_question_typed_in_the_dm_gets_the_curated_answer(alice, slack_api):
    expected = get_matcher("hmg-2018").ask("does GDPR stop me sharing?")
    assert expected.topic, "the matcher should know this one"
    resp = await alice.dm_text("does GDPR stop me sharing?")
    assert resp.status == 200
    answer = await slack_api.next_call("chat.postMessage")
    assert answer.args["channel"] == alice.dm
    assert expected.title in answer.text
    assert expected.answer.split(".")[0] in answer.text
    assert answer.args["text"], "every message has a notification fallback"
    assert "Start a decision" in labels(answer.args["blocks"])


async def test_typed_answers_move_the_walk_and_the_older_message_loses_its_buttons(alice, slack_api):
    await alice.dm_text("start")
    q1 = await slack_api.next_call("chat.postMessage")
    n = len(slack_api.calls)
    await alice.dm_text("no")
    q2 = await slack_api.next_call("chat.postMessage", after=n)
    assert Q["purpose"] in q2.text
    retired = await slack_api.next_call("chat.update", after=n, where=lambda c: c.ts == q1.ts)
    assert labels(retired.args["blocks"]) == [] and "newer message below" in retired.text
    assert Q["immediate_risk"] in retired.text, "the older message keeps what it said"


async def test_why_back_and_start_over_update_the_same_message(alice, slack_api):
    await alice.command("start hmg-2018")
    msg = await slack_api.next_call("chat.postMessage")
    steps = [("No", Q["purpose"]), ("Why?", PACK.nodes["purpose"]["help"][:40]),
             ("Back", Q["immediate_risk"]), ("No", Q["purpose"]), ("Start over", Q["immediate_risk"])]
    for label, expect in steps:
        n = len(slack_api.calls)
        await alice.click(msg, label)
        msg = await slack_api.next_call("chat.update", after=n)
        assert expect in msg.text, label
        assert msg.args["text"].startswith("Question"), "the buttons of the question stay on the message"


async def test_the_home_tab_has_start_my_decisions_and_topics(alice, slack_api, slack_server):
    slack_server.channel.engine.handle("slack", alice.dm, alice.user, Event("start"))
    await alice.home_opened()
    home = (await slack_api.next_call("views.publish")).args
    assert home["user_id"] == alice.user
    view = home["view"]
    assert view["type"] == "home"
    text = json.dumps(view)
    assert "Start a decision" in labels(view["blocks"])
    assert "My decisions" in text and "no recorded decisions" in text
    assert "Topics" in text and any(b["type"] == "actions" for b in view["blocks"])

    n = len(slack_api.calls)
    await alice.click_home(view, "Start a decision")
    q1 = await slack_api.next_call("chat.postMessage", after=n)
    assert q1.args["channel"] == alice.dm and "Question" in q1.args["text"]
    again = await slack_api.next_call("views.publish", after=n)
    assert again.args["view"]["blocks"][2] != view["blocks"][2], "buttons are fresh after a click"


async def test_the_digest_is_for_leads_only_and_arrives_in_their_dm(slack_api, slack_server):
    lead = SlackUser(slack_server, slack_api, user="ULEAD001")
    other = SlackUser(slack_server, slack_api, user="U0OTHER1")
    await lead.command("digest", channel="C0LEADS01")
    got = await slack_api.next_call("chat.postMessage", where=lambda c: c.args["channel"] == lead.dm)
    assert "Information sharing digest" in got.text and "```" in got.text  # tables in code blocks
    n = len(slack_api.calls)
    await other.command("digest")
    refused = await slack_api.next_call("chat.postMessage", after=n, where=lambda c: c.args["channel"] == other.dm)
    assert "Only the safeguarding leads" in refused.text and "digest" not in refused.args["text"].lower()[:20]


async def test_leaving_without_recording_takes_a_typed_reason_from_a_modal(alice, slack_api, slack_db_path):
    await alice.command("start hmg-2018")
    msg = await slack_api.next_call("chat.postMessage")
    msg = await alice.click_through(msg, "No", "No")
    n = len(slack_api.calls)
    await alice.click(msg, "Start over")  # an outcome not recorded: a reason is asked for
    msg = await slack_api.next_call("chat.update", after=n)
    assert "Type your answer" in labels(msg.args["blocks"])
    n = len(slack_api.calls)
    await alice.click(msg, "Type your answer")
    view = (await slack_api.next_call("views.open", after=n)).args["view"]
    assert view["blocks"][0]["element"]["type"] == "plain_text_input"
    assert view["title"]["text"] == "Leave without recording"  # whole: a modal title takes 24 characters
    n = len(slack_api.calls)
    resp = await alice.submit(view, {view["blocks"][0]["block_id"]: "Duplicate of an earlier request."})
    assert resp.status == 200
    done = await slack_api.next_call("chat.update", after=n)
    assert "Reason recorded" in done.text and Q["immediate_risk"] in done.text  # then the new walk starts
    from storage import audit
    from storage.db import open_db
    rows = audit.my_decisions(open_db(slack_db_path), alice.user, "slack")
    assert rows[0]["kind"] == "left_without_recording"


async def test_the_record_form_can_be_opened_again(alice, slack_api):
    await alice.command("start hmg-2018")
    msg = await slack_api.next_call("chat.postMessage")
    msg = await alice.click_through(msg, "No", "Yes", "Yes", "Record this decision")
    n = len(slack_api.calls)
    await alice.click(msg, "Open the record form")
    view = (await slack_api.next_call("views.open", after=n)).args["view"]
    assert view["callback_id"] == "infoshare_record"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"][0] == "categories"


async def test_the_not_told_question_comes_and_goes_with_its_answer_in_the_record_modal(alice, slack_api):
    await alice.command("start hmg-2018")
    msg = await slack_api.next_call("chat.postMessage")
    n = len(slack_api.calls)
    msg = await alice.click_through(msg, "No", "Yes", "Yes", "Record this decision")
    modal = (await slack_api.next_call("views.open", after=n)).args["view"]
    informed = next(b for b in modal["blocks"] if b.get("block_id") == "informed")
    assert "adds: Why are they not being told?" in informed["hint"]["text"]
    values = {"informed": "no"}
    n = len(slack_api.calls)
    await alice.pick(modal, values, "informed")
    shown = (await slack_api.next_call("views.update", after=n)).args["view"]
    assert any(b.get("block_id") == "not_told_reason" for b in shown["blocks"])
    n = len(slack_api.calls)
    await alice.pick(shown, {"informed": "yes"}, "informed")
    hidden = (await slack_api.next_call("views.update", after=n)).args["view"]
    assert not any(b.get("block_id") == "not_told_reason" for b in hidden["blocks"])
    # The same answer again redraws nothing; a modal of an earlier step is left alone.
    n = len(slack_api.calls)
    await alice.pick(hidden, {"informed": "yes"}, "informed")
    await alice.click(msg, "Back")
    await slack_api.next_call("chat.update", after=n)
    await alice.pick(hidden, {"informed": "no"}, "informed")
    await slack_api.settle()
    assert not slack_api.of("views.update")[2:]


async def test_a_choice_in_a_modal_that_is_not_ours_or_has_no_id_changes_nothing(alice, slack_api):
    await alice.command("start hmg-2018")
    msg = await slack_api.next_call("chat.postMessage")
    n = len(slack_api.calls)
    await alice.click_through(msg, "No", "Yes", "Yes", "Record this decision")
    modal = (await slack_api.next_call("views.open", after=n)).args["view"]
    from slack_mock import state_for
    option = next(b for b in modal["blocks"] if b.get("block_id") == "informed")["element"]["options"][-1]
    action = [{"type": "static_select", "action_id": "v", "block_id": "informed", "selected_option": option}]
    for view in ({"callback_id": modal["callback_id"], "private_metadata": modal["private_metadata"]},  # no id
                 {"id": "VOTHER", "callback_id": "someone_elses", "private_metadata": "{}"},
                 {"id": "VMODAL", "callback_id": modal["callback_id"], "private_metadata": "not json"}):
        resp = await alice.interact({"type": "block_actions", "container": {"type": "view"},
                                     "view": dict(view, type="modal", blocks=modal["blocks"],
                                                  state={"values": state_for(modal, {"informed": "no"})}),
                                     "actions": action})
        assert resp.status == 200
    await slack_api.settle()
    assert not slack_api.of("views.update", "chat.postMessage")[1:]  # no redraw, no apology
