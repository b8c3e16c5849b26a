"""The Slack manifests ask for exactly what the adapter uses: scopes, events, the command, one URL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.slack import app as slack

ROOT = Path(__file__).parents[1]
SCOPES_FOR_METHOD = {"chat_postMessage": ("chat:write", "chat:write.public"),  # public: the digest, uninvited
                     "chat_update": "chat:write", "chat_postEphemeral": "chat:write",
                     "conversations_open": "im:write", "views_open": None, "views_publish": None, "views_update": None,
                     "conversations_info": ("channels:read", "groups:read"), "auth_test": None,
                     "apps_connections_open": None, "files_upload_v2": "files:write"}  # the app-level token's connections:write, not a bot scope
SCOPES_FOR_EVENT = {"app_mention": "app_mentions:read", "message.im": "im:history", "app_home_opened": None}


def load(name):
    return yaml.safe_load((ROOT / "manifest" / "slack" / name).read_text())


def used_scopes():
    code = "\n".join(p.read_text() for p in sorted((ROOT / "bot" / "slack").glob("*.py")))
    methods = set(re.findall(r"\bclient\.(\w+)\(", code))
    assert methods <= set(SCOPES_FOR_METHOD), f"map the scope of {methods - set(SCOPES_FOR_METHOD)}"
    scopes = {SCOPES_FOR_EVENT[e] for e in SCOPES_FOR_EVENT} | {"commands"}
    for m in methods:
        need = SCOPES_FOR_METHOD[m]
        scopes |= set(need) if isinstance(need, tuple) else {need}
    return scopes - {None}


@pytest.mark.parametrize("name", ["manifest.yaml", "manifest.socket-mode.yaml"])
def test_the_manifest_asks_only_for_what_is_used(name):
    m = load(name)
    assert set(m["oauth_config"]["scopes"]["bot"]) == used_scopes()
    assert "user" not in m["oauth_config"]["scopes"]
    assert set(m["settings"]["event_subscriptions"]["bot_events"]) == set(SCOPES_FOR_EVENT)
    assert [c["command"] for c in m["features"]["slash_commands"]] == [slack.COMMAND]
    assert m["settings"]["interactivity"]["is_enabled"] is True
    assert m["features"]["app_home"]["home_tab_enabled"] is True
    assert m["features"]["app_home"]["messages_tab_enabled"] is True
    assert len(m["display_information"]["description"]) <= 140


def test_the_http_manifest_sends_everything_to_one_url():
    m = load("manifest.yaml")
    urls = {m["settings"]["event_subscriptions"]["request_url"], m["settings"]["interactivity"]["request_url"],
            m["features"]["slash_commands"][0]["url"]}
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    assert m["settings"]["socket_mode_enabled"] is False


def test_the_socket_mode_manifest_has_no_public_url():
    m = load("manifest.socket-mode.yaml")
    assert m["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in m["settings"]["event_subscriptions"]
    assert "request_url" not in m["settings"]["interactivity"]
    assert "url" not in m["features"]["slash_commands"][0]

