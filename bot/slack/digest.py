"""The weekly digest on Slack: posting it, and checking beforehand where it cannot go.

:class:`~bot.slack.app.SlackChannel` posts through these (``post_digest``, ``unreachable``);
the schedule and ``infoshare digest --post`` are in :mod:`bot.jobs.digest_post`.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


class DigestNotPosted(Exception):
    """Slack refused the digest; the message says why and how to fix it."""


INVITE = "invite infoshare to it (type /invite @infoshare in the channel)"
PUBLIC_SCOPE = ("or, for a public channel, add the chat:write.public scope to the app and reinstall it "
                "(manifest/slack/README.md)")


def digest_problem(error: str) -> str:
    """Why the digest cannot go to a channel, from Slack's error code, and how to fix it."""
    known = {
        "not_in_channel": f"the bot is not in the channel: {INVITE}, {PUBLIC_SCOPE}",
        "channel_not_found": ("no such channel, or a private channel the bot is not in: check the id in "
                              f"[digest] slack_channels, and {INVITE}"),
        "is_archived": "the channel is archived: unarchive it, or name another in [digest] slack_channels",
        "missing_scope": "the app lacks a scope this needs: reinstall it from manifest/slack/manifest.yaml",
        "user_not_found": "Slack does not know this lead: check their member ID in [leads] slack",
        "restricted_action": "the workspace lets only some members post there: ask a Slack admin",
    }
    return known.get(error, f"Slack refused it ({error})")


async def post(client: AsyncWebClient, dm_of: Callable[[str], Awaitable[str]], target: str, text: str,
               png: bytes | None = None) -> None:
    """Post the weekly digest to a channel id, or to a lead's DM when ``target`` is a user id.

    The digest is Markdown (a ``markdown`` block, with the same text as the fallback); the
    outcomes-per-day chart follows as an image file when there is one. Raises
    :class:`DigestNotPosted`, saying why and how to fix it, when Slack refuses the post.
    """
    try:
        channel = await dm_of(target) if target[:1] in ("U", "W") else target
        await client.chat_postMessage(channel=channel, text=text[:3000],
                                      blocks=[{"type": "markdown", "text": text[:12000]}])
    except SlackApiError as exc:
        raise DigestNotPosted(digest_problem(str(exc.response.get("error") or "unknown_error"))) from None
    if png:
        await client.files_upload_v2(channel=channel, content=png, filename="decisions-per-day.png",
                                     title="Decisions per day, by outcome")


async def unreachable(client: AsyncWebClient, channel_ids: list[str]) -> dict[str, str]:
    """The digest channels the bot cannot post to, each with why and how to fix it.

    ``conversations.info`` says whether the bot is a member; a public channel it is not in can
    still be posted to when the app has ``chat:write.public`` (the token's scopes come back in
    every Web API response's ``x-oauth-scopes`` header). Nothing is posted.

    Example:
        >>> await unreachable(client, ["C0123ABCD"])  # doctest: +SKIP
        {'C0123ABCD': 'the bot is not in the channel: invite it ...'}
    """
    if not channel_ids:
        return {}
    try:
        auth = await client.auth_test()
    except SlackApiError as exc:
        why = digest_problem(str(exc.response.get("error") or "unknown_error"))
        return {c: f"cannot be checked: {why}" for c in channel_ids}
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
        return {c: "cannot be checked: Slack did not answer" for c in channel_ids}
    granted = {s.strip() for s in str((auth.headers or {}).get("x-oauth-scopes") or "").split(",")}
    out: dict[str, str] = {}
    for channel in channel_ids:
        try:
            info = (await client.conversations_info(channel=channel))["channel"] or {}
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            out[channel] = (digest_problem(error) if error != "missing_scope" else
                            "cannot be checked: the app lacks channels:read or groups:read; add them and "
                            "reinstall it (manifest/slack/README.md)")
            continue
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            out[channel] = "cannot be checked: Slack did not answer"
            continue
        if info.get("is_archived"):
            out[channel] = digest_problem("is_archived")
        elif not info.get("is_member") and (info.get("is_private") or "chat:write.public" not in granted):
            out[channel] = digest_problem("not_in_channel")
    return out
