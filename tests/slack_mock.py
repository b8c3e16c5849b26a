"""Test helpers for the Slack channel: a local mock Slack Web API and a client that signs requests.

Like bolt-python's ``tests/mock_web_api_server``: an aiohttp app on 127.0.0.1 answers the Web API
methods the bot calls and records each call (method and arguments), plus posts to
``response_url``. :class:`SlackUser` builds Slack's payloads, signs them with
``SignatureVerifier.generate_signature`` and posts them to the running ``infoshare`` server.

Nothing here reaches Slack.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.signature import SignatureVerifier

from blockkit import problems, view_problems

SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
BOT_USER = "UBOT0001"
SCOPES = ("app_mentions:read", "channels:read", "chat:write", "chat:write.public", "commands", "files:write",
          "groups:read", "im:history", "im:write")
"""The scopes manifest/slack/manifest.yaml asks for."""
TEAM = "T0001"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def ts(self) -> str | None:
        """The message this call shows: the ts Slack gave a new message, or the one updated."""
        return self.args.get("ts") or self.result.get("ts")

    @property
    def text(self) -> str:
        """Everything a user could read in this call: ``text`` and every string in ``blocks``/``view``."""
        return self.args.get("text", "") + " " + " ".join(_strings(self.args.get("blocks"))) + " " + " ".join(
            _strings(self.args.get("view")))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in ("value", "action_id", "block_id") for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class MockSlackAPI:
    """The Slack Web API on 127.0.0.1: answers like Slack and records every call in order."""

    def __init__(self):
        self.calls: list[Call] = []
        self._changed = asyncio.Condition()
        self._ts = itertools.count(1)
        self.fail: dict[str, str] = {}
        """Methods to answer with ``{"ok": false, "error": ...}`` (set by a test)."""
        self.invalid: list[tuple[str, list[str]]] = []
        """Payloads refused because they break Block Kit's limits (``tests/blockkit.py``)."""
        self.scopes = set(SCOPES)
        """The bot token's scopes, sent back in every response's ``x-oauth-scopes`` header."""
        self.channels: dict[str, dict[str, Any] | None] = {}
        """Channels as ``conversations.info`` gives them (``is_member``, ``is_private``, ``is_archived``);
        None: no such channel (or a private one the bot is not in). A channel not named here is one
        the bot is a member of. ``chat.postMessage`` refuses as Slack would."""
        self.socket_envelopes: asyncio.Queue = asyncio.Queue()
        """Socket Mode envelopes to send to the connected app (a test puts them here)."""
        self.socket_acks: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_post("/response/{id}", self._response_url)
        self.app.router.add_get("/link", self._websocket)
        self.app.router.add_post("/upload/{id}", self._upload)
        self.app.router.add_route("*", "/{method}", self._method)
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}/"

    async def start(self) -> "MockSlackAPI":
        self.server = TestServer(self.app, host="127.0.0.1")
        await self.server.start_server()
        return self

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    async def _record(self, method: str, args: dict[str, Any], result: dict[str, Any] | None = None) -> None:
        async with self._changed:
            self.calls.append(Call(method, {k: _decode(v) for k, v in args.items()}, result or {}))
            self._changed.notify_all()

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if request.content_type == "application/json":
            args = json.loads(raw or "{}")
        else:
            args = dict(parse_qsl(raw, keep_blank_values=True))
        args = {**dict(request.query), **args}
        if request.headers.get("Authorization", "") not in (f"Bearer {BOT_TOKEN}", f"Bearer {APP_TOKEN}"):
            return web.json_response({"ok": False, "error": "invalid_auth"})
        result = self._answer(method, args)
        await self._record(method, args, result)
        return web.json_response(result, headers={"x-oauth-scopes": ",".join(sorted(self.scopes))})

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method in self.fail:
            return {"ok": False, "error": self.fail[method]}
        invalid = _invalid(method, args)
        if invalid:  # as Slack does: the message or view is refused, and says why
            self.invalid.append((method, invalid))
            return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": invalid}}
        ts = f"{1700000000 + next(self._ts)}.000100"
        if method == "auth.test":
            return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "infoshare",
                    "team_id": TEAM, "user_id": BOT_USER, "bot_id": "BBOT0001"}
        if method == "conversations.info":
            info = self.channels.get(args.get("channel", ""), {"is_member": True})
            if info is None:
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": {"id": args.get("channel"), "is_private": False, "is_archived": False, **info}}
        if method == "chat.postMessage":
            channel = args.get("channel", "")
            if channel in self.channels:
                info = self.channels[channel]
                if info is None:
                    return {"ok": False, "error": "channel_not_found"}
                if info.get("is_archived"):
                    return {"ok": False, "error": "is_archived"}
                if not info.get("is_member") and (info.get("is_private") or "chat:write.public" not in self.scopes):
                    return {"ok": False, "error": "not_in_channel"}
            return {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}}
        if method == "chat.update":
            return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": ts}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": dm_of(args.get("users", ""))}}
        if method in ("views.open", "views.publish", "views.update"):
            return {"ok": True, "view": {"id": f"V{ts}", "hash": ts}}
        if method == "files.getUploadURLExternal":
            return {"ok": True, "upload_url": f"{self.url}upload/F0001", "file_id": "F0001"}
        if method == "files.completeUploadExternal":
            return {"ok": True, "files": [{"id": "F0001", "title": "uploaded"}]}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.server.port}/link"}
        return {"ok": True}

    async def _upload(self, request: web.Request) -> web.Response:
        """The file upload URL handed out by files.getUploadURLExternal: records the bytes' size and kind."""
        data = await request.read()
        await self._record("upload", {"id": request.match_info["id"], "size": len(data), "png": b"\x89PNG" in data[:600]})
        return web.Response(text="OK - uploaded")

    async def _response_url(self, request: web.Request) -> web.Response:
        await self._record("response_url", await request.json())
        return web.Response(text="ok")

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: send each queued envelope; record each acknowledgement."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}, "connection_info": {}})
        queue = self.socket_envelopes

        async def sender():
            while True:
                await ws.send_json(await queue.get())
        task = asyncio.ensure_future(sender())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
                    async with self._changed:
                        self._changed.notify_all()
        finally:
            task.cancel()
        return ws

    # ---- what the tests look at -----------------------------------------------------------

    def of(self, *methods: str) -> list[Call]:
        return [c for c in self.calls if c.method in methods]

    async def wait_for(self, predicate: Callable[["MockSlackAPI"], Any], timeout: float = 15.0) -> Any:
        """Wait until ``predicate(self)`` is truthy (the bot works after it acknowledges)."""
        async def until():
            async with self._changed:
                while True:
                    found = predicate(self)
                    if found:
                        return found
                    await self._changed.wait()
        return await asyncio.wait_for(until(), timeout)

    async def next_call(self, *methods: str, after: int = 0, timeout: float = 15.0,
                        where: Callable[[Call], bool] | None = None) -> Call:
        """The first call of one of ``methods`` (matching ``where``) made after the first ``after`` calls."""
        return await self.wait_for(lambda m: next((c for c in m.calls[after:] if c.method in methods
                                                   and (where is None or where(c))), None), timeout)

    async def settle(self, quiet: float = 0.2) -> None:
        """Wait until no call has arrived for ``quiet`` seconds (to show that nothing more happens)."""
        n = -1
        while n != len(self.calls):
            n = len(self.calls)
            await asyncio.sleep(quiet)


