"""Microsoft's key endpoint hangs: the signing keys are kept fresh in the background, a request
never fetches them, Slack and /healthz stay fast, Teams fails closed at once with a bounded
number of threads, and once the keys can be fetched a properly signed token is accepted
(issue 13, item 1). Everything runs on 127.0.0.1: a local key endpoint stands in for Microsoft's."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from slack_mock import SlackUser
from teams_mock import Connector, activity

pytest_plugins = ["slack_mock"]

APP_ID = "00000000-0000-4000-8000-00000000c0de"


class KeyEndpoint:
    """Microsoft's OpenID metadata and key set, served locally; ``hang`` makes it accept and never answer."""

    def __init__(self, kid: str = "test-key-1") -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid
        self.released = asyncio.Event()
        self.fetches = 0
        app = web.Application()
        app.router.add_get("/openid", self._metadata)
        app.router.add_get("/keys", self._keys)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/openid"

    async def _metadata(self, request: web.Request) -> web.Response:
        self.fetches += 1
        await self.released.wait()  # hangs until released
        return web.json_response({"jwks_uri": f"http://127.0.0.1:{self.server.port}/keys"})

    async def _keys(self, request: web.Request) -> web.Response:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "endorsements": ["msteams"]})
        return web.json_response({"keys": [jwk]})

    def token(self, service_url: str, *, key=None, kid: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": service_url,
                  "nbf": now - 60, "exp": now + 600}
        return jwt.encode(claims, key or self.private, algorithm="RS256", headers={"kid": kid or self.kid})


@pytest.fixture
async def keys_and_server(monkeypatch, slack_env, slack_engine, slack_api):
    """``infoshare serve`` with Slack and Teams (authentication on), its keys from a hung endpoint."""
    import requests
    from botframework.connector.auth import MicrosoftAppCredentials, jwt_token_extractor

    from bot.teams import adapter as teams
    from bot.config import Config
    from bot.server import build_app, load_channels

    endpoint, connector = KeyEndpoint(), Connector()
    await endpoint.server.start_server()
    await connector.server.start_server()
    blocking = []

    def no_blocking_fetch(*a, **k):  # botbuilder's own fetch: must never run (here it would hang 5 s)
        blocking.append(1)
        time.sleep(5)
        raise requests.ConnectionError("made-up")

    monkeypatch.setattr(jwt_token_extractor.requests, "get", no_blocking_fetch)
    # the bot's own token for replies comes from Azure AD: a made-up one here (nothing leaves 127.0.0.1)
    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", lambda self, force_refresh=False: "made-up")
    monkeypatch.setattr(teams, "KEY_SOURCES", {url: endpoint.url for url in teams.KEY_SOURCES})
    monkeypatch.setattr(teams, "KEY_FETCH_TIMEOUT", 0.5)
    monkeypatch.setattr(teams, "KEY_RETRY_SECONDS", 0.2)
    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    monkeypatch.setenv("MicrosoftAppPassword", "made-up-secret-for-tests")
    channels = load_channels(slack_engine, Config(), dev=False, host="127.0.0.1")
    assert channels.slack is not None and channels.teams is not None, channels.disabled
    client = TestClient(TestServer(build_app(channels), host="127.0.0.1"))
    await client.start_server()
    yield endpoint, connector, client, blocking
    endpoint.released.set()
    await client.close()
    await connector.server.close()
    await endpoint.server.close()


async def post_teams(client, body, token: str) -> int:
    resp = await client.post("/api/messages", data=json.dumps(body),
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    await resp.read()
    return resp.status


def fetch_gave_up(caplog) -> bool:
    """The hung fetch reached its time limit (the refresher logs that it got no keys)."""
    return any("signing keys not fetched" in r.getMessage() for r in caplog.records)


async def test_a_hung_key_endpoint_never_slows_slack_or_healthz_and_teams_fails_closed_at_once(
        keys_and_server, slack_api, caplog):
    endpoint, connector, client, blocking = keys_and_server
    for _ in range(50):  # the background fetch has started, and hangs
        if endpoint.fetches:
            break
        await asyncio.sleep(0.05)
    assert endpoint.fetches >= 1
    threads_before = threading.active_count()
    token = endpoint.token(connector.url)  # properly signed: only the keys are missing

    statuses = await asyncio.gather(*(post_teams(client, activity(service_url=connector.url, text="start"), token)
                                      for _ in range(20)))
    assert statuses == [503] * 20
    assert not fetch_gave_up(caplog)  # answered while the fetch still hangs: not after it, nor its time limit
    async with client.get("/healthz") as resp:
        assert resp.status == 200
        assert (await resp.json())["teams_keys"] == "fetching"  # an operator can see why Teams answers 503
    resp = await SlackUser(client, slack_api, user="U0KEYS001").command("start hmg-2018")
    assert resp.status == 200
    assert not fetch_gave_up(caplog)
    first = await slack_api.next_call("chat.postMessage")
    assert "immediate risk" in first.text.lower()  # the Slack walk began while Teams could not
    assert threading.active_count() <= threads_before + 3  # token checks (2) and Slack's worker, no more
    assert blocking == []  # no request ever fetched keys itself
    assert connector.calls == []  # nothing answered in Teams


async def test_once_the_keys_are_fetched_a_signed_token_is_accepted_and_a_forged_one_refused(keys_and_server):
    endpoint, connector, client, blocking = keys_and_server
    token = endpoint.token(connector.url)
    assert await post_teams(client, activity(service_url=connector.url, text="start"), token) == 503
    endpoint.released.set()  # the endpoint answers again: the next background retry fetches the keys
    for _ in range(100):
        status = await post_teams(client, activity(service_url=connector.url, text="start"), token)
        if status != 503:
            break
        await asyncio.sleep(0.1)
    assert status == 201
    assert connector.messages(), "the accepted activity got no reply"
    async with client.get("/healthz") as resp:
        assert (await resp.json())["teams_keys"] == "ready"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = endpoint.token(connector.url, key=other)  # the right key id, the wrong key
    unknown = endpoint.token(connector.url, key=other, kid="not-published")
    n = len(connector.calls)
    assert await post_teams(client, activity(service_url=connector.url, text="start"), forged) == 401
    assert await post_teams(client, activity(service_url=connector.url, text="start"), unknown) == 401
    assert len(connector.calls) == n
    assert blocking == []
