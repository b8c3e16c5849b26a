"""The weekly digest reaches its Slack channels, or the admin hears which cannot be reached and how
to fix it: at ``serve`` start, on ``digest --post``, and whenever Slack refuses a post. The Slack
Web API is the local mock (tests/slack_mock.py); the channels and people are made up."""

from __future__ import annotations

import asyncio
import logging

from bot.config import Config
from bot.jobs.digest_post import WeeklyDigest, post_digest
from bot.server import Channels
from slack_mock import dm_of
from test_digest_post import post_now

pytest_plugins = ["slack_mock"]

INVITE = "/invite @infoshare"


async def test_at_start_the_server_names_the_digest_channels_it_cannot_post_to(slack_server, slack_engine,
                                                                                 slack_api, caplog):
    slack_api.scopes.discard("chat:write.public")
    slack_api.channels.update({"C0PUBLIC1": {"is_member": False}, "C0GONE001": None,
                               "C0OLD0001": {"is_member": True, "is_archived": True}})
    config = Config(digest_slack_channels=["C0MEMBER1", "C0PUBLIC1", "C0GONE001", "C0OLD0001"])
    weekly = WeeklyDigest(slack_engine, config, Channels(slack=slack_server.channel))
    with caplog.at_level(logging.INFO, logger="infoshare.digest"):
        await weekly.on_startup(None)
        problems = await asyncio.wait_for(weekly.check, 10)
        await weekly.on_cleanup(None)
    assert set(problems) == {"C0PUBLIC1", "C0GONE001", "C0OLD0001"}  # not the channel it is in
    assert INVITE in problems["C0PUBLIC1"] and "chat:write.public" in problems["C0PUBLIC1"]
    assert "private channel the bot is not in" in problems["C0GONE001"] and INVITE in problems["C0GONE001"]
    assert "archived" in problems["C0OLD0001"]
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 3 and all("cannot post to Slack channel C0" in w for w in warned)
    assert not slack_api.of("chat.postMessage")  # a check, not a post


async def test_with_chat_write_public_an_uninvited_public_channel_is_fine(slack_server, slack_engine, slack_api, caplog):
    slack_api.channels.update({"C0PUBLIC1": {"is_member": False}, "C0PRIV001": {"is_member": False, "is_private": True}})
    problems = await slack_server.channel.unreachable(["C0PUBLIC1", "C0PRIV001"])
    assert list(problems) == ["C0PRIV001"]  # a private channel needs the invitation whatever the scopes


async def test_a_refused_post_names_the_channel_why_and_the_fix(slack_server, slack_engine, slack_api, caplog):
    slack_api.scopes.discard("chat:write.public")
    slack_api.channels["C0PUBLIC1"] = {"is_member": False}
    config = Config(leads={"slack": ["ULEAD001"]}, digest_slack_channels=["C0PUBLIC1", "C0MEMBER1"])
    with caplog.at_level(logging.WARNING, logger="infoshare.digest"):
        sent = await post_digest(slack_engine, config, Channels(slack=slack_server.channel))
    assert sent["slack"] == 2  # the other channel and the lead's DM still get it
    [line] = sent["unreached"]
    assert line.startswith("Slack channel C0PUBLIC1: the bot is not in the channel") and INVITE in line
    assert any("C0PUBLIC1" in r.getMessage() and INVITE in r.getMessage() for r in caplog.records)
    assert [p.args["channel"] for p in slack_api.of("chat.postMessage")] == ["C0PUBLIC1", "C0MEMBER1", dm_of("ULEAD001")]


async def test_a_lead_is_named_by_place_never_by_id(slack_server, slack_engine, slack_api, caplog):
    slack_api.fail["conversations.open"] = "user_not_found"
    config = Config(leads={"slack": ["ULEAD001", "ULEAD002"]}, digest_lead_dms=True)
    with caplog.at_level(logging.WARNING, logger="infoshare.digest"):
        sent = await post_digest(slack_engine, config, Channels(slack=slack_server.channel))
    assert sent["unreached"][1].startswith("the Slack chat of lead 2 of 2 in [leads] slack: Slack does not know this lead")
    assert "ULEAD00" not in " ".join(sent["unreached"]) + caplog.text


async def test_digest_post_says_which_channels_it_cannot_reach_and_how_to_fix_it(slack_env, slack_api, tmp_path):
    slack_api.scopes.discard("chat:write.public")
    slack_api.channels["C0PUBLIC1"] = {"is_member": False}
    code, out, err = await post_now(tmp_path, '[digest]\nslack_channels = ["C0LEADS01", "C0PUBLIC1"]\nlead_dms = false\n')
    assert code == 1, err[-800:]
    assert "slack: posted to 1 of 2 target(s)" in out
    assert "slack: cannot post to channel C0PUBLIC1: the bot is not in the channel" in err  # before posting
    assert "not reached: Slack channel C0PUBLIC1" in err and INVITE in err and "chat:write.public" in err
    assert "C0LEADS01" not in err


async def test_a_check_the_app_has_no_scope_for_says_so(slack_server, slack_api):
    slack_api.fail["conversations.info"] = "missing_scope"
    problems = await slack_server.channel.unreachable(["C0LEADS01"])
    assert "channels:read" in problems["C0LEADS01"] and "reinstall" in problems["C0LEADS01"]