def _invalid(method: str, args: dict[str, Any]) -> list[str]:
    """What Slack would refuse in a message's blocks or a view (``tests/blockkit.py``)."""
    if method in ("chat.postMessage", "chat.update", "chat.postEphemeral") and args.get("blocks"):
        return problems({"text": args.get("text"), "blocks": _decode(args["blocks"])})
    if method in ("views.open", "views.update", "views.push", "views.publish") and args.get("view"):
        return view_problems(_decode(args["view"]))
    return []


def dm_of(user: str) -> str:
    """The DM id the mock gives a user's conversation with the bot."""
    return "D" + user[1:]


# ---- Slack's payloads, signed --------------------------------------------------------------

def sign(body: str, timestamp: str | None = None) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    return {"X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)}


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every ``(actions block, element)`` pair in ``blocks``."""
    return [(b, e) for b in blocks or [] if b.get("type") == "actions" for e in b["elements"]]


def find_button(blocks: list[dict[str, Any]], label: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for b, e in buttons(blocks):
        if e.get("type") == "button" and e["text"]["text"] == label:
            return b, e
    raise AssertionError(f"no button {label!r} in {[e.get('text', {}).get('text') for _, e in buttons(blocks)]}")


def state_for(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``view.state.values`` as Slack sends it for a modal filled in with ``values`` (by block id)."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        el, bid = block["element"], block["block_id"]
        v = values.get(bid)
        opts = {o["value"]: o for o in el.get("options", [])}
        if el["type"] == "multi_static_select":
            state[bid] = {"v": {"type": el["type"], "selected_options": [opts[x] for x in (v or [])]}}
        elif el["type"] == "static_select":
            state[bid] = {"v": {"type": el["type"], "selected_option": opts[v] if v else None}}
        else:
            state[bid] = {"v": {"type": el["type"], "value": v}}
    return state


@dataclass
class SlackUser:
    """One person in Slack, talking to the running server through signed requests."""

    http: TestClient
    api: MockSlackAPI
    user: str = "U0000001"
    team: str = TEAM
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def dm(self) -> str:
        return dm_of(self.user)

    async def post(self, body: str, content_type: str, headers: dict[str, str] | None = None,
                   signed: bool = True, timestamp: str | None = None):
        h = {"Content-Type": content_type, **(sign(body, timestamp) if signed else {}), **(headers or {})}
        return await self.http.post("/slack/events", data=body.encode("utf-8"), headers=h)

    async def event(self, event: dict[str, Any], event_id: str | None = None, retry: int | None = None):
        body = json.dumps({"token": "legacy", "team_id": self.team, "api_app_id": "A0001", "type": "event_callback",
                           "event_id": event_id or f"Ev{next(self._ids):08d}", "event_time": int(time.time()),
                           "authorizations": [{"team_id": self.team, "user_id": BOT_USER, "is_bot": True}],
                           "event": event})
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return await self.post(body, "application/json", headers)

    async def dm_text(self, text: str, **kw):
        return await self.event({"type": "message", "channel_type": "im", "channel": self.dm, "user": self.user,
                                 "text": text, "ts": f"{time.time():.6f}"}, **kw)

    async def mention(self, channel: str, text: str, **kw):
        return await self.event({"type": "app_mention", "channel": channel, "user": self.user,
                                 "text": f"<@{BOT_USER}> {text}", "ts": f"{time.time():.6f}"}, **kw)

    async def home_opened(self):
        return await self.event({"type": "app_home_opened", "user": self.user, "channel": self.dm, "tab": "home"})

    async def command(self, text: str, channel: str | None = None):
        n = next(self._ids)
        body = urlencode({"token": "legacy", "team_id": self.team, "channel_id": channel or self.dm,
                          "channel_name": "directmessage" if channel is None else "general", "user_id": self.user,
                          "user_name": "tester", "command": "/infoshare", "text": text, "api_app_id": "A0001",
                          "response_url": f"{self.api.url}response/{n}", "trigger_id": f"trigger-{n}"})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any]):
        payload = {"user": {"id": self.user, "team_id": self.team}, "team": {"id": self.team},
                   "api_app_id": "A0001", "token": "legacy", "trigger_id": f"trigger-{next(self._ids)}", **payload}
        return await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    async def click(self, call: Call, label: str, option: str | None = None):
        """Click the button ``label`` (or pick ``option`` in a select) on the message of ``call``."""
        ts = call.ts
        if option is None:
            block, el = find_button(call.args["blocks"], label)
            action = {"type": "button", "action_id": el["action_id"], "block_id": block.get("block_id", "b"),
                      "value": el["value"], "text": el["text"], "action_ts": f"{time.time():.6f}"}
        else:
            block, el = next((b, e) for b, e in buttons(call.args["blocks"]) if e["type"] == "static_select")
            opt = next(o for o in el["options"] if o["text"]["text"] == option)
            action = {"type": "static_select", "action_id": el["action_id"], "block_id": block.get("block_id", "b"),
                      "selected_option": opt, "action_ts": f"{time.time():.6f}"}
        channel = call.args["channel"]
        return await self.interact({
            "type": "block_actions", "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                                                   "is_ephemeral": False},
            "channel": {"id": channel}, "message": {"ts": ts, "blocks": call.args["blocks"]},
            "response_url": f"{self.api.url}response/click", "actions": [action]})

    async def click_through(self, call: Call, *labels: str) -> Call:
        """Click each button in turn, each on the message as updated by the one before; the last update."""
        for label in labels:
            n = len(self.api.calls)
            await self.click(call, label)
            call = await self.api.next_call("chat.update", after=n)
        return call

    async def click_home(self, view: dict[str, Any], label: str):
        block, el = find_button(view["blocks"], label)
        return await self.interact({
            "type": "block_actions", "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home", "blocks": view["blocks"], "hash": "h"},
            "actions": [{"type": "button", "action_id": el["action_id"], "block_id": block.get("block_id", "b"),
                         "value": el["value"], "action_ts": f"{time.time():.6f}"}]})

    async def pick(self, view: dict[str, Any], values: dict[str, Any], block_id: str):
        """Choose ``values[block_id]`` in the open modal ``view`` (the others filled in as in
        ``values``): what Slack sends for an input block with ``dispatch_action``."""
        block = next(b for b in view["blocks"] if b.get("block_id") == block_id)
        assert block.get("dispatch_action"), f"a choice in {block_id!r} sends nothing"
        option = next(o for o in block["element"]["options"] if o["value"] == values[block_id])
        return await self.interact({
            "type": "block_actions", "container": {"type": "view", "view_id": "VMODAL"},
            "view": {"id": "VMODAL", "type": "modal", "callback_id": view["callback_id"],
                     "private_metadata": view.get("private_metadata", ""), "blocks": view["blocks"],
                     "state": {"values": state_for(view, values)}, "hash": "1.abc"},
            "actions": [{"type": block["element"]["type"], "action_id": block["element"]["action_id"],
                         "block_id": block_id, "selected_option": option, "action_ts": f"{time.time():.6f}"}]})

    async def submit(self, view: dict[str, Any], values: dict[str, Any]):
        """Submit the modal ``view`` (as opened by ``views.open``) filled in with ``values``."""
        return await self.interact({"type": "view_submission", "view": {
            "id": "VMODAL", "type": "modal", "callback_id": view["callback_id"],
            "private_metadata": view.get("private_metadata", ""), "blocks": view["blocks"],
            "state": {"values": state_for(view, values)}, "hash": "1.abc"}})


# ---- fixtures ------------------------------------------------------------------------------

@pytest.fixture
async def slack_api():
    api = await MockSlackAPI().start()
    yield api
    await api.close()


@pytest.fixture
def slack_env(monkeypatch, slack_api):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("INFOSHARE_SLACK_API_URL", slack_api.url)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.delenv("MicrosoftAppId", raising=False)
    return slack_api


@pytest.fixture
def slack_db_path(tmp_path):
    return tmp_path / "infoshare.db"


@pytest.fixture
def slack_engine(slack_db_path):
    from bot.config import Config
    from dialogs.engine import Engine
    from storage.db import open_db
    config = Config(leads={"slack": ["ULEAD001"]})
    return Engine(open_db(slack_db_path), is_lead=config.is_lead)


@pytest.fixture
async def slack_server(slack_env, slack_engine):
    """The real ``infoshare serve`` aiohttp app (bot.server) running on 127.0.0.1."""
    from bot.config import Config
    from bot.server import build_app, load_channels
    channels = load_channels(slack_engine, Config(leads={"slack": ["ULEAD001"]}), dev=False, host="127.0.0.1")
    assert channels.slack is not None, channels.disabled
    client = TestClient(TestServer(build_app(channels), host="127.0.0.1"))
    await client.start_server()
    client.channel = channels.slack
    yield client
    await client.close()


@pytest.fixture
def alice(slack_server, slack_api):
    return SlackUser(slack_server, slack_api, user="U0000A11")
