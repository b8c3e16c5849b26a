"""The walk in Slack, as a user meets it: through the running server, signed requests, a mock Web API."""

from __future__ import annotations

from content.loader import load_pack
from storage import audit
from storage.db import open_db

from slack_mock import find_button

pytest_plugins = ["slack_mock"]  # its fixtures: slack_api, slack_env, slack_engine, slack_db_path, slack_server, alice

PACK = load_pack("hmg-2018")
Q = {n: PACK.nodes[n]["question"] for n in PACK.nodes}


def labels(call):
    return [e["text"]["text"] for b in call.args["blocks"] if b["type"] == "actions" for e in b["elements"]
            if e["type"] == "button"]


async def test_a_whole_walk_from_the_command_to_a_recorded_decision(alice, slack_api, slack_db_path):
    resp = await alice.command("start hmg-2018")
    assert resp.status == 200
    first = await slack_api.next_call("chat.postMessage")
    assert first.args["channel"] == alice.dm
    assert first.args["text"] == f"Question 1: {Q['immediate_risk']}"  # the notification fallback
    assert labels(first) == ["Yes", "No", "Not sure", "Start over", "Why?"]
    # The answers on a row (actions block) of their own, Start over and Why? on the next.
    rows = [[e["text"]["text"] for e in b["elements"]] for b in first.args["blocks"] if b["type"] == "actions"]
    assert rows == [["Yes", "No", "Not sure"], ["Start over", "Why?"]]
    _, yes = find_button(first.args["blocks"], "Yes")
    assert yes["accessibility_label"] == "Answer Yes to Question 1"  # the question is the text above

    msg, n = first, len(slack_api.calls)
    for answer, question in (("No", "purpose"), ("Yes", "consent")):
        assert (await alice.click(msg, answer)).status == 200
        msg = await slack_api.next_call("chat.update", after=n)
        n = len(slack_api.calls)
        assert msg.ts == first.ts, "the question is updated in place"
        assert Q[question] in msg.text and "Back" in labels(msg)
    await alice.click(msg, "Yes")
    outcome = await slack_api.next_call("chat.update", after=n)
    assert outcome.ts == first.ts
    assert outcome.args["text"].startswith(PACK.outcomes["share"]["title"])
    fields = [f["text"] for b in outcome.args["blocks"] if b["type"] == "section" for f in b.get("fields", [])]
    assert f"*Outcome*\n{PACK.outcomes['share']['title']}" in fields

    n = len(slack_api.calls)
    await alice.click(outcome, "Record this decision")
    opened = (await slack_api.next_call("views.open", after=n)).args
    assert opened["trigger_id"].startswith("trigger-")
    modal = opened["view"]
    kinds = {b["block_id"]: b["element"]["type"] for b in modal["blocks"] if b["type"] == "input"}
    assert kinds["categories"] == "multi_static_select" and kinds["recipient"] == "static_select"
    assert kinds["reason"] == "plain_text_input"
    assert "not_told_reason" not in kinds  # only once "No, not told" is chosen (below)
    elements = [b["element"] for b in modal["blocks"] if b["type"] == "input"]
    assert all(e["max_length"] == 500 for e in elements if e["type"] == "plain_text_input")
    assert all(e["placeholder"]["text"] for e in elements)
    # Slack cuts an option at 75 characters: a longer label goes on in the option's description.
    options = [o for b in modal["blocks"] if b["type"] == "input" for o in b["element"].get("options", [])]
    assert all(len(o["text"]["text"]) <= 75 and not o["text"]["text"].endswith("\u2026") for o in options)
    article9 = next(o for o in options if o["text"]["text"].startswith("Yes: UK GDPR Article 9"))
    assert (article9["text"]["text"], article9["description"]["text"]) == (
        "Yes: UK GDPR Article 9", "with the DPA 2018 Schedule 1 safeguarding of children condition")
    waiting = await slack_api.next_call("chat.update", after=n)
    assert waiting.ts == first.ts and "Open the record form" in labels(waiting)

    values = {"categories": ["health", "education"], "recipient": "childrens_social_care",
              "purpose": "safeguarding_referral", "lawful_basis": "consent", "informed": "no",
              "case_ref": "CASE-0042", "reason": ""}
    # Choosing "No, not told" redraws the modal with the question it brings in, nothing else changed.
    n = len(slack_api.calls)
    assert (await alice.pick(modal, values, "informed")).status == 200
    update = (await slack_api.next_call("views.update", after=n)).args
    assert (update["view_id"], update["hash"]) == ("VMODAL", "1.abc")
    redrawn = update["view"]
    ids = [b["block_id"] for b in redrawn["blocks"] if b["type"] == "input"]
    assert [i for i in ids if i != "not_told_reason"] == list(kinds)
    assert ids.index("not_told_reason") == ids.index("informed") + 1
    assert redrawn["private_metadata"] == modal["private_metadata"] and redrawn["title"] == modal["title"]
    chosen = next(b for b in redrawn["blocks"] if b.get("block_id") == "informed")["element"]["initial_option"]
    assert chosen["value"] == "no"  # what was chosen stays chosen
    modal = redrawn
    resp = await alice.submit(modal, values)
    errors = await resp.json()
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {"not_told_reason", "reason"}

    values.update(informed="yes", reason="Parent agreed; attendance concern.")
    n = len(slack_api.calls)
    resp = await alice.submit(modal, values)
    assert resp.status == 200 and await resp.text() == ""  # the modal closes
    summary = await slack_api.next_call("chat.update", after=n)
    assert summary.ts == first.ts
    assert summary.args["text"].startswith("Summary of the decision")
    rows = [[e["text"]["text"] for e in b["elements"]] for b in summary.args["blocks"] if b["type"] == "actions"]
    assert rows == [["Confirm and record", "Change"], ["Back", "Leave without recording"]]
    assert audit.my_decisions(open_db(slack_db_path), alice.user, "slack") == []  # nothing before confirm

    n = len(slack_api.calls)
    await alice.click(summary, "Confirm and record")
    done = await slack_api.next_call("chat.update", after=n)
    rows = audit.my_decisions(open_db(slack_db_path), alice.user, "slack")
    assert len(rows) == 1
    row = audit.get_decision(open_db(slack_db_path), rows[0]["ref"])
    assert row["ref"] in done.args["text"]
    assert row["channel"] == "slack" and row["user_id"] == alice.user and row["conversation_id"] == alice.dm
    assert row["outcome"] == "share"
    assert row["answers"] == [["immediate_risk", "no"], ["purpose", "yes"], ["consent", "yes"]]
    assert row["record"]["categories"] == ["health", "education"]
    assert row["record"]["case_ref"] == "CASE-0042"
    assert "Start a new decision" in labels(done)
