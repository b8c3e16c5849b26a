"""Malformed input through the running server: never a 5xx (issue 13, item 5)."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from slack_mock import sign
from teams_mock import TeamsHarness

pytest_plugins = ["slack_mock"]

DEEP = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 20_000 + "1" + "}" * 20_000  # under the body caps, far past the parser's depth


async def test_non_ascii_digits_in_the_slack_timestamp_are_refused_not_a_crash(alice):
    body = json.dumps({"type": "event_callback", "event_id": "Ev-x", "event": {"type": "app_home_opened"}})
    for ts in ("\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660",  # Arabic-Indic digits
               "\uff11\uff17\uff10\uff10\uff10\uff10\uff10\uff10\uff10\uff10",  # full-width digits
               str(int(time.time())) + "\u00b2"):
        headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + "0" * 64}
        resp = await alice.post(body, "application/json", headers=headers, signed=False)
        assert resp.status in (400, 401), ts


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
async def test_json_nested_100000_deep_on_slack_events_is_400(alice, body):
    resp = await alice.post(body, "application/json", headers=sign(body), signed=False)
    assert resp.status == 400


@pytest.mark.parametrize("payload", [
    {"type": "block_actions", "actions": [], "user": {"id": "U0ALICE01"}},
    {"type": "block_actions", "actions": "click", "user": {"id": "U0ALICE01"}},
    {"type": "block_actions", "actions": [{"action_id": 7}], "user": 12345},
    {"type": "view_submission", "view": "not a view", "user": {"id": "U0ALICE01"}},
    {"type": "block_actions", "actions": [{"action_id": "infoshare:x"}], "user": {"id": "U0ALICE01"}, "team": 5},
    {"type": "block_actions", "actions": [{"action_id": "infoshare:x"}], "user": {"id": "U0ALICE01"},
     "channel": 5},
    {"type": "", "actions": [{"action_id": "infoshare:x"}], "user": {"id": "U0ALICE01"}},
    [1, 2, 3],
    "just a string",
], ids=["no-actions", "actions-a-string", "user-a-number", "view-a-string", "team-a-number", "channel-a-number",
        "no-type", "a-list", "a-string"])
async def test_signed_interactions_of_the_wrong_shape_are_400(alice, payload):
    body = urlencode({"payload": json.dumps(payload)})
    resp = await alice.post(body, "application/x-www-form-urlencoded", headers=sign(body), signed=False)
    assert resp.status == 400


@pytest.mark.parametrize("event", [
    {"type": "event_callback", "event_id": "Ev-1", "event": "a string"},
    {"type": "event_callback", "event_id": "Ev-2", "event": {"type": "message", "user": 12345, "text": 5}},
    {"type": "event_callback", "event_id": "Ev-3", "event": None},
    {"type": "event_callback", "event_id": ["x"], "event": {"type": "message"}},
    {"type": "event_callback", "event_id": "Ev-4", "event": {"type": "message"}, "enterprise": 5},
    {"type": "event_callback", "event_id": "Ev-5", "event": {"type": "message"}, "authorizations": [5]},
    ["event_callback"],
    '{"type": "event_callback", "event_id": "Ev-6", "event": {"type": "message"}} and more',
], ids=["event-a-string", "user-a-number", "event-null", "event-id-a-list", "enterprise-a-number",
        "authorizations-of-numbers", "a-list", "trailing-text"])
async def test_signed_events_of_the_wrong_shape_are_400(alice, event, slack_api):
    body = event if isinstance(event, str) else json.dumps(event)
    resp = await alice.post(body, "application/json", headers=sign(body), signed=False)
    assert resp.status == 400
    await slack_api.settle()
    assert slack_api.of("chat.postMessage") == []  # no listener ran


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["array", "object"])
async def test_json_nested_100000_deep_on_teams_messages_is_400(tmp_path, monkeypatch, body):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        status = await h.post(None, raw=body.encode())
        assert status == 400


async def test_the_error_handler_itself_never_raises(slack_server):
    channel = slack_server.channel
    for body in ([1, 2], "text", {"event": "a string"}, {"event": {"user": 5}}, {"user": 5}, {"type": 7}, {}):
        assert await channel.on_error(RuntimeError("made-up failure"), body, None) is None


def test_loopback_is_a_parsed_address_never_a_prefix():
    from bot.config import is_loopback
    for host in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"):
        assert is_loopback(host), host
    for host in ("127.evil.example", "127.0.0.1.attacker.example", "localhost.evil.example", "10.0.0.1",
                 "0.0.0.0", "", None, "::ffff:8.8.8.8"):
        assert not is_loopback(host), host


@pytest.mark.parametrize("url", ["http://127.0.0.1.attacker.example/", "http://127.evil.example:3978/"])
async def test_dev_mode_replies_never_go_to_a_name_that_only_starts_like_loopback(tmp_path, monkeypatch, url):
    async with TeamsHarness(tmp_path, monkeypatch) as h:
        status = await h.post(h.message("help", serviceUrl=url))
        assert status == 400
        assert h.connector.calls == []


async def test_an_oversized_authorization_header_puts_no_token_bytes_in_the_log(tmp_path, monkeypatch, caplog):
    import logging
    import traceback
    caplog.set_level(logging.DEBUG)
    token = "MADEUPTOKENBYTES" * 2000
    async with TeamsHarness(tmp_path, monkeypatch, app_id="00000000-0000-4000-8000-00000000c0de") as h:
        assert await h.post(h.message("start"), headers={"Authorization": "Bearer " + token}) == 400
        assert await h.post(h.message("start"), headers={"Authorization": "Bearer " + token[:6000]}) == 401
    logged = []
    for r in caplog.records:
        logged.append(r.getMessage() + (r.exc_text or ""))
        if r.exc_info:
            logged.append("".join(traceback.format_exception(*r.exc_info)))
    assert not any("MADEUPTOKEN" in text for text in logged)
    assert any("Error handling request" in text for text in logged)  # the fault itself is still logged


async def test_a_replayed_signed_slash_command_is_processed_once(alice, slack_api, slack_db_path):
    from storage.db import open_db
    body = urlencode({"token": "legacy", "team_id": "T0001", "channel_id": alice.dm, "user_id": alice.user,
                      "user_name": "tester", "command": "/infoshare", "text": "start hmg-2018", "api_app_id": "A0001",
                      "response_url": f"{slack_api.url}response/9", "trigger_id": "trigger-replayed"})
    headers = sign(body)
    for _ in range(2):  # the same signed request twice, within Slack's five minutes
        resp = await alice.post(body, "application/x-www-form-urlencoded", headers=headers, signed=False)
        assert resp.status == 200
    await slack_api.settle(0.5)
    starts = [c for c in slack_api.of("chat.postMessage") if "immediate risk" in c.text.lower()]
    assert len(starts) == 1
    db = open_db(slack_db_path)
    assert db.execute("SELECT count(*) FROM processed_events WHERE key LIKE 'slack:command:%:trigger-replayed'").fetchone()[0] == 1


async def test_a_click_with_a_forged_channel_never_touches_another_conversation(alice, slack_api):
    await alice.command("start hmg-2018")
    first = await slack_api.next_call("chat.postMessage")
    forged = "D0SOMEONE1"
    block, el = __import__("slack_mock").find_button(first.args["blocks"], "No")
    n = len(slack_api.calls)
    await alice.interact({
        "type": "block_actions", "container": {"type": "message", "message_ts": "1700000000.000100",
                                               "channel_id": forged, "is_ephemeral": False},
        "channel": {"id": forged}, "message": {"ts": "1700000000.000100", "blocks": first.args["blocks"]},
        "actions": [{"type": "button", "action_id": el["action_id"], "block_id": block.get("block_id", "b"),
                     "value": el["value"], "text": el["text"], "action_ts": f"{time.time():.6f}"}]})
    await slack_api.settle(0.5)
    later = slack_api.calls[n:]
    assert later, "the click was not processed at all"
    assert all(c.args.get("channel") != forged for c in later)
    assert all(c.args.get("channel") in (alice.dm, None) or c.method not in ("chat.update", "chat.postMessage")
               for c in later)
