"""When the Teams endpoint is on, and with what authentication: ``from_env`` and ``infoshare serve``."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import pytest
from aiohttp import ClientSession

from bot.teams import adapter as teams
from bot.config import Config
from bot.server import build_app, load_channels
from dialogs.engine import Engine
from storage.db import open_db
from teams_mock import BOT, TEAMS_ENV, Connector, activity, card_text

APP_ID = "00000000-0000-4000-8000-00000000c0de"
TENANT = "00000000-0000-4000-8000-0000000000f1"


@pytest.fixture
def engine(tmp_path):
    return Engine(open_db(tmp_path / "infoshare.db"))


@pytest.fixture
def env(monkeypatch):
    for name in TEAMS_ENV:
        monkeypatch.delenv(name, raising=False)

    def set_env(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
    return set_env


def test_without_an_app_id_teams_stays_off_and_says_why(engine, env):
    why = teams.from_env(engine, Config(), dev=False, host="0.0.0.0")
    assert isinstance(why, str) and "MicrosoftAppId is not set" in why and "--dev" in why
    channels = load_channels(engine, Config(), dev=False, host="127.0.0.1")
    assert channels.teams is None and "MicrosoftAppId" in channels.disabled["teams"]
    assert not [r for r in build_app(channels).router.routes() if r.resource.canonical == "/api/messages"]


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.org"])
def test_dev_refuses_anything_but_loopback(engine, env, host):
    why = teams.from_env(engine, Config(), dev=True, host=host)
    assert isinstance(why, str) and "loopback" in why
    env(MicrosoftAppId=APP_ID, MicrosoftAppPassword="made-up")
    assert isinstance(teams.from_env(engine, Config(), dev=True, host=host), str)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_dev_on_loopback_runs_without_authentication(engine, env, host):
    channel = teams.from_env(engine, Config(), dev=True, host=host)
    assert isinstance(channel, teams.TeamsChannel) and channel.dev


@pytest.mark.parametrize("settings,problem", [
    ({"MicrosoftAppId": APP_ID}, "MicrosoftAppPassword is not set"),
    ({"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x", "MicrosoftAppType": "SingleTenant"},
     "MicrosoftAppTenantId is not set"),
    ({"MicrosoftAppId": APP_ID, "MicrosoftAppType": "UserAssignedMSI"}, "MicrosoftAppTenantId is not set"),
    ({"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x", "MicrosoftAppType": "Anonymous"}, "MicrosoftAppType must be"),
])
def test_incomplete_settings_keep_teams_off(engine, env, settings, problem):
    env(**settings)
    why = teams.from_env(engine, Config(), dev=False, host="0.0.0.0")
    assert isinstance(why, str) and problem in why


@pytest.mark.parametrize("settings", [
    {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x"},
    {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "x", "MicrosoftAppType": "SingleTenant",
     "MicrosoftAppTenantId": TENANT},
    {"MicrosoftAppId": APP_ID, "MicrosoftAppType": "UserAssignedMSI", "MicrosoftAppTenantId": TENANT},
])
def test_complete_settings_turn_teams_on_with_authentication(engine, env, settings):
    env(**settings)
    channel = teams.from_env(engine, Config(), dev=False, host="0.0.0.0")
    assert isinstance(channel, teams.TeamsChannel) and not channel.dev


def test_dev_does_not_turn_authentication_off_when_an_app_id_is_set(engine, env):
    env(MicrosoftAppId=APP_ID, MicrosoftAppPassword="made-up")
    channels = load_channels(engine, Config(), dev=True, host="127.0.0.1")
    assert channels.teams is not None and not channels.teams.dev


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_infoshare_serve_dev_answers_teams_on_a_real_port(tmp_path):
    connector = Connector()
    await connector.server.start_server()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in TEAMS_ENV and not k.startswith("SLACK_")}
    env.update(INFOSHARE_DB=str(tmp_path / "infoshare.db"), INFOSHARE_CONFIG="")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--dev", "--port", str(port), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        async with ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                        if (await r.json())["teams"]:
                            break
                except OSError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("infoshare serve --dev did not start")
            welcome = activity("conversationUpdate", service_url=connector.url, membersAdded=[dict(BOT)])
            async with session.post(f"http://127.0.0.1:{port}/api/messages", json=welcome) as r:
                assert r.status == 201
        assert "decide whether to share" in card_text(connector.cards()[-1])
    finally:
        proc.terminate()
        await proc.wait()
        await connector.server.close()


def test_serve_dev_on_a_public_address_is_refused():
    from click.testing import CliRunner

    from bot.cli import cli
    result = CliRunner().invoke(cli, ["serve", "--dev", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "loopback" in result.output
