"""Microsoft Teams through botbuilder: ``POST /api/messages`` on a ``CloudAdapter``, replies as cards.

Every botbuilder (and botframework) import of the project lives in this one module:
botbuilder-python is archived, and a move to the Microsoft 365 Agents SDK should touch only this
file. The cards and the conversion of clicks and typed words to core events are plain JSON in
:mod:`bot.teams.cards`; what one request goes through is in :mod:`bot.teams`.

We call ``CloudAdapter.process_activity`` rather than ``CloudAdapter.process`` because the latter
answers a malformed body, a missing Content-Type or an undecodable token with a 500; its three
steps (parse, authenticate, run) are done here with 4xx answers instead.

Example (the server does this; see ``infoshare serve``)::

    channel = from_env(engine, config, dev=False, host="0.0.0.0")
    if isinstance(channel, str):
        print("Teams not enabled:", channel)
    else:
        app.router.add_post("/api/messages", channel.handle)
        await channel.send_proactive("00000000-0000-0000-0000-00000000000a", "**Weekly digest** ...")
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
import traceback
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from concurrent.futures import ThreadPoolExecutor

import aiohttp
from aiohttp import web
from botbuilder.core import CardFactory, InvokeResponse, MessageFactory, TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount, ConversationParameters, ConversationReference
from botframework.connector.auth import AuthenticationConstants
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdConfig
from jwt.algorithms import RSAAlgorithm

from bot.config import MAX_BODY, Config, is_loopback
from bot.teams import cards
from bot.teams.settings import CHANNEL, TeamsSettings
from dialogs import records
from dialogs.engine import Engine
from dialogs.events import Event
from dialogs.records import db_lock, seen_event, was_seen

SHARED_TYPES = ("channel", "groupChat")
_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)

log = logging.getLogger("infoshare.teams")


TOKEN_CHECK_TIMEOUT = 10.0
"""Seconds a Bot Framework token check may take before the request gets 503."""
_TOKEN_CHECKS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="infoshare-token-check")

KEY_REFRESH_SECONDS = 6 * 3600.0
"""How often the token signing keys are fetched again once they are loaded."""
KEY_RETRY_SECONDS = 60.0
"""How soon a failed fetch of the signing keys is tried again."""
KEY_FETCH_TIMEOUT = 10.0
"""Seconds one fetch of a key document may take."""
KEY_MAX_AGE = 24 * 3600.0
"""Keys older than this (botbuilder's own limit: a day) are not used: requests get 503 until a
fetch succeeds."""
KEY_SOURCES = {url: url for url in (AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL,
                                    AuthenticationConstants.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL)}
"""The OpenID metadata documents botbuilder takes signing keys from (Teams' tokens; the
Emulator's and skills'), each with where to fetch it (the same address, except in tests)."""
_MAX_KEY_DOCUMENT = 1024 * 1024


class KeysUnavailable(OSError):
    """The token signing keys have not been fetched yet, or not for a day: the request gets 503."""


class UnknownSigningKey(Exception):
    """The token names a signing key that the published keys do not hold: the request gets 401."""


class _KeptKeys:
    """One metadata document's signing keys, in botbuilder's key cache in place of its own
    ``_OpenIdMetadata``: ``get`` answers from memory and never fetches (botbuilder's fetches with
    a blocking ``requests.get`` without a timeout, on the request that finds the keys old)."""

    def __init__(self) -> None:
        self.keys: dict[str, _OpenIdConfig] = {}
        self.loaded_at: float | None = None

    def fresh(self) -> bool:
        return self.loaded_at is not None and time.monotonic() - self.loaded_at <= KEY_MAX_AGE

    async def get(self, key_id: str) -> _OpenIdConfig:
        if not self.fresh():
            raise KeysUnavailable("the Bot Framework token signing keys are not available")
        key = self.keys.get(key_id)
        if key is None:
            raise UnknownSigningKey()
        return key


async def _fetch_json(http: aiohttp.ClientSession, url: str) -> Any:
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("not an http(s) address")
    async with http.get(url) as resp:
        resp.raise_for_status()
        data = await resp.content.read(_MAX_KEY_DOCUMENT + 1)
    if len(data) > _MAX_KEY_DOCUMENT:
        raise ValueError("key document too large")
    return json.loads(data)


def _parse_keys(jwks: Any) -> dict[str, _OpenIdConfig]:
    """The usable RSA keys of a JWKS document, by key id (a key that does not parse is left out)."""
    keys = {}
    for jwk in jwks["keys"]:
        if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str):
            try:
                keys[jwk["kid"]] = _OpenIdConfig(RSAAlgorithm.from_jwk(json.dumps(jwk)), jwk.get("endorsements") or [])
            except Exception:  # noqa: BLE001 - another key type, or a garbled one
                continue
    if not keys:
        raise ValueError("no usable signing keys")
    return keys


class SigningKeys:
    """Keeps the Bot Framework token signing keys fresh in the background, off every request.

    At start and then every :data:`KEY_REFRESH_SECONDS` (every :data:`KEY_RETRY_SECONDS` after a
    failure) each document in :data:`KEY_SOURCES` and the key set it names are fetched on the
    event loop with aiohttp, each fetch bounded by :data:`KEY_FETCH_TIMEOUT`: no thread waits on
    Microsoft's endpoint, and a request's token check only reads memory. While the keys are
    missing (the endpoint is down at start, or has been for a day) token checks fail at once
    with :class:`KeysUnavailable`, which the channel answers with 503.

    Example (the channel does this at server start and stop)::

        keys = SigningKeys()
        await keys.start()   # botbuilder's key cache now reads from ``keys``
        ...
        await keys.stop()
    """

    def __init__(self, sources: dict[str, str] | None = None) -> None:
        self.sources = dict(KEY_SOURCES if sources is None else sources)
        self.kept = {url: _KeptKeys() for url in self.sources}
        self._replaced: dict[str, Any] = {}
        self._task: asyncio.Task | None = None

    @property
    def ready(self) -> bool:
        return all(k.fresh() for k in self.kept.values())

    async def start(self) -> None:
        for url, kept in self.kept.items():  # botbuilder looks keys up by document address
            self._replaced[url] = JwtTokenExtractor.metadataCache.get(url)
            JwtTokenExtractor.metadataCache[url] = kept
        self._task = asyncio.ensure_future(self._keep_fresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for url, before in self._replaced.items():
            if JwtTokenExtractor.metadataCache.get(url) is self.kept[url]:
                if before is None:
                    JwtTokenExtractor.metadataCache.pop(url, None)
                else:
                    JwtTokenExtractor.metadataCache[url] = before
        self._replaced.clear()

    async def _keep_fresh(self) -> None:
        timeout = aiohttp.ClientTimeout(total=KEY_FETCH_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as http:
            while True:
                ok = await self.refresh(http)
                await asyncio.sleep(KEY_REFRESH_SECONDS if ok else KEY_RETRY_SECONDS)

    async def refresh(self, http: aiohttp.ClientSession) -> bool:
        """Fetch every document's keys once; True if all were fetched."""
        done = await asyncio.gather(*(self._refresh_one(http, url) for url in self.sources))
        return all(done)

    async def _refresh_one(self, http: aiohttp.ClientSession, url: str) -> bool:
        kept = self.kept[url]
        try:
            metadata = await _fetch_json(http, self.sources[url])
            keys = _parse_keys(await _fetch_json(http, metadata["jwks_uri"]))
        except Exception as exc:  # noqa: BLE001 - a timeout, a refused connection, a bad document
            log.warning("Bot Framework signing keys not fetched from %s (%s)%s", urlsplit(url).hostname,
                        type(exc).__name__, "" if kept.fresh() else ": Teams requests get 503 until they are")
            return False
        kept.keys, kept.loaded_at = keys, time.monotonic()
        log.info("Bot Framework signing keys fetched from %s: %d keys", urlsplit(url).hostname, len(keys))
        return True


async def _check_token(auth: ConfigurationBotFrameworkAuthentication, activity: Activity, header: str) -> Any:
    """botbuilder's token check, off the event loop and bounded in time.

    The signing keys come from memory (:class:`SigningKeys`), so the check does no network I/O.
    It still runs in a worker thread with a loop of its own and a time limit, as a second guard:
    if botbuilder ever blocks again, the request fails closed (503) after
    :data:`TOKEN_CHECK_TIMEOUT` and the event loop never waits. At most two checks run at once,
    so nothing can use up the machine's threads."""
    loop = asyncio.get_running_loop()
    job = loop.run_in_executor(_TOKEN_CHECKS, lambda: asyncio.run(auth.authenticate_request(activity, header)))
    return await asyncio.wait_for(job, TOKEN_CHECK_TIMEOUT)


def _delivery_key(activity: Activity) -> str | None:
    """What makes an activity the same delivery: its conversation and id."""
    if activity.id and activity.conversation and activity.conversation.id:
        return f"{CHANNEL}:{activity.conversation.id}:{activity.id}"
    return None


def from_env(engine: Engine, config: Config, *, dev: bool = False, host: str = "127.0.0.1") -> "TeamsChannel | str":
    """The Teams channel configured from the environment, or a sentence saying why it stays off.

    Authentication is never off by accident: without ``MicrosoftAppId`` the channel runs only
    with ``dev=True`` (``infoshare serve --dev``), and ``dev`` only on a loopback ``host``.
    """
    settings = TeamsSettings.from_environ()
    if dev and not is_loopback(host):
        return f"--dev turns Teams authentication off, so it is refused on the non-loopback address {host!r}"
    if not settings.APP_ID:
        if not dev:
            return ("MicrosoftAppId is not set: set MicrosoftAppId and MicrosoftAppPassword (see "
                    "manifest/teams/README.md), or use `infoshare serve --dev` on 127.0.0.1 for the Emulator and tests")
        log.warning("Teams authentication is OFF (--dev, no MicrosoftAppId): loopback only")
    else:
        problem = settings.problem()
        if problem:
            return problem
    # msrest logs request bodies at DEBUG: keep message text out of the log whatever the root level.
    logging.getLogger("msrest").setLevel(logging.WARNING)
    return TeamsChannel(engine, settings, dev=dev)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _shape_problem(body: dict[str, Any], dev: bool) -> str | None:
    """What an activity lacks for the bot to answer it (checked before authentication)."""
    conversation = body.get("conversation")
    if not isinstance(conversation, dict) or not isinstance(conversation.get("id"), str) or not conversation["id"]:
        return "activity has no conversation id"
    service_url = body.get("serviceUrl")
    parts = urlsplit(service_url) if isinstance(service_url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return "activity has no usable serviceUrl"
    if dev and not is_loopback(parts.hostname):
        return "without MicrosoftAppId (--dev) replies go only to a loopback serviceUrl"
    for key in ("from", "recipient"):
        if key in body and not isinstance(body[key], dict):
            return f"activity {key} is not an object"
    if body["type"] == ActivityTypes.message and not isinstance((body.get("from") or {}).get("id"), str):
        return "message has no sender id"
    return None


def _conversation_key(conversation_id: str) -> str:
    """A channel thread ``19:...@thread.tacv2;messageid=1`` -> the channel ``19:...@thread.tacv2``."""
    return conversation_id.split(";", 1)[0]


def _user_id(activity: Activity) -> str:
    """The AAD object id when Teams gives it (``[leads] teams`` lists those), else the Teams user id."""
    user = activity.from_property
    return (user.aad_object_id or user.id) if user else ""


def _is_shared(activity: Activity) -> bool:
    conv = activity.conversation
    return bool(conv and (conv.conversation_type in SHARED_TYPES or conv.is_group))


def _tenant(activity: Activity) -> str | None:
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = data.get("tenant") if isinstance(data.get("tenant"), dict) else {}
    return (activity.conversation.tenant_id if activity.conversation else None) or tenant.get("id")


def _typed(activity: Activity) -> str:
    """The message text without @mentions (anyone's) and HTML entities."""
    return html.unescape(_MENTION.sub(" ", activity.text or "")).strip()


def _message(out: cards.Outgoing) -> Activity:
    if out.card is not None:
        return MessageFactory.attachment(CardFactory.adaptive_card(out.card))
    activity = MessageFactory.text(out.text or "")
    activity.text_format = "markdown"
    return activity


class _Bot(TeamsActivityHandler):
    """botbuilder's activity routing; every decision is the channel's (and the engine's)."""

    def __init__(self, channel: "TeamsChannel") -> None:
        self.channel = channel

    async def on_turn(self, turn_context: TurnContext) -> None:
        if await self.channel.first_delivery(turn_context.activity):
            await super().on_turn(turn_context)
            await self.channel.delivered(turn_context.activity)  # only once the turn is done

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self.channel.on_message(turn_context)

    async def on_teams_members_added_dispatch(self, members_added: list[ChannelAccount], team_info: Any,
                                              turn_context: TurnContext) -> None:
        await self.channel.on_members_added(members_added, turn_context)

    async def on_members_added_activity(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:  # Emulator
        await self.channel.on_members_added(members_added, turn_context)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        # The app declares no invoke features (task modules, message extensions, Action.Execute).
        return InvokeResponse(status=400, body={"error": "infoshare does not handle invoke activities"})


class TeamsChannel:
    """The Teams adapter: one per process, sharing the engine with the other channels.

    Args:
        engine: the conversation engine (:class:`dialogs.engine.Engine`).
        settings: the Bot Framework settings (:meth:`TeamsSettings.from_environ`).
        dev: authentication is off (no app id); replies only to loopback service URLs.
    """

    def __init__(self, engine: Engine, settings: TeamsSettings, *, dev: bool = False) -> None:
        self.engine, self.settings = engine, settings
        self.dev = dev and not settings.APP_ID
        self.db = engine.db
        records.ensure_references(self.db)
        self.adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(settings))
        self.adapter.on_turn_error = self.on_turn_error
        self.bot = _Bot(self)
        self.keys: SigningKeys | None = None

    async def on_startup(self, app: web.Application) -> None:
        """With authentication on, start keeping the token signing keys fresh."""
        if not self.dev:
            self.keys = SigningKeys()
            await self.keys.start()

    async def on_cleanup(self, app: web.Application) -> None:
        if self.keys is not None:
            await self.keys.stop()
            self.keys = None

    # ---- HTTP ---------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /api/messages``: check, authenticate, run one turn."""
        if request.content_type != "application/json":
            return _error(415, "expected Content-Type: application/json")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, "request body too large")
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "request body too large")
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str) or not body["type"]:
            return _error(400, "request body is not an activity with a type")
        problem = _shape_problem(body, self.dev)
        if problem:
            return _error(400, problem)
        try:
            activity = Activity().deserialize(body)
        except Exception:  # msrest raises several kinds for values of the wrong type
            return _error(400, "activity does not match the Bot Framework schema")
        auth = self.adapter.bot_framework_authentication
        try:
            result = await _check_token(auth, activity, request.headers.get("Authorization", ""))
        except asyncio.TimeoutError:  # Microsoft's key endpoint did not answer in time: fail closed
            log.warning("token check timed out after %.0f s", TOKEN_CHECK_TIMEOUT)
            return _error(503, "could not check the Bot Framework token now")
        except PermissionError as exc:  # (an OSError, so first) no token, or not one for this bot
            log.warning("refused an activity: %s", type(exc).__name__)
            return _error(401, "missing or invalid Bot Framework token")
        except OSError as exc:  # (KeysUnavailable) the signing keys could not be fetched: try again later
            log.warning("token check could not run: %s", type(exc).__name__)
            return _error(503, "could not check the Bot Framework token now")
        except Exception as exc:  # jwt and key errors for forged or garbled tokens
            log.warning("refused an activity: %s", type(exc).__name__)
            return _error(401, "missing or invalid Bot Framework token")
        try:
            invoke = await self.adapter.process_activity(result, activity, self.bot.on_turn)
        except Exception as exc:  # outside the turn (on_turn_error covers the turn): type only, no text
            log.error("Teams activity failed outside the turn: %s", type(exc).__name__)
            return _error(500, "internal error")
        if invoke is not None:
            return web.json_response(invoke.body, status=invoke.status)
        return web.Response(status=201)

    # ---- storage (the engine and SQLite are synchronous: run them off the event loop) ---------

    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    def _was_seen_sync(self, key: str) -> bool:
        with db_lock(self.db):
            return was_seen(self.db, key)

    def _seen_sync(self, key: str) -> bool:
        with db_lock(self.db):
            return seen_event(self.db, key)

    async def delivered(self, activity: Activity) -> None:
        """Mark an activity processed once its turn is done (a message's turn already did, in
        the same transaction as its state; this covers the others). A turn that failed is not
        marked, so its redelivery is processed."""
        key = _delivery_key(activity)
        if key is not None:
            await self._db(self._seen_sync, key)

    def _current_sync(self, conversation_id: str, user_id: str) -> list:
        with db_lock(self.db):
            return self.engine.current(CHANNEL, conversation_id, user_id)

    async def first_delivery(self, activity: Activity) -> bool:
        """Remember the activity (and where to reach its conversation); False if it came before."""
        key = _delivery_key(activity)
        if key is not None and await self._db(self._was_seen_sync, key):
            log.info("redelivered %s activity ignored", activity.type)
            return False
        if activity.type in (ActivityTypes.message, ActivityTypes.conversation_update) and activity.conversation:
            await self._remember(activity)
        return True

    async def _remember(self, activity: Activity, conversation_id: str | None = None) -> None:
        """Save a conversation reference: ids, service URL and tenant, no names (for digests)."""
        conv = activity.conversation
        conv_id = conversation_id or _conversation_key(conv.id)
        personal = conversation_id is not None or not _is_shared(activity)
        user = activity.from_property if personal else None
        bot = activity.recipient
        reference = {
            "channelId": activity.channel_id, "serviceUrl": activity.service_url, "locale": activity.locale,
            "bot": {"id": bot.id, "name": bot.name} if bot else None,
            "conversation": {"id": conv_id, "tenantId": _tenant(activity),
                             "conversationType": "personal" if personal else conv.conversation_type,
                             "isGroup": not personal},
        }
        keys = [conv_id]
        if user is not None and user.id:
            reference["user"] = {"id": user.id, "aadObjectId": user.aad_object_id}
            keys += [user.id, user.aad_object_id or ""]
        await self._db(records.save_reference, self.db, CHANNEL, keys, reference)

    # ---- turns --------------------------------------------------------------------------------

    def _event(self, activity: Activity) -> Event:
        if activity.value is not None:
            return cards.event_from_submit(activity.value) or Event("text", "")
        return cards.event_from_text(_typed(activity))

    async def on_message(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        event = self._event(activity)
        if _is_shared(activity):
            await self._move_to_personal(turn_context, event)
            return
        clicked = activity.reply_to_id if activity.value is not None else None
        await self._turn(turn_context, activity.conversation.id, _user_id(activity), event,
                         clicked=clicked, submitted=activity.value)

    async def _turn(self, turn_context: TurnContext, conversation_id: str, user_id: str, event: Event, *,
                    clicked: str | None = None, submitted: Any = None) -> None:
        """One engine turn in a personal conversation, its replies sent (the live card updated in place)."""
        replies = await self._db(self.engine.handle, CHANNEL, conversation_id, user_id, event,
                                 _delivery_key(turn_context.activity))
        if replies is None:  # another server (or a retry) processed this activity already
            return
        current = None
        if any(r.kind == "form_errors" for r in replies):  # the form to draw the errors on
            current = await self._db(self._current_sync, conversation_id, user_id)
        values = {k[len(cards.INPUT_PREFIX):]: v for k, v in submitted.items()
                  if isinstance(k, str) and k.startswith(cards.INPUT_PREFIX)} if isinstance(submitted, dict) else None
        outgoing = cards.render_turn(replies, current=current, submitted=values)
        await self._send(turn_context, f"{conversation_id}:{user_id}", outgoing, clicked)

    async def _send(self, turn_context: TurnContext, card_key: str, outgoing: list[cards.Outgoing],
                    clicked: str | None) -> None:
        live = await self._db(records.get_card, self.db, CHANNEL, card_key)
        for out in outgoing:
            message = _message(out)
            if out.live and clicked and live and clicked == live[0]:
                message.id = live[0]
                try:
                    await turn_context.update_activity(message)
                    continue
                except Exception as exc:  # deleted or too old to edit: post it as a new card instead
                    log.warning("card update failed (%s); sending a new card", type(exc).__name__)
                    message.id = None
            sent = await turn_context.send_activity(message)
            if out.live and sent is not None and sent.id:
                await self._db(records.save_card, self.db, CHANNEL, card_key, sent.id, out.kind)
        if any(o.kind == "recorded" for o in outgoing) and not any(o.live for o in outgoing):
            await self._db(records.forget_card, self.db, CHANNEL, card_key)

    async def _move_to_personal(self, turn_context: TurnContext, event: Event) -> None:
        """A mention in a team or group chat: continue in the user's 1:1 chat, leave a neutral note."""
        activity = turn_context.activity
        user, tenant = activity.from_property, _tenant(activity)
        opened = False
        if user is not None and user.id and tenant:
            params = ConversationParameters(
                is_group=False, bot=activity.recipient, tenant_id=tenant, channel_data={"tenant": {"id": tenant}},
                members=[ChannelAccount(id=user.id, aad_object_id=user.aad_object_id)])

            async def in_private(private: TurnContext) -> None:
                nonlocal opened
                opened = True
                conv_id = private.activity.conversation.id
                await self._remember(activity, conversation_id=conv_id)
                await self._turn(private, conv_id, _user_id(activity), event)

            try:
                await turn_context.adapter.create_conversation(
                    self.settings.APP_ID, in_private, params, activity.channel_id, activity.service_url, None)
            except Exception as exc:
                if opened:  # the private turn itself failed: on_turn_error apologises
                    raise
                log.warning("could not open a personal chat: %s", type(exc).__name__)
        await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(
            cards.moved_card(self.settings.APP_ID, moved=opened))))

    async def on_members_added(self, members_added: list[ChannelAccount], turn_context: TurnContext) -> None:
        """The welcome when the app is installed (the bot is among the members added)."""
        activity = turn_context.activity
        bot_id = activity.recipient.id if activity.recipient else None
        if not any(m.id == bot_id for m in members_added or []):
            return
        card = cards.welcome_card(shared=_is_shared(activity), app_id=self.settings.APP_ID)
        await turn_context.send_activity(MessageFactory.attachment(CardFactory.adaptive_card(card)))

    async def on_turn_error(self, turn_context: TurnContext, error: Exception) -> None:
        """The one place faults land: log the fault (never the text), apologise, keep going."""
        activity = turn_context.activity
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                           for f in reversed(traceback.extract_tb(error.__traceback__)))
        log.error("Teams turn failed: %s in a %s activity at %s", type(error).__name__,
                  getattr(activity, "type", "?"), where)
        if getattr(activity, "name", None) == "ContinueConversation":  # proactive: the caller hears of it
            raise error
        try:
            await turn_context.send_activity(MessageFactory.text(cards.APOLOGY_TEXT))
        except Exception as exc:
            log.error("could not send the apology either: %s", type(exc).__name__)

    # ---- proactive ----------------------------------------------------------------------------

    async def send_proactive(self, reference_key: str, text: str | None = None, *,
                             card: dict[str, Any] | None = None) -> str | None:
        """Post an Adaptive Card (the digest, :func:`bot.teams.cards.digest_card`) or markdown
        ``text`` where ``reference_key`` points; the new message id.

        ``reference_key`` is a conversation id (a channel ``19:...@thread.tacv2`` or a personal
        chat ``a:...``), or a user's AAD object id or Teams id, for their 1:1 chat with the bot.
        A conversation is known once someone has talked to the bot there (or it was installed
        there). Raises :class:`dialogs.records.UnknownReference` otherwise.
        """
        doc = await self._db(records.get_reference, self.db, CHANNEL, reference_key)
        reference = ConversationReference().deserialize(doc)
        sent: dict[str, str | None] = {}

        async def post(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(_message(cards.Outgoing(card=card, text=text)))
            sent["id"] = response.id if response is not None else None

        await self.adapter.continue_conversation(reference, post, bot_app_id=self.settings.APP_ID)
        return sent.get("id")
