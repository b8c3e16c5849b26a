"""Privacy in shared places: a walk or question started in a channel continues in the user's DM."""

from __future__ import annotations

from content.loader import load_pack
from bot.slack.app import PRIVATE_NOTE

pytest_plugins = ["slack_mock"]  # its fixtures: slack_api, slack_env, slack_engine, slack_db_path, slack_server, alice


CHANNEL = "C0SHARED1"
CASE = "Jo Bloggs, 7, came in with bruises; can I tell the police?"
PACK = load_pack("hmg-2018")


def in_channel(slack_api):
    """Every call that shows something in the shared channel."""
    return [c for c in slack_api.calls if c.args.get("channel") == CHANNEL
            or (c.method == "response_url")]


async def walk_to_the_outcome(alice, slack_api, first):
    msg = first
    msg = await alice.click_through(msg, "No", "Yes", "Yes")
    return msg


async def test_a_walk_started_in_a_channel_continues_in_the_dm(alice, slack_api):
    await alice.command("start", channel=CHANNEL)
    first = await slack_api.next_call("chat.postMessage")
    assert first.args["channel"] == alice.dm
    assert PACK.nodes["immediate_risk"]["question"] in first.text
    outcome = await walk_to_the_outcome(alice, slack_api, first)
    assert outcome.args["channel"] == alice.dm
    await slack_api.settle(0.1)
    shown = in_channel(slack_api)
    assert [c.method for c in shown] == ["response_url"]
    note = shown[0].args
    assert note["text"] == PRIVATE_NOTE and note.get("response_type") == "ephemeral"
    assert not note.get("blocks")
    for c in slack_api.calls:  # nothing of the walk went anywhere but the DM
        if c.method in ("chat.postMessage", "chat.update"):
            assert c.args["channel"] == alice.dm


async def test_a_mention_in_a_channel_gets_only_a_neutral_ephemeral_note_there(alice, slack_api):
    await alice.mention(CHANNEL, CASE)
    answer = await slack_api.next_call("chat.postMessage")
    assert answer.args["channel"] == alice.dm
    await slack_api.settle(0.1)
    shown = in_channel(slack_api)
    assert [c.method for c in shown] == ["chat.postEphemeral"]
    assert shown[0].args["user"] == alice.user and shown[0].args["text"] == PRIVATE_NOTE
    for c in slack_api.calls:
        assert "Jo Bloggs" not in c.text and "bruises" not in c.text  # the question is never echoed


async def test_a_question_asked_with_the_command_in_a_channel_is_answered_in_the_dm(alice, slack_api):
    await alice.command("ask do I need consent to share?", channel=CHANNEL)
    answer = await slack_api.next_call("chat.postMessage")
    assert answer.args["channel"] == alice.dm
    await slack_api.settle(0.1)
    assert [c.args["text"] for c in in_channel(slack_api)] == [PRIVATE_NOTE]


async def test_a_command_in_the_dm_itself_adds_no_note(alice, slack_api):
    await alice.command("start")
    await slack_api.next_call("chat.postMessage")
    await slack_api.settle(0.1)
    assert slack_api.of("response_url", "chat.postEphemeral") == []


async def test_help_is_an_ephemeral_reply_where_it_was_asked_and_shows_no_case(alice, slack_api, slack_server):
    first_walk = await alice.command("start")
    assert first_walk.status == 200
    await slack_api.next_call("chat.postMessage")
    n = len(slack_api.calls)
    await alice.command("help", channel=CHANNEL)
    helped = await slack_api.next_call("response_url", after=n)
    assert helped.args["response_type"] == "ephemeral"
    assert "/infoshare start" in helped.text
    assert PACK.nodes["immediate_risk"]["question"] not in helped.text  # not where the user is in a walk
