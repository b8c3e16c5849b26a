"""Requests that must not get in: unsigned, badly signed, stale, malformed; and nothing of them in the logs."""

from __future__ import annotations

import json
import logging
import time

import pytest

from storage.db import open_db

from slack_mock import sign

pytest_plugins = ["slack_mock"]  # its fixtures: slack_api, slack_env, slack_engine, slack_db_path, slack_server, alice

CASE_TEXT = "Jo Bloggs told her teacher about bruises"


def tables(slack_db_path):
    db = open_db(slack_db_path)
    return {t: db.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("conversations", "processed_events", "decisions")}


def dm_event(alice, text=CASE_TEXT):
    return json.dumps({"type": "event_callback", "team_id": "T0001", "event_id": "Ev-sec-1",
                       "event": {"type": "message", "channel_type": "im", "channel": alice.dm,
                                 "user": alice.user, "text": text, "ts": "1.2"}})


async def test_unsigned_badly_signed_and_stale_requests_get_401_and_change_nothing(alice, slack_api, slack_db_path, caplog):
    caplog.set_level(logging.DEBUG)
    before = tables(slack_db_path)
    body = dm_event(alice)
    now = int(time.time())
    cases = {
        "unsigned": {},
        "wrong secret": {"X-Slack-Request-Timestamp": str(now),
                         "X-Slack-Signature": "v0=" + "0" * 64},
        "signed for another body": sign(body.replace("bruises", "bruise")),
        "stale (over 5 minutes)": sign(body, str(now - 301)),
        "from the future": sign(body, str(now + 360)),  # a margin: the cases before it take time on a busy machine
        "timestamp not a number": {"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=abc"},
        "signature not ascii": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0=\u00e9"},
    }
    for name, headers in cases.items():
        resp = await alice.post(body, "application/json", headers=headers, signed=False)
        assert resp.status == 401, name
    # a signature made four and a half minutes ago still counts
    assert (await alice.post(body, "application/json", headers=sign(body, str(int(time.time()) - 270)), signed=False)).status == 200
    await slack_api.next_call("chat.postMessage")
    after = tables(slack_db_path)
    assert after["decisions"] == before["decisions"]
    assert CASE_TEXT not in caplog.text, "a request body reached the logs"
    assert "bruises" not in caplog.text


async def test_refused_requests_reach_no_listener(alice, slack_api, slack_db_path):
    before = tables(slack_db_path)
    resp = await alice.post(dm_event(alice), "application/json", signed=False)
    assert resp.status == 401
    await slack_api.settle(0.2)
    assert slack_api.calls == [] and tables(slack_db_path) == before


@pytest.mark.parametrize("body,content_type", [
    ('{"type": "event_callback", "event": ', "application/json"),              # bad JSON
    ("[1, 2, 3]", "application/json"),                                          # JSON, not an object
    ("payload=%7Bnot+json", "application/x-www-form-urlencoded"),               # bad JSON payload
    ("payload=%5B%5D", "application/x-www-form-urlencoded"),                    # payload not an object
    ("payload=%7B%22a%22%3A1%7D", "application/x-www-form-urlencoded"),         # payload with no type
    ("a=1&&=b&%zz", "application/x-www-form-urlencoded"),                      # bad form encoding
    ("just some words", "application/x-www-form-urlencoded"),                   # not a form
    ("", "application/json"),                                                   # empty body
    ("", "application/x-www-form-urlencoded"),
])
async def test_malformed_bodies_get_400_never_500(alice, slack_api, body, content_type, caplog):
    caplog.set_level(logging.DEBUG)
    resp = await alice.post(body, content_type)
    assert resp.status == 400
    assert slack_api.of("chat.postMessage", "chat.update") == []
    if body:
        assert body not in caplog.text


