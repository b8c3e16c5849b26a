"""Slack over HTTP: ``POST /slack/events`` checked before the Bolt app sees it.

Requests are verified here before Bolt sees them (HMAC signature, at most five minutes old),
then parse-checked: bad signatures get 401, malformed bodies 400, and neither is logged.
Nothing here logs a body or a message's text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any
from urllib.parse import unquote_plus as urllib_unquote_plus

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import extract_content_type

log = logging.getLogger("infoshare.slack")

MAX_AGE = 5 * 60
"""Oldest request accepted, in seconds (Slack's own advice)."""


def signature_ok(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                 now: float | None = None) -> bool:
    """Slack's v0 request signature over the raw bytes, and a timestamp at most five minutes off."""
    if not secret or not timestamp or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False  # isdigit() alone takes Arabic-Indic, full-width and superscript digits
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE:
        return False
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace"))


def unquote_plus(text: str) -> str:
    """``urllib.parse.unquote_plus``, but in C codecs: Slack's payloads are thousands of ``%XX``.

    Falls back to urllib (same result) for anything unusual: non-ASCII, a bad escape, bad UTF-8.
    """
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    try:
        return (text.replace("\\", "\\\\").replace("%", "\\x").encode("ascii")
                .decode("unicode_escape").encode("latin-1").decode("utf-8"))
    except (UnicodeError, ValueError):
        return urllib_unquote_plus(text)


def parse_form(text: str) -> dict[str, str] | None:
    """A strict ``application/x-www-form-urlencoded`` body, or None when it is not one."""
    out: dict[str, str] = {}
    for item in text.split("&"):
        name, sep, value = item.partition("=")
        if not sep or not name:
            return None
        out[unquote_plus(name)] = unquote_plus(value)
    return out


def parse_request(text: str, content_type: str | None) -> dict[str, Any] | None:
    """The body as Bolt reads it, parsed once; None when it is malformed (Bolt would answer 500).

    Like Bolt: JSON when the content type says so or the body starts with ``{``, else a form whose
    ``payload`` (interactivity) is JSON. JSON must be an object; a form must be strictly
    ``key=value&...``; a payload must be an object with a ``type``.
    """
    if not text.strip():
        return None
    if content_type == "application/json" or text.startswith("{"):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return None
        return parsed if isinstance(parsed, dict) and not _shape_problem(parsed) else None
    params = parse_form(text)
    if params is None:
        return None
    if "payload" in params:
        try:
            payload = json.loads(params["payload"])
        except (ValueError, RecursionError):
            return None
        ok = isinstance(payload, dict) and isinstance(payload.get("type"), str) and payload["type"]
        return payload if ok and not _shape_problem(payload) else None
    return params


def is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 255


def _shape_problem(body: dict[str, Any]) -> str | None:
    """What is of the wrong shape in a signed body the listeners read, or None: every field
    they use must be the type Slack sends, so no listener meets a number for a user id."""
    kind = body.get("type")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event"
        if "event_id" in body and not is_id(body["event_id"]):
            return "event_id"
        for key in ("user", "channel", "text", "ts", "channel_type", "subtype", "bot_id"):
            if key in event and event[key] is not None and not isinstance(event[key], str):
                return f"event.{key}"
    elif kind in ("block_actions", "view_submission", "view_closed", "shortcut", "message_action"):
        user = body.get("user")
        if not isinstance(user, dict) or not is_id(user.get("id")):
            return "user"
        if kind == "block_actions":
            actions = body.get("actions")
            if not isinstance(actions, list) or not actions or not all(
                    isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
                return "actions"
        if kind.startswith("view_") and not isinstance(body.get("view"), dict):
            return "view"
    return None


def bolt_request(text: str, parsed: dict[str, Any], query: str, headers: dict[str, str]) -> AsyncBoltRequest:
    """A Bolt request for a body already parsed by :func:`parse_request` (Bolt would parse it again).

    Bolt still verifies the signature over ``raw_body``.
    """
    req = AsyncBoltRequest(body="", query=query, headers=headers)
    req.raw_body, req.body = text, parsed
    req.context = build_async_context(AsyncBoltContext({}), parsed)
    return req


async def dispatch(app: AsyncApp, secret: str, request: web.Request) -> web.Response:
    """``POST /slack/events``: verify, parse-check, then dispatch to Bolt."""
    body = await request.read()
    if not signature_ok(secret, body, request.headers.get("X-Slack-Request-Timestamp"),
                        request.headers.get("X-Slack-Signature")):
        log.info("refused a Slack request: missing, wrong or stale signature")
        return web.json_response({"error": "invalid request"}, status=401)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return web.json_response({"error": "body is not UTF-8"}, status=400)
    content_type = extract_content_type({"content-type": [request.headers.get("Content-Type", "")]})
    parsed = parse_request(text, content_type)
    if parsed is None:
        log.info("refused a Slack request: malformed body")
        return web.json_response({"error": "malformed body"}, status=400)
    req = bolt_request(text, parsed, request.query_string, dict(request.headers))
    return await to_aiohttp_response(await app.async_dispatch(req))
