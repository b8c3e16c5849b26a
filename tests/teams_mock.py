"""A local Bot Framework connector and made-up Teams activities, for tests that never reach Microsoft.

The bot under test runs as ``infoshare serve --dev`` would (no MicrosoftAppId, loopback only),
on a real 127.0.0.1 port; every activity the tests post names the mock connector as its
``serviceUrl``, so the bot's replies, card updates and new conversations land in
:class:`Connector` and are read back from there.

Example (inside an async test)::

    async with TeamsHarness(tmp_path) as h:
        await h.post(h.message("start"))
        card = h.connector.cards()[-1]
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer

BOT = {"id": "28:bot-infoshare-test", "name": "infoshare"}
USER = {"id": "29:user-test-1", "aadObjectId": "00000000-0000-4000-8000-00000000a001", "name": "Test User One"}
LEAD = {"id": "29:lead-test-1", "aadObjectId": "00000000-0000-4000-8000-00000000b001", "name": "Test Lead"}
TENANT = "00000000-0000-4000-8000-0000000000f1"
PERSONAL = "a:personal-test-1"
CHANNEL = "19:channel-test-1@thread.tacv2"
GROUP = "19:group-test-1@thread.v2"
TEAMS_ENV = ("MicrosoftAppId", "MicrosoftAppPassword", "MicrosoftAppType", "MicrosoftAppTenantId")
CARD = "application/vnd.microsoft.card.adaptive"
_activity_ids = itertools.count(1)


class Connector:
    """The Bot Framework REST API, as far as the bot uses it; remembers every call."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self.fail_updates = False
        self.fail_sends = False
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conv}/activities", self._send)
        app.router.add_post("/v3/conversations/{conv}/activities/{id}", self._send)
        app.router.add_put("/v3/conversations/{conv}/activities/{id}", self._update)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/"

    async def _record(self, request: web.Request, kind: str) -> dict[str, Any]:
        body = await request.json() if request.can_read_body else None
        call = {"kind": kind, "path": request.path, "conversation": request.match_info.get("conv"),
                "id": request.match_info.get("id"), "body": body,
                "authorization": request.headers.get("Authorization")}
        self.calls.append(call)
        return call

    async def _create(self, request: web.Request) -> web.Response:
        call = await self._record(request, "create")
        call["response_id"] = f"a:private-{next(self._ids)}"
        return web.json_response({"id": call["response_id"], "serviceUrl": self.url})

    async def _send(self, request: web.Request) -> web.Response:
        call = await self._record(request, "send")
        if self.fail_sends:
            return web.json_response({"error": {"code": "ServiceError", "message": "down"}}, status=500)
        call["response_id"] = f"act-{next(self._ids)}"
        return web.json_response({"id": call["response_id"]})

    async def _update(self, request: web.Request) -> web.Response:
        await self._record(request, "update")
        if self.fail_updates:
            return web.json_response({"error": {"code": "NotFound", "message": "gone"}}, status=404)
        return web.json_response({"id": request.match_info["id"]})

    async def _other(self, request: web.Request) -> web.Response:
        await self._record(request, "other")
        return web.json_response({"error": {"code": "NotFound", "message": "not mocked"}}, status=404)

    # ---- reading back ------------------------------------------------------------------------

    def of(self, kind: str, conversation: str | None = None) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["kind"] == kind and (conversation is None or c["conversation"] == conversation)]

    def messages(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """Activities posted as new messages, oldest first."""
        return [c["body"] for c in self.of("send", conversation)]

    def cards(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """The Adaptive Cards of new messages, oldest first."""
        return [card_of(m) for m in self.messages(conversation) if card_of(m) is not None]

    def all_text(self) -> str:
        return json.dumps([c["body"] for c in self.calls])


def card_of(activity: dict[str, Any]) -> dict[str, Any] | None:
    for att in activity.get("attachments") or []:
        if att.get("contentType") == CARD:
            return att["content"]
    return None


def card_text(card: dict[str, Any]) -> str:
    """Every text and fact in a card, one string (for assertions)."""
    out = []

    def walk(items):
        for it in items:
            if it.get("type") == "TextBlock":
                out.append(it["text"])
            elif it.get("type") == "FactSet":
                out.extend(f"{f['title']}: {f['value']}" for f in it["facts"])
            elif it.get("type", "").startswith("Input."):
                out.append(it.get("label", ""))
    walk(card.get("body", []))
    return "\n".join(out)


def actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(card.get("actions", []))
    for it in card.get("body", []):
        if it.get("type") == "ActionSet":
            found += it["actions"]
    return found


def action(card: dict[str, Any], title: str) -> dict[str, Any]:
    for a in actions(card):
        if a["title"] == title:
            return a
    raise AssertionError(f"no button {title!r} on the card; buttons: {[a['title'] for a in actions(card)]}")


def inputs(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {it["id"]: it for it in card.get("body", []) if it.get("type", "").startswith("Input.")}


def activity(kind: str = "message", *, conversation: str = PERSONAL, conversation_type: str = "personal",
             user: dict[str, str] | None = USER, service_url: str = "", **extra: Any) -> dict[str, Any]:
    """A made-up Teams activity as Teams would post it."""
    act: dict[str, Any] = {
        "type": kind, "id": f"1764064800{next(_activity_ids):06d}", "channelId": "msteams",
        "serviceUrl": service_url, "timestamp": "2026-11-25T10:00:00.000Z", "locale": "en-GB",
        "recipient": dict(BOT), "from": dict(user) if user else None,
        "conversation": {"id": conversation, "conversationType": conversation_type, "tenantId": TENANT,
                         **({"isGroup": True} if conversation_type != "personal" else {})},
        "channelData": {"tenant": {"id": TENANT}},
    }
    if act["from"] is None:
        del act["from"]
    act.update(extra)
    return act


class TeamsHarness:
    """The server (``load_channels(..., dev=True)`` + ``build_app``) and the mock connector on 127.0.0.1."""

    def __init__(self, tmp_path: Path, monkeypatch, *, app_id: str | None = None, leads: list[str] | None = None,
                 keys_url: str = "http://127.0.0.1:9/openid"):
        self.tmp_path, self.monkeypatch, self.app_id = tmp_path, monkeypatch, app_id
        self.keys_url = keys_url  # where the signing keys are fetched from (by default: refused at once)
        self.leads = leads or []
        self.connector = Connector()

    async def __aenter__(self) -> "TeamsHarness":
        from bot.teams import adapter as teams
        from bot.config import Config
        from bot.server import build_app, load_channels
        from dialogs.engine import Engine
        from storage.db import open_db
        self.monkeypatch.setattr(teams, "KEY_SOURCES", {url: self.keys_url for url in teams.KEY_SOURCES})
        for name in TEAMS_ENV:
            self.monkeypatch.delenv(name, raising=False)
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
            self.monkeypatch.delenv(name, raising=False)
        if self.app_id:
            self.monkeypatch.setenv("MicrosoftAppId", self.app_id)
            self.monkeypatch.setenv("MicrosoftAppPassword", "made-up-secret-for-tests")
        self.config = Config(leads={"teams": self.leads}, contacts={"manager": "Test duty manager, ext 000"})
        self.db = open_db(self.tmp_path / "infoshare.db")
        self.engine = Engine(self.db, contacts=self.config.contacts, is_lead=self.config.is_lead)
        self.channels = load_channels(self.engine, self.config, dev=self.app_id is None, host="127.0.0.1")
        assert self.channels.teams is not None, self.channels.disabled.get("teams")
        self.teams = self.channels.teams
        await self.connector.server.start_server()
        self.server = TestServer(build_app(self.channels), host="127.0.0.1")
        await self.server.start_server()
        self.session = ClientSession()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.session.close()
        await self.server.close()
        await self.connector.server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/api/messages"

    def message(self, text: str | None = None, **kw: Any) -> dict[str, Any]:
        act = activity("message", service_url=self.connector.url, **kw)
        if text is not None:
            act["text"] = text
        return act

    def click(self, card_id: str, card: dict[str, Any], title: str, values: dict[str, Any] | None = None,
              **kw: Any) -> dict[str, Any]:
        """What Teams posts when ``title`` is selected on ``card`` (message ``card_id``), inputs filled in."""
        value = dict(action(card, title)["data"])
        for key, v in (values or {}).items():
            value[f"field:{key}"] = v
        return self.message(value=value, replyToId=card_id, **kw)

    async def post(self, body: Any, *, headers: dict[str, str] | None = None, raw: bytes | None = None) -> int:
        """POST to /api/messages; the status code."""
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        data = raw if raw is not None else json.dumps(body).encode()
        async with self.session.post(self.url, data=data, headers=hdrs) as resp:
            await resp.read()
            return resp.status

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self.db.execute(sql, params or []).fetchall()

    def latest_card(self, conversation: str = PERSONAL) -> tuple[str, dict[str, Any]]:
        """The live card as the user sees it now: its message id and its (updated) content."""
        from storage import references
        live = references.get_card(self.db, "teams", f"{conversation}:{USER['aadObjectId']}")
        assert live is not None, "no live card"
        content = None
        for c in self.connector.calls:
            if (c["kind"] == "send" and c.get("response_id") == live[0]) or (c["kind"] == "update" and c["id"] == live[0]):
                content = card_of(c["body"])
        assert content is not None
        return live[0], content
