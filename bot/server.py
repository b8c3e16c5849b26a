"""``infoshare serve``: one aiohttp server for Slack (``/slack/events``), Teams (``/api/messages``)
and ``/healthz``. This module only wires things, as a BotBuilder sample's ``app.py`` does: each
channel lives in its own package (:mod:`bot.slack`, :mod:`bot.teams`), the jobs in :mod:`bot.jobs`.

Each adapter's ``from_env(engine, config, ...)`` returns a channel object with an aiohttp
handler ``handle(request)``, or a string saying why that channel is not enabled.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.config import MAX_BODY, Config
from bot.slack import app as slack
from bot.teams import adapter as teams
from dialogs.engine import Engine
from dialogs.records import ping

log = logging.getLogger("infoshare.server")


@dataclass
class Channels:
    """The enabled channel adapters and, for those that are not, why."""

    slack: Any = None
    teams: Any = None
    disabled: dict[str, str] = field(default_factory=dict)
    db: Any = None
    """The store, for ``/healthz`` to ask whether it answers."""


CHANNELS = web.AppKey("channels", Channels)


async def healthz(request: web.Request) -> web.Response:
    """200 with which channels are on, whether every pack's answers are built yet
    (``preparing`` while ``serve`` builds them in the background at start) and, with Teams on,
    whether its token signing keys are held (``fetching`` until then: Teams answers 503), and
    whether the store answers: 503 with the reason when it does not (PostgreSQL down, say), so a
    load balancer sends users to a replica that can record their decisions."""
    from content.loader import pack_ids
    from dialogs.answers import is_ready
    channels = request.app[CHANNELS]
    ready = all(is_ready(p) for p in pack_ids())
    body = {"status": "ok", "slack": channels.slack is not None, "teams": channels.teams is not None,
            "answers": "ready" if ready else "preparing"}
    if channels.teams is not None:
        keys = channels.teams.keys
        body["teams_keys"] = "not used (--dev)" if keys is None else ("ready" if keys.ready else "fetching")
    if channels.db is not None:
        try:
            problem = await asyncio.wait_for(asyncio.to_thread(ping, channels.db), HEALTH_TIMEOUT)
        except asyncio.TimeoutError:
            problem = f"no answer within {HEALTH_TIMEOUT:g} s"
        body["database"] = problem or "ok"
        if problem:
            body["status"] = "unavailable"
            return web.json_response(body, status=503)
    return web.json_response(body)


HEALTH_TIMEOUT = 3.0
"""Seconds ``/healthz`` waits for the store before it says the store does not answer."""


class TypeOnly(logging.Filter):
    """Keeps request bytes out of aiohttp's own log: a malformed request (an oversized
    ``Authorization`` header, say) is logged by aiohttp with a traceback whose exception holds
    the raw header, token and all. The record keeps its message and the exception's type only."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "error"
            record.msg, record.args = f"{record.getMessage()}: {kind}", ()
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def quiet_request_logs() -> None:
    """Install :class:`TypeOnly` on aiohttp's server and access loggers (once)."""
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, TypeOnly) for f in logger.filters):
            logger.addFilter(TypeOnly())


def build_app(channels: Channels, *services: Any) -> web.Application:
    """The aiohttp application with a route for each enabled channel; ``services`` (the weekly
    digest, housekeeping) start and stop with it."""
    quiet_request_logs()
    app = web.Application(client_max_size=MAX_BODY)
    app[CHANNELS] = channels
    app.router.add_get("/healthz", healthz)
    if channels.slack is not None and not getattr(channels.slack, "socket_mode", False):
        app.router.add_post("/slack/events", channels.slack.handle)
    if channels.teams is not None:
        app.router.add_post("/api/messages", channels.teams.handle)
    for ch in (channels.slack, channels.teams, *services):
        if ch is not None and hasattr(ch, "on_startup"):
            app.on_startup.append(ch.on_startup)
        if ch is not None and hasattr(ch, "on_cleanup"):
            app.on_cleanup.append(ch.on_cleanup)
    return app


def load_channels(engine: Engine, config: Config, *, dev: bool, host: str, socket_mode: bool = False) -> Channels:
    """Ask each adapter whether its settings are present; say why when a channel stays off."""
    channels = Channels(db=engine.db)
    result = slack.from_env(engine, config, socket_mode=socket_mode)
    if isinstance(result, str):
        channels.disabled["slack"] = result
    else:
        channels.slack = result
    result = teams.from_env(engine, config, dev=dev, host=host)
    if isinstance(result, str):
        channels.disabled["teams"] = result
    else:
        channels.teams = result
    return channels
