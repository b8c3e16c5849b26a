"""Slack over HTTP: ``POST /slack/events`` to the Bolt app, as bolt-python's aiohttp adapter does it.

Two converters and two checks, before any listener runs:

1. A body that is not UTF-8 gets 400 (Slack sends nothing else; the verifier reads text).
   :func:`signature_ok`: slack_sdk's :class:`~slack_sdk.signature.SignatureVerifier` over the raw
   bytes (Slack's v0 signature, at most five minutes old). A bad one gets 401 and is not logged.
2. :func:`bolt_body`: the JSON Bolt is to read, found as Bolt finds it (the body when it is
   JSON, else a form read as :func:`urllib.parse.parse_qsl` reads it, strictly: its ``payload``
   as it came, or a command's fields as JSON, since a command mentioning the word "payload"
   would otherwise be read by Bolt as interactivity). A form's ``%XX`` escapes are decoded in C
   (:func:`unquote_plus`), to urllib's letter.
3. :func:`to_bolt_request`: an :class:`~slack_bolt.request.async_request.AsyncBoltRequest` built
   with its public constructor, as bolt's own aiohttp adapter builds it. Bolt parses the JSON,
   once; :func:`shape_problem` then checks what it parsed: an object, every field the listeners
   use of the type Slack sends. JSON that does not parse, or that Bolt cannot build a request
   from, or of the wrong shape, gets 400 (Bolt would answer 500). Bolt's response goes back
   through bolt's own ``to_aiohttp_response``.

Nothing here logs a body or a message's text.
"""

from __future__ import annotations

import binascii
import json
import logging
from typing import Any
from urllib.parse import unquote_plus as urllib_unquote_plus

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import Clock, SignatureVerifier

log = logging.getLogger("infoshare.slack")

MAX_AGE = 5 * 60
"""Oldest request accepted, in seconds (Slack's own advice, and SignatureVerifier's window)."""


class _At(Clock):
    """A fixed "now" for :class:`SignatureVerifier` (tests check the window's edges)."""

    def __init__(self, now: float) -> None:
        self.at = now

    def now(self) -> float:
        return self.at


def signature_ok(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                 now: float | None = None) -> bool:
    """Slack's v0 request signature over the raw bytes, and a timestamp at most five minutes off.

    slack_sdk's :class:`SignatureVerifier` does the HMAC and the window; what it would raise on
    (no secret, a timestamp that is not ASCII digits, a signature that is not ASCII, a body
    that is not UTF-8) is refused here first.
    """
    if not secret or not timestamp or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False  # isdigit() alone takes Arabic-Indic, full-width and superscript digits
    if not signature.isascii():
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    verifier = SignatureVerifier(secret) if now is None else SignatureVerifier(secret, clock=_At(now))
    return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)


def content_type_of(header: str | None) -> str | None:
    """The media type as Bolt takes it from ``Content-Type``: the part before any ``;``."""
    return header.split(";")[0] if header else None


def unquote_plus(text: str) -> str:
    """:func:`urllib.parse.unquote_plus`, the same result (tests compare them), with the escapes
    decoded in C: a click's payload is some 4 kB with a thousand ``%XX``, which urllib decodes
    one by one in Python (0.2 ms, as much as the rest of the transport).

    The common case (ASCII, every ``%`` followed by two hex digits) goes through
    :func:`binascii.a2b_qp`, quoted-printable's decoder: ``%XX`` written as ``=XX`` (and ``=``
    itself as ``=3D``) is exactly the escape it decodes. Anything else is urllib's: non-ASCII
    text, line breaks (quoted-printable's soft line breaks), and a ``%`` that starts no escape
    (found by the length: each ``=XX`` decoded shortens the text by two bytes, and whatever
    a2b_qp makes of a ``=`` not followed by two hex digits shortens it by less).

    Example:
        >>> unquote_plus("caf%C3%A9+%3D+100%25")
        'café = 100%'
    """
    text = text.replace("+", " ")
    if "%" not in text:
        return text
    if not text.isascii() or "\r" in text or "\n" in text:
        return urllib_unquote_plus(text)
    escapes = text.count("%") + text.count("=")
    qp = text.replace("=", "=3D").replace("%", "=").encode("ascii")
    raw = binascii.a2b_qp(qp)
    if len(raw) != len(qp) - 2 * escapes:  # a "%" that starts no escape: urllib keeps it as it is
        return urllib_unquote_plus(text)
    return raw.decode("utf-8", "replace")


def parse_form(text: str) -> dict[str, str] | None:
    """A strict ``application/x-www-form-urlencoded`` body, or None when it is not one.

    What ``dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))`` gives, or None
    where that raises (a field without ``=``, an empty field) or a name is empty (tests compare
    them on made-up and real bodies)."""
    form: dict[str, str] = {}
    for field in text.split("&"):
        name, eq, value = field.partition("=")
        name = unquote_plus(name)
        if not eq or not name:
            return None
        form[name] = unquote_plus(value)
    return form