async def test_a_body_that_is_not_utf8_gets_400(alice):
    body = b"payload=\xff\xfe"
    ts = str(int(time.time()))
    import hashlib
    import hmac
    from slack_mock import SECRET
    sig = "v0=" + hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    resp = await alice.http.post("/slack/events", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
    assert resp.status == 400


async def test_an_oversized_body_is_refused_with_413(alice):
    resp = await alice.post("x=" + "a" * 300_000, "application/x-www-form-urlencoded")
    assert resp.status == 413


async def test_the_url_verification_handshake_works(alice):
    resp = await alice.post(json.dumps({"token": "t", "challenge": "abc123", "type": "url_verification"}),
                            "application/json")
    assert resp.status == 200 and "abc123" in await resp.text()


async def test_a_valid_conversation_never_logs_message_text(alice, slack_api, caplog):
    caplog.set_level(logging.DEBUG)
    await alice.dm_text(f"can I tell the school nurse that {CASE_TEXT}?")
    await slack_api.next_call("chat.postMessage")
    n = len(slack_api.calls)
    await alice.command(f"ask {CASE_TEXT}")
    await slack_api.next_call("chat.postMessage", after=n)
    await slack_api.settle(0.1)
    assert "bruises" not in caplog.text
    assert "Jo Bloggs" not in caplog.text
    chatty = [r for r in caplog.records if r.name.startswith(("slack_bolt", "slack_sdk", "infoshare.slack"))
              and r.levelno < logging.WARNING and r.name != "infoshare.slack"]
    assert chatty == [], "Bolt or the SDK logged below WARNING (their debug logs print bodies)"


async def test_a_form_mentioning_the_word_payload_is_still_a_command(alice, slack_api):
    """Bolt reads any form body containing "payload" as interactivity; the adapter corrects that."""
    resp = await alice.command("ask what payload of information may I share?")
    assert resp.status == 200
    posted = await slack_api.next_call("chat.postMessage")
    assert posted.args["channel"] == alice.dm


async def test_without_slack_settings_the_server_starts_without_the_endpoint(monkeypatch, slack_engine):
    from aiohttp.test_utils import TestClient, TestServer

    from bot.slack import app as slack
    from bot.config import Config
    from bot.server import build_app, load_channels
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert slack.from_env(slack_engine, Config()).startswith("SLACK_BOT_TOKEN is not set")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    assert slack.from_env(slack_engine, Config()).startswith("SLACK_SIGNING_SECRET is not set")
    assert "SLACK_APP_TOKEN" in slack.from_env(slack_engine, Config(), socket_mode=True)
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    channels = load_channels(slack_engine, Config(), dev=False, host="127.0.0.1")
    assert channels.slack is None and "SLACK_BOT_TOKEN" in channels.disabled["slack"]
    async with TestClient(TestServer(build_app(channels), host="127.0.0.1")) as client:
        assert (await client.get("/healthz")).status == 200
        assert (await client.post("/slack/events", data=b"{}")).status in (404, 405)


def test_the_five_minute_window_is_exact():
    from bot.slack.transport import signature_ok
    from slack_mock import SECRET
    body, ts = b'{"type":"event_callback"}', "1700000000"
    sig = sign(body.decode(), ts)["X-Slack-Signature"]
    assert signature_ok(SECRET, body, ts, sig, now=1700000000 + 300)
    assert signature_ok(SECRET, body, ts, sig, now=1700000000 - 300)
    assert not signature_ok(SECRET, body, ts, sig, now=1700000000 + 301)
    assert not signature_ok("another-secret", body, ts, sig, now=1700000000)
    assert not signature_ok(SECRET, body + b" ", ts, sig, now=1700000000)


@pytest.mark.parametrize("text", ["plain", "a+b%2B", "%C3%A9t%C3%A9", "%FF%FE", "100%", "%zz%4", "\\x41%41",
                                  "%5C%5Cx41", "caf\u00e9%20", "%E2%80%9Cq%E2%80%9D"])
def test_form_values_are_decoded_as_urllib_decodes_them(text):
    from urllib.parse import unquote_plus as reference

    from bot.slack.transport import parse_form
    assert parse_form(f"k={text}&{text}=v") == {"k": reference(text), reference(text): "v"}


@pytest.mark.parametrize("text", ["novalue", "a=1&&b=2", "=1", "a=1&b", ""])
def test_a_form_that_is_not_strictly_key_value_is_refused(text):
    from bot.slack.transport import parse_form
    assert parse_form(text) is None
