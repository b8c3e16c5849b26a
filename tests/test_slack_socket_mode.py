"""Socket Mode: the same Bolt app over a WebSocket (a local mock of Slack's), no public URL."""

from __future__ import annotations

import json
import time

from aiohttp.test_utils import TestClient, TestServer

from slack_mock import APP_TOKEN, TEAM, dm_of, find_button

pytest_plugins = ["slack_mock"]  # its fixtures: slack_api, slack_env, slack_engine, slack_db_path, slack_server, alice

USER = "U0SOCKET1"


async def test_the_walk_runs_over_socket_mode(slack_env, slack_api, slack_engine, monkeypatch):
    from bot.config import Config
    from bot.server import build_app, load_channels
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    monkeypatch.delenv("SLACK_SIGNING_SECRET")
    channels = load_channels(slack_engine, Config(), dev=False, host="127.0.0.1", socket_mode=True)
    assert channels.slack is not None, channels.disabled
    async with TestClient(TestServer(build_app(channels), host="127.0.0.1")) as http:
        await slack_api.wait_for(lambda m: len(m.of("apps.connections.open")) >= 2)  # checked, then connected
        # the HTTP endpoint is not the way in here
        assert (await http.post("/slack/events", data=b"{}")).status == 404

        await slack_api.socket_envelopes.put({
            "envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
            "payload": {"team_id": TEAM, "channel_id": dm_of(USER), "user_id": USER, "command": "/infoshare",
                        "text": "start hmg-2018", "response_url": f"{slack_api.url}response/1",
                        "trigger_id": "t-1", "api_app_id": "A0001"}})
        q1 = await slack_api.next_call("chat.postMessage")
        assert q1.args["channel"] == dm_of(USER) and q1.args["text"].startswith("Question 1")
        await slack_api.wait_for(lambda m: any(a.get("envelope_id") == "env-1" for a in m.socket_acks))

        block, el = find_button(q1.args["blocks"], "No")
        click = {"type": "block_actions", "user": {"id": USER, "team_id": TEAM}, "team": {"id": TEAM},
                 "api_app_id": "A0001", "trigger_id": "t-2",
                 "container": {"type": "message", "message_ts": q1.ts, "channel_id": q1.args["channel"]},
                 "channel": {"id": q1.args["channel"]}, "message": {"ts": q1.ts},
                 "actions": [{"type": "button", "action_id": el["action_id"], "value": el["value"],
                              "block_id": "b", "action_ts": f"{time.time():.6f}"}]}
        n = len(slack_api.calls)
        for envelope_id in ("env-2", "env-2-redelivered"):  # a redelivery is processed once
            await slack_api.socket_envelopes.put({"envelope_id": envelope_id, "type": "interactive",
                                                  "accepts_response_payload": True, "payload": click})
        q2 = await slack_api.next_call("chat.update", after=n)
        assert q2.ts == q1.ts and "Question 2" in q2.args["text"]
        await slack_api.wait_for(lambda m: {"env-2", "env-2-redelivered"} <= {a.get("envelope_id") for a in m.socket_acks})
        await slack_api.settle(0.2)
        assert len(slack_api.of("chat.update")) == 1
    assert json.dumps(slack_api.socket_acks)  # acknowledged over the socket, not by HTTP


async def test_a_bad_app_token_is_logged_and_the_server_still_starts(slack_env, slack_api, slack_engine, monkeypatch,
                                                                     caplog):
    from bot.config import Config
    from bot.server import build_app, load_channels
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    slack_api.fail["apps.connections.open"] = "invalid_auth"
    channels = load_channels(slack_engine, Config(), dev=False, host="127.0.0.1", socket_mode=True)
    async with TestClient(TestServer(build_app(channels), host="127.0.0.1")) as http:
        assert (await http.get("/healthz")).status == 200
    assert any("Socket Mode could not connect (invalid_auth)" in r.getMessage() for r in caplog.records)