JSON_SPACE = " \t\n\r"
"""The whitespace JSON allows before a value."""


def bolt_body(text: str, content_type: str | None) -> tuple[str, bool] | None:
    """The JSON text Bolt is to read for this body, and whether it is an interactivity
    ``payload``; None when the body is malformed (Bolt would answer 500).

    Like Bolt: JSON when the content type says so or the body starts with ``{``, else a form whose
    ``payload`` (interactivity) is JSON. A form must be strictly ``key=value&...``, and the JSON
    an object (it starts with ``{``: whether it parses is Bolt's to find, once). Bolt gets the JSON
    as it came (the body, or the payload), and a command's form as the JSON of its fields.

    Example:
        >>> bolt_body("payload=%7B%22type%22%3A%22block_actions%22%7D", "application/x-www-form-urlencoded")
        ('{"type":"block_actions"}', True)
        >>> bolt_body("command=%2Finfoshare&text=help", "application/x-www-form-urlencoded")
        ('{"command": "/infoshare", "text": "help"}', False)
    """
    if not text.strip():
        return None
    if content_type == "application/json" or text.startswith("{"):
        body, payload = text, False
    else:
        params = parse_form(text)
        if params is None:
            return None
        payload = "payload" in params
        body = params["payload"] if payload else json.dumps(params, ensure_ascii=False)
    return (body, payload) if body.lstrip(JSON_SPACE).startswith("{") else None


BOLT_READ_ERRORS = (ValueError, RecursionError, TypeError, AttributeError)
"""What Bolt's request constructor raises on JSON that does not parse (ValueError), that is
nested too deep (RecursionError), or whose ``team``, ``enterprise``, ``channel`` or
``authorizations`` is not what Slack sends (``"team": 5``: TypeError, AttributeError)."""


def shape_problem(body: dict[str, Any], payload: bool) -> str | None:
    """What is of the wrong shape in the body Bolt parsed, or None: an interactivity payload
    must have a ``type``, and every field the listeners use must be the type Slack sends
    (:func:`_shape_problem`)."""
    if not isinstance(body, dict):
        return "body"
    if payload and not (isinstance(body.get("type"), str) and body["type"]):
        return "type"
    return _shape_problem(body)


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


def to_bolt_request(body: str, query: str, headers: dict[str, str]) -> AsyncBoltRequest:
    """The Bolt request for JSON :func:`bolt_body` found (Bolt reads JSON the same way every
    time), built as bolt's own aiohttp adapter builds it. Bolt parses the JSON here; it raises
    one of :data:`BOLT_READ_ERRORS` when it cannot."""
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    headers["Content-Type"] = "application/json"
    return AsyncBoltRequest(body=body, query=query, headers=headers)


def read_request(text: str, content_type: str | None, query: str, headers: dict[str, str]) -> AsyncBoltRequest | None:
    """The Bolt request for a verified body, or None when the body is malformed (400)."""
    found = bolt_body(text, content_type)
    if found is None:
        return None
    try:
        bolt = to_bolt_request(found[0], query, headers)
    except BOLT_READ_ERRORS:
        return None
    return None if shape_problem(bolt.body, found[1]) else bolt


async def dispatch(app: AsyncApp, secret: str, request: web.Request) -> web.Response:
    """``POST /slack/events``: verify, parse-check, then hand the request to the Bolt app."""
    raw = await request.read()
    try:  # Slack sends UTF-8 only, and SignatureVerifier reads the body as text
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return web.json_response({"error": "body is not UTF-8"}, status=400)
    if not signature_ok(secret, raw, request.headers.get("X-Slack-Request-Timestamp"),
                        request.headers.get("X-Slack-Signature")):
        log.info("refused a Slack request: missing, wrong or stale signature")
        return web.json_response({"error": "invalid request"}, status=401)
    bolt = read_request(text, content_type_of(request.headers.get("Content-Type")), request.query_string,
                        dict(request.headers))
    if bolt is None:
        log.info("refused a Slack request: malformed body")
        return web.json_response({"error": "malformed body"}, status=400)
    return await to_aiohttp_response(await app.async_dispatch(bolt))


def quiet_slack_loggers() -> logging.Logger:
    """Keep Bolt's and the SDK's debug and info logs (which print bodies) out of our logs.

    Returns the base logger handed to Bolt: its level (WARNING) is copied to every Bolt logger.
    """
    base = logging.getLogger("infoshare.slack.bolt")
    base.setLevel(logging.WARNING)
    for name in ("slack_bolt", "slack_sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and name.startswith(("slack_bolt", "slack_sdk")):
            if lg.level < logging.WARNING:
                lg.setLevel(logging.WARNING)
    return base
