"""The Slack channel: a Bolt ``AsyncApp`` that turns Slack events into core events and renders replies.

Over HTTP, ``POST /slack/events`` takes events, interactivity and the ``/infoshare`` command on
one URL; with ``infoshare serve --slack-socket-mode`` the same app runs over Socket Mode.
Nothing here decides anything: a click, a typed message, a command or a modal submission
becomes one :class:`~dialogs.events.Event` for :meth:`Engine.handle <dialogs.engine.Engine.handle>`,
and the replies become Block Kit (:mod:`bot.slack.blocks`). The HTTP transport is
:mod:`bot.slack.transport`; the weekly digest's posting :mod:`bot.slack.digest`.

How it behaves:

* Every walk, answer and digest is shown in the user's direct message with the bot. A command
  or mention in any other conversation gets only a short neutral ephemeral note there
  (``/infoshare help`` is answered there, ephemerally, with general help only).
* The message with the buttons is updated in place (``chat.update``) as the walk moves on;
  the record step is a modal.
* Requests are verified before Bolt sees them and parse-checked before any listener runs
  (:mod:`bot.slack.transport`): bad signatures get 401, malformed bodies 400, and
  neither is logged.
* Every listener acknowledges first and does the work afterwards (a modal submission is
  checked by the engine first, so that errors can go back onto the form); a delivery key (the
  event id, or the clicked button with its render nonce) is stored in the same transaction as
  the engine's turn, so a retried event or a double click is processed exactly once.
* Errors end in one place, the app's error handler: it logs the error type (never text or
  bodies), apologises to the user and shows where their conversation is.

Example:
    >>> import os
    >>> os.environ.pop("SLACK_BOT_TOKEN", None) and None
    >>> from_env(engine=None, config=None)
    'SLACK_BOT_TOKEN is not set: see manifest/slack/README.md'
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import os
import re
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Coroutine

import aiohttp
from aiohttp import web
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as kit
from bot.slack import digest
from bot.slack import transport
from dialogs import events
from dialogs.events import Event, Reply
from dialogs.records import GroupCommit, db_lock
from dialogs.engine import Engine
from bot.config import Config

log = logging.getLogger("infoshare.slack")

CHANNEL = "slack"
COMMAND = "/infoshare"
PROMPTS = ("question", "outcome", "record_field", "summary")
"""Reply kinds that show where a conversation is (the engine puts them last)."""
WORK_SLOTS = 16
"""Listeners doing their work after the ack at the same time (the rest wait their turn): enough
for clicks to share commits (:class:`~dialogs.records.GroupCommit`) and to keep the loop busy
while a commit is written, few enough that new requests are still acknowledged at once under
load (bench/bench_slack.py flat out, 50 conversations: ack p99 about 70 ms, target 100; with 8,
about 50 ms and a tenth fewer clicks a second).
Typed words (messages, mentions, commands) have as many places again of their own, so questions
waiting for the matcher never hold up a click."""
MAX_LIVE = 10_000
"""Conversations whose live message is remembered (in memory) to take its buttons away later."""

SETUP = "see manifest/slack/README.md"
PRIVATE_NOTE = ("I've sent you a direct message so we can carry on privately. Please keep case "
                "details out of shared channels.")
APOLOGY = (f"{events.APOLOGY} That step may not have gone through. "
           "Your conversation is safe: here is where you are.")
USAGE = ("`/infoshare start [pack]` begins a decision \u00b7 `/infoshare ask <question>` answers a question \u00b7 "
         "`/infoshare checklist` shows the questions to ask yourself before sharing \u00b7 "
         "`/infoshare digest` (safeguarding leads) \u00b7 `/infoshare help`. Decisions and answers always "
         "arrive in our direct messages.")


def _user_of(body: dict[str, Any]) -> str | None:
    user = body.get("user")
    if isinstance(user, dict):
        return user.get("id")
    event = body.get("event") or {}
    return body.get("user_id") or (event.get("user") if isinstance(event.get("user"), str) else None)


# ---- the channel ---------------------------------------------------------------------------

class SlackChannel:
    """The Slack adapter: one Bolt ``AsyncApp`` on one engine.

    Args:
        engine: the shared :class:`~dialogs.engine.Engine`.
        token: the bot token (``xoxb-``).
        signing_secret: verifies HTTP requests (not needed over Socket Mode).
        app_token: an app-level token (``xapp-``): run over Socket Mode instead of HTTP.
        api_url: the Slack Web API base URL, when not Slack's own (tests, proxies).

    Example:
        >>> ch = SlackChannel(engine, token="xoxb-...", signing_secret="...")  # doctest: +SKIP
        >>> app.router.add_post("/slack/events", ch.handle)      # doctest: +SKIP
    """

    def __init__(self, engine: Engine, *, token: str, signing_secret: str | None = None, app_token: str | None = None,
                 api_url: str | None = None) -> None:
        self.engine = engine
        self.signing_secret = signing_secret or ""
        self.app_token = app_token
        self.socket_mode = app_token is not None
        self._dms: dict[str, str] = {}
        self._live: OrderedDict[str, tuple[str, list[dict[str, Any]]]] = OrderedDict()
        self._socket = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self._work: set[asyncio.Future] = set()  # work after an ack (held here: the loop keeps only weak references)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infoshare-slack")
        self._asker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="infoshare-slack-ask")
        self._commits: GroupCommit | None = None  # the clicks' turns (started with the server)
        self._slots = asyncio.Semaphore(WORK_SLOTS)
        self._typed_slots = asyncio.Semaphore(WORK_SLOTS)
        # Bolt's own signature check is off because :meth:`handle`, the only way a request reaches
        # Bolt over HTTP, has already checked it on the raw bytes (HMAC once per click, not twice).
        app = AsyncApp(token=token, signing_secret=self.signing_secret, name="infoshare",
                       logger=transport.quiet_slack_loggers(), request_verification_enabled=False,
                       process_before_response=True)
        transport.quiet_slack_loggers()
        self.client: AsyncWebClient = app.client
        if api_url:
            self.client.base_url = api_url if api_url.endswith("/") else api_url + "/"
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        # Bolt tries listeners in this order, building each matcher's arguments: most frequent first.
        app.action(re.compile("^" + re.escape(kit.ACTION_PREFIX)))(self.on_action)
        app.event("message")(self.on_message)
        app.command(COMMAND)(self.on_command)
        app.view_submission(kit.RECORD_VIEW)(self.on_record_submit)
        app.action(kit.VALUE_ACTION)(self.on_form_change)
        app.view_submission(kit.TEXT_VIEW)(self.on_text_submit)
        app.event("app_mention")(self.on_mention)
        app.event("app_home_opened")(self.on_home_opened)
        app.error(self.on_error)
        self.app = app

    # ---- transport ------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: verify, parse-check, then dispatch to Bolt."""
        if self.socket_mode:
            return web.json_response({"error": "this server receives Slack over Socket Mode"}, status=404)
        return await transport.dispatch(self.app, self.signing_secret, request)

    async def on_startup(self, app: web.Application) -> None:
        """Share one HTTP session for Web API calls; connect Socket Mode when it is used."""
        self._commits = GroupCommit(self.engine.db, name="infoshare-slack-turns")
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self.client.session = self._session
        if not self.socket_mode:
            return
        # The SDK retries a failed connection for ever, so check the app token first, and connect
        # in the background: a bad token or an unreachable Slack must not hold up the server.
        try:
            await self.client.apps_connections_open(app_token=self.app_token)
        except (SlackApiError, aiohttp.ClientError, OSError) as exc:
            reason = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.error("Slack Socket Mode could not connect (%s): check SLACK_APP_TOKEN; Slack is off", reason)
            return
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
        self._socket = AsyncSocketModeHandler(self.app, self.app_token, logger=transport.quiet_slack_loggers(),
                                              web_client=self.client)
        task = asyncio.ensure_future(self._socket.connect_async())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        log.info("Slack Socket Mode connecting")

    async def on_cleanup(self, app: web.Application) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None
        self._worker.shutdown(wait=False)
        self._asker.shutdown(wait=False)
        if self._commits is not None:
            self._commits.close()
            self._commits = None

    # ---- the engine (in a worker thread: it is synchronous SQLite) -------------------------

    async def turn(self, dm: str, user: str, event: Event, *, once: str | None = None) -> list[Reply] | None:
        """One engine turn for ``user`` in their DM ``dm``; None when ``once`` was seen before.

        The replies end with where the conversation now is (unless they already show it), so a
        message updated in place always has the buttons that move it on.

        Typed words run on a thread of their own: the question matcher (milliseconds) runs there,
        outside the database lock, and they wait for it in work places of their own
        (:meth:`after_ack`), so a question never delays another user's click. Clicks and
        commands run in :class:`~dialogs.records.GroupCommit` batches: the turns queued while one
        commit is written share the next commit (one fsync for many clicks), each turn still
        atomic on its own and reported only once committed.
        """
        if event.kind == "text":
            return await asyncio.get_running_loop().run_in_executor(
                self._asker, functools.partial(self._turn, dm, user, event, once))
        if self._commits is None:  # not started as a server (tests that call the channel directly)
            return await self.in_worker(self._turn, dm, user, event, once)
        return await asyncio.wrap_future(self._commits.submit(self._turn, dm, user, event, once))

    async def in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` (engine and SQLite work) off the event loop, on the adapter's one worker thread.

        One thread, not ``asyncio.to_thread``'s pool: the engine's single SQLite connection
        serialises every turn anyway, and a pool of threads queued on its lock (and on the GIL)
        made each turn several times slower under load (see bench/bench_slack.py).
        """
        return await asyncio.get_running_loop().run_in_executor(self._worker, functools.partial(fn, *args))

    def _turn(self, dm: str, user: str, event: Event, once: str | None) -> list[Reply] | None:
        db = self.engine.db
        replies = self.engine.handle(CHANNEL, dm, user, event, once=once)
        if replies is None:
            return None
        if any(r.kind == "stale" for r in replies) or (replies and replies[-1].kind in PROMPTS):
            return replies
        with db_lock(db):
            now = self.engine.current(CHANNEL, dm, user)
        if now and not any(r == now[-1] for r in replies):
            replies = replies + [now[-1]]
        return replies

    async def dm_of(self, user: str) -> str:
        """The id of ``user``'s direct message with the bot (``conversations.open``, remembered)."""
        dm = self._dms.get(user)
        if dm is None:
            resp = await self.client.conversations_open(users=user)
            dm = self._dms[user] = resp["channel"]["id"]
        return dm

    async def post_digest(self, target: str, text: str, png: bytes | None = None) -> None:
        """Post the weekly digest to a channel id, or to a lead's DM (:func:`bot.slack.digest.post`)."""
        await digest.post(self.client, self.dm_of, target, text, png)

    async def unreachable(self, channel_ids: list[str]) -> dict[str, str]:
        """The digest channels the bot cannot post to, and why (:func:`bot.slack.digest.unreachable`)."""
        return await digest.unreachable(self.client, channel_ids)

    # ---- showing replies ------------------------------------------------------------------

    async def show(self, dm: str, user: str, replies: list[Reply], ts: str | None = None) -> None:
        """Update message ``ts`` in place with ``replies``, or post a new message when there is none."""
        stale = next((r for r in replies if r.kind == "stale"), None)
        if stale is not None:
            await self.client.chat_postEphemeral(channel=dm, user=user, text=stale.text,
                                                 blocks=kit.reply_blocks(stale, ""))
            return
        text, blocks = kit.message(replies, uuid.uuid4().hex[:12])
        if ts:
            await self.client.chat_update(channel=dm, ts=ts, text=text, blocks=blocks)
        else:
            ts = (await self.client.chat_postMessage(channel=dm, text=text, blocks=blocks))["ts"]
        await self._set_live(dm, ts, blocks)

    async def _set_live(self, dm: str, ts: str, blocks: list[dict[str, Any]]) -> None:
        """Remember the message with the live buttons; take them off the one before."""
        before = self._live.pop(dm, None)
        self._live[dm] = (ts, blocks)
        while len(self._live) > MAX_LIVE:
            self._live.popitem(last=False)
        if before is None or before[0] == ts:
            return
        old_ts, old_blocks = before
        kept = [b for b in old_blocks if b.get("type") != "actions"] + kit.moved_blocks()[1]
        try:
            await self.client.chat_update(channel=dm, ts=old_ts, text=kit.MOVED, blocks=kept[-kit.MAX_BLOCKS:])
        except SlackApiError as exc:  # deleted by the user, say: nothing to take away
            log.info("could not retire an older message: %s", exc.response.get("error"))

    async def open_form(self, trigger_id: str | None, reply: Reply, dm: str, ts: str | None,
                        intro: str | None = None) -> None:
        meta = json.dumps({"t": reply.token, "c": dm, "ts": ts}, separators=(",", ":"))
        if not trigger_id:
            return
        view = kit.record_modal(reply, meta, intro) if reply.form else kit.text_modal(reply, meta)
        await self.client.views_open(trigger_id=trigger_id, view=view)

    async def publish_home(self, user: str, dm: str | None = None) -> None:
        dm = dm or await self.dm_of(user)

        def work() -> tuple[list[Reply], list[Reply]]:
            return (self.engine.handle(CHANNEL, dm, user, Event("mine")),
                    self.engine.handle(CHANNEL, dm, user, Event("topics")))
        mine, topics = await self.in_worker(work)
        await self.client.views_publish(user_id=user, view=kit.home_view(mine, topics, uuid.uuid4().hex[:12]))

    # ---- listeners ------------------------------------------------------------------------

    async def on_message(self, ack: AsyncAck, body: dict[str, Any], event: dict[str, Any]) -> None:
        """Typed words in the DM: an answer, a command word or a question for the myth-busting answers."""
        await ack()
        self.after_ack(body, self._message(body, event), typed=True)

    async def _message(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id")
                or not event.get("user") or not event.get("channel")):
            return
        user, dm = event["user"], event["channel"]
        self._dms[user] = dm
        replies = await self.turn(dm, user, Event("text", event.get("text") or ""),
                                  once=f"slack:event:{body.get('event_id')}" if body.get("event_id") else None)
        if replies is not None:
            await self.show(dm, user, replies)

    async def on_mention(self, ack: AsyncAck, body: dict[str, Any], event: dict[str, Any]) -> None:
        """``@infoshare ...`` anywhere: the reply goes to the DM, the channel gets a neutral note."""
        await ack()
        self.after_ack(body, self._mention(body, event), typed=True)

    async def _mention(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        user, channel = event.get("user"), event.get("channel")
        if not user or not channel:
            return
        text = re.sub(r"<@[A-Z0-9]+(?:\|[^>]*)?>", " ", event.get("text") or "").strip()
        dm = await self.dm_of(user)
        replies = await self.turn(dm, user, Event("text", text),
                                  once=f"slack:event:{body.get('event_id')}" if body.get("event_id") else None)
        if replies is None:
            return
        if channel != dm:
            await self.client.chat_postEphemeral(channel=channel, user=user, text=PRIVATE_NOTE,
                                                 thread_ts=event.get("thread_ts"))
        await self.show(dm, user, replies)

    async def on_home_opened(self, ack: AsyncAck, body: dict[str, Any], event: dict[str, Any]) -> None:
        """The App Home tab: published afresh each time it is opened."""
        await ack()
        self.after_ack(body, self._home_opened(event))

    async def _home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user = event["user"]
        if str(event.get("channel", "")).startswith("D"):
            self._dms[user] = event["channel"]
        await self.publish_home(user)

    async def on_command(self, ack: AsyncAck, body: dict[str, Any], command: dict[str, Any], respond: AsyncRespond) -> None:
        """``/infoshare start [pack] | ask <question> | digest | help`` (anything else is a question)."""
        await ack()
        self.after_ack(body, self._command(command, respond), typed=True)

    async def _command(self, command: dict[str, Any], respond: AsyncRespond) -> None:
        user, channel = command["user_id"], command.get("channel_id")
        text = (command.get("text") or "").strip()
        sub, _, rest = text.partition(" ")
        sub, rest = sub.lower(), rest.strip()
        dm = await self.dm_of(user)
        if sub in ("", "help"):
            replies = await self.turn(dm, user, Event("help"))
            info = [r for r in replies or [] if r.kind == "info"][:1]
            blocks = [b for r in info for b in kit.reply_blocks(r, "") if b["type"] != "actions"]
            await respond(text=kit.fallback_text(info), blocks=blocks + [kit.context(USAGE)],
                          response_type="ephemeral")
            return
        if sub == "start":
            event = Event("start", rest or None)
        elif sub == "ask":
            if not rest:
                await respond(text=USAGE, response_type="ephemeral")
                return
            event = Event("text", rest)
        elif sub == "digest":
            event = Event("digest")
        else:
            event = Event("text", text)
        # A command's trigger_id is new for each use: a replayed signed request is processed once.
        trigger = command.get("trigger_id")
        replies = await self.turn(dm, user, event, once=f"slack:command:{user}:{trigger}" if trigger else None)
        if replies is None:
            return
        if channel != dm:
            await respond(text=PRIVATE_NOTE, response_type="ephemeral")
        await self.show(dm, user, replies)

    async def on_action(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button or select: its core event, once per rendered button; the message updates in place."""
        await ack()
        self.after_ack(body, self._action(body, action))

    async def _action(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        raw = action.get("value") or (action.get("selected_option") or {}).get("value")
        data = kit.parse_value(raw)
        user = (body.get("user") or {}).get("id")
        if not data or not user:
            return
        container = body.get("container") or {}
        in_message = container.get("type") == "message" and not container.get("is_ephemeral")
        # Where to write is the user's own DM, never the channel the body names: a forged channel
        # must not make the bot rewrite a message in someone else's conversation.
        dm = await self.dm_of(user)
        ts = container.get("message_ts") if in_message and (body.get("channel") or {}).get("id") == dm else None
        once = "slack:click:" + hashlib.sha256(f"{user}\0{action.get('action_id')}\0{raw}".encode()).hexdigest()[:32]
        trigger = body.get("trigger_id")
        if "a" in data:
            await self.on_adapter_action(data, dm, user, ts, trigger, once)
            return
        replies = await self.turn(dm, user, kit.event_of(data), once=once)
        if replies is None:
            return
        form = next((r for r in replies if r.kind in ("record_form", "record_field") and r.form), None)
        if form is not None:
            intro = next((r.text for r in replies if r.kind == "record_form"), None)
            await self.open_form(trigger, form, dm, ts, intro)
        await self.show(dm, user, replies, ts)
        if container.get("type") == "view":
            await self.publish_home(user, dm)

    async def on_adapter_action(self, data: dict[str, Any], dm: str, user: str, ts: str | None,
                                trigger: str | None, once: str) -> None:
        """Open the record form again, or the box for a typed answer, if the step is still current."""
        def work() -> tuple[list[Reply] | None, list[Reply]]:
            probe = self._turn(dm, user, Event("where", token=data.get("t")), once)
            if probe is None or any(r.kind == "stale" for r in probe):
                return probe, []
            with db_lock(self.engine.db):
                return probe, self.engine.current(CHANNEL, dm, user)
        probe, now = await self.in_worker(work)
        if probe is None:
            return
        if any(r.kind == "stale" for r in probe):
            await self.show(dm, user, probe)
            return
        reply = next((r for r in now if r.kind == "record_field" and r.token == data.get("t")), None)
        if reply is not None:
            await self.open_form(trigger, reply, dm, ts)

    def _meta(self, view: dict[str, Any]) -> dict[str, Any] | None:
        try:
            meta = json.loads(view.get("private_metadata") or "")
        except ValueError:
            return None
        return meta if isinstance(meta, dict) and isinstance(meta.get("c"), str) else None

    async def on_form_change(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """An answer chosen in the record modal that another field depends on ("No, not told"):
        the modal is redrawn with that field shown, or taken away again. Nothing goes to the
        engine and nothing is stored; the submit is checked by the engine as ever."""
        await ack()
        view = body.get("view") if isinstance(body.get("view"), dict) else {}
        meta, user = self._meta(view), _user_of(body)
        if view.get("callback_id") != kit.RECORD_VIEW or meta is None or not user or not transport.is_id(view.get("id")):
            return
        self.after_ack(body, self._form_change(view, meta, user))

    async def _form_change(self, view: dict[str, Any], meta: dict[str, Any], user: str) -> None:
        now = await self.in_worker(self._current_locked, meta["c"], user)
        reply = next((r for r in now if r.kind == "record_field" and r.form and r.token == meta.get("t")), None)
        if reply is None:  # the form belongs to an earlier step: its submit will say so
            return
        values = kit.form_values((view.get("state") or {}).get("values") or {})
        new = kit.redraw_modal(view, reply, values)
        if new is not None:
            try:
                await self.client.views_update(view_id=view.get("id"), hash=view.get("hash"), view=new)
            except SlackApiError as exc:  # closed meanwhile, or changed again (hash): the next change redraws it
                log.info("could not redraw the record form: %s", exc.response.get("error"))

    async def _modal_turn(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                          event: Callable[[dict[str, Any], str | None], Event]) -> tuple[dict, str, list[Reply]] | None:
        """A modal's turn, ``event(values, token)``: (meta, user, replies); None if out of date or stale (acked)."""
        meta, user = self._meta(view), (body.get("user") or {}).get("id")
        if meta is None or not user:
            await ack(response_action="update", view=kit.notice_view("This form is out of date. Nothing was changed."))
            return None
        values = kit.form_values((view.get("state") or {}).get("values") or {})
        replies = await self.turn(meta["c"], user, event(values, meta.get("t"))) or []
        stale = next((r for r in replies if r.kind == "stale"), None)
        if stale is not None:
            await ack(response_action="update", view=kit.notice_view(stale.text))
            return None
        return meta, user, replies

    async def on_record_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """The record modal: errors go back onto the fields; the summary replaces the DM message."""
        turn = await self._modal_turn(ack, body, view,
                                      lambda values, token: Event("record_submit", token=token, values=values))
        if turn is None:
            return
        meta, user, replies = turn
        errors = next((r for r in replies if r.kind == "form_errors"), None)
        if errors is not None:
            await ack(response_action="errors", errors=kit.view_errors(errors.errors or {}, view.get("blocks") or []))
            return
        await ack()
        self.after_ack(body, self.show(meta["c"], user, replies, meta.get("ts")))

    async def on_text_submit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        """A typed answer from its modal (the reason for leaving without recording)."""
        turn = await self._modal_turn(ack, body, view, lambda values, token: Event(
            "text", next((v for v in values.values() if isinstance(v, str)), ""), token=token))
        if turn is None:
            return
        meta, user, replies = turn
        await ack()
        self.after_ack(body, self.show(meta["c"], user, replies, meta.get("ts")))

    def after_ack(self, body: dict[str, Any], work: Coroutine[Any, Any, None], typed: bool = False) -> None:
        """Run ``work`` after the acknowledgement, in a task of its own; its faults end in :meth:`on_error`.

        The app runs with Bolt's ``process_before_response``, so Bolt answers Slack as soon as a
        listener returns, right after its ``ack()`` (otherwise Bolt polls every 10 ms for the ack,
        and would hand a later fault to the error handler, which would drop the acknowledgement
        and answer Slack 404 three seconds later). At most ``WORK_SLOTS`` pieces run at once, so
        that under load new requests are still acknowledged at once and the work queues instead;
        ``typed`` words (which may wait for the matcher) in places of their own, apart from clicks.
        """
        task = asyncio.ensure_future(self._after_ack(body, work, self._typed_slots if typed else self._slots))
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _after_ack(self, body: dict[str, Any], work: Coroutine[Any, Any, None], slots: asyncio.Semaphore) -> None:
        try:
            async with slots:
                await work
        except Exception as exc:  # noqa: BLE001 - every fault ends in the one error handler
            await self.on_error(exc, body, None)
        finally:
            work.close()  # (not started if the task was cancelled while it waited for a slot)

    async def on_error(self, error: Exception, body: dict[str, Any], response: BoltResponse | None) -> BoltResponse | None:
        """The one place errors end: log the type, apologise, show where the conversation is.
        It never raises itself, whatever the body holds."""
        body = body if isinstance(body, dict) else {}
        kind = body.get("type") if isinstance(body.get("type"), str) else (
            "slash_command" if body.get("command") else "request")
        log.error("Slack %s failed: %s", kind, type(error).__name__, exc_info=error)
        try:
            user = _user_of(body)
        except Exception:  # noqa: BLE001 - a body of the wrong shape has no user to apologise to
            user = None
        if user:
            task = asyncio.ensure_future(self._apologise(user))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if response is not None:
            return BoltResponse(status=200, body="")
        return None

    async def _apologise(self, user: str) -> None:
        try:
            dm = await self.dm_of(user)
            try:
                with_now = await self.in_worker(self._current_locked, dm, user)
            except Exception:  # the store itself failed: apologise anyway
                with_now = []
            await self.show(dm, user, [Reply("error", APOLOGY)] + with_now[-1:])
        except Exception as exc:  # Slack unreachable too: nothing more to do than say so in the log
            log.error("could not apologise to a Slack user: %s", type(exc).__name__)

    def _current_locked(self, dm: str, user: str) -> list[Reply]:
        with db_lock(self.engine.db):
            return self.engine.current(CHANNEL, dm, user)


def from_env(engine: Engine, config: Config, socket_mode: bool = False) -> SlackChannel | str:
    """The Slack channel from Bolt's usual environment variables, or why it stays off.

    ``SLACK_BOT_TOKEN`` always; ``SLACK_SIGNING_SECRET`` over HTTP; ``SLACK_APP_TOKEN`` with
    Socket Mode; ``INFOSHARE_SLACK_API_URL`` replaces the Web API base URL (tests, proxies).
    """
    token = os.environ.get("SLACK_BOT_TOKEN")
    secret = os.environ.get("SLACK_SIGNING_SECRET")
    app_token = os.environ.get("SLACK_APP_TOKEN")
    api_url = os.environ.get("INFOSHARE_SLACK_API_URL")
    if not token:
        return f"SLACK_BOT_TOKEN is not set: {SETUP}"
    if socket_mode and not app_token:
        return f"--slack-socket-mode needs SLACK_APP_TOKEN, an app-level token (xapp-...): {SETUP}"
    if not socket_mode and not secret:
        return f"SLACK_SIGNING_SECRET is not set (or use --slack-socket-mode with SLACK_APP_TOKEN): {SETUP}"
    return SlackChannel(engine, token=token, signing_secret=secret, app_token=app_token if socket_mode else None,
                        api_url=api_url)
