"""The weekly digest, posted by ``infoshare serve`` on the configured schedule.

``[digest] schedule`` (default ``MON 09:00``, Europe/London) says when; ``slack_channels`` and
``teams_conversations`` say where, and ``lead_dms`` (default true) also sends it to each lead
named under ``[leads]``. Each channel adapter posts through its own API: Slack with
``SlackChannel.post_digest`` (text and the outcomes chart), Teams with ``send_proactive`` (one
Adaptive Card with the chart in it, since Teams renders no Markdown headings or tables).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.config import Config
from bot.jobs.background import BackgroundTask
from dialogs.engine import Engine
from dialogs.records import claim_slot, db_lock

log = logging.getLogger("infoshare.digest")


def _build(engine: Engine) -> tuple[str, bytes, dict]:
    """The digest (Markdown, the chart, the data): counted under the database lock, its chain
    verified outside it."""
    from dialogs.records import build_digest, outcomes_chart_png, render_markdown, verify_apart
    db = engine.db
    with db_lock(db):
        d = build_digest(db, verify=False, stale_after_days=engine.digest_stale_after_days)
    verify_apart(db, d)
    return render_markdown(d), outcomes_chart_png(d), d


def targets(config: Config, channel: str) -> list[str]:
    """Where ``channel``'s copy goes: the configured conversations, then the leads' own chats."""
    where = list(config.digest_slack_channels if channel == "slack" else config.digest_teams_conversations)
    if config.digest_lead_dms:
        where += [u for u in config.leads.get(channel, []) if u not in where]
    return where


def _where(config: Config, channel: str, target: str) -> str:
    """A target as the log and the command line name it: a configured channel or conversation by its
    id, a lead's own chat by its place in ``[leads]`` (never a person's id)."""
    configured = config.digest_slack_channels if channel == "slack" else config.digest_teams_conversations
    if target in configured:
        return f"{'Slack channel' if channel == 'slack' else 'Teams conversation'} {target}"
    leads = list(config.leads.get(channel, []))
    n = leads.index(target) + 1 if target in leads else 0
    return f"the {channel.title()} chat of lead {n} of {len(leads)} in [leads] {channel}"


async def post_digest(engine: Engine, config: Config, channels: Any) -> dict[str, Any]:
    """Build this week's digest once and post it everywhere configured.

    Returns posts per channel (``"slack"``, ``"teams"``) and ``"unreached"``: one line for each
    target that was not reached, naming it, why and how to fix it (also logged as a warning).
    """
    from bot.teams.cards import digest_card
    text, png, d = await asyncio.to_thread(_build, engine)
    sent: dict[str, Any] = {"slack": 0, "teams": 0, "unreached": []}

    def missed(channel: str, target: str, exc: Exception) -> None:
        why = str(exc) if type(exc).__name__ == "DigestNotPosted" else f"it failed ({type(exc).__name__})"
        line = f"{_where(config, channel, target)}: {why}"
        sent["unreached"].append(line)
        log.warning("weekly digest not posted to %s", line)

    if channels.slack is not None:
        for target in targets(config, "slack"):
            try:
                await channels.slack.post_digest(target, text, png)
                sent["slack"] += 1
            except Exception as exc:  # one unreachable target must not stop the others
                missed("slack", target, exc)
    if channels.teams is not None:
        for target in targets(config, "teams"):
            try:
                await channels.teams.send_proactive(target, card=digest_card(d, png))
                sent["teams"] += 1
            except Exception as exc:
                missed("teams", target, exc)
    log.info("weekly digest posted: %d to Slack, %d to Teams", sent["slack"], sent["teams"])
    return sent


class WeeklyDigest(BackgroundTask):
    """Starts the schedule loop with the server and stops it on shutdown."""

    check: asyncio.Task | None = None

    def __init__(self, engine: Engine, config: Config, channels: Any) -> None:
        self.engine, self.config, self.channels = engine, config, channels

    async def check_slack(self) -> dict[str, str]:
        """Say now, not on Monday morning, which ``[digest] slack_channels`` the bot cannot post to."""
        problems = await self.channels.slack.unreachable(list(self.config.digest_slack_channels))
        for channel, why in problems.items():
            log.warning("weekly digest: cannot post to Slack channel %s: %s", channel, why)
        if not problems:
            log.info("weekly digest: the bot can post to every Slack channel in [digest] slack_channels")
        return problems

    async def on_startup(self, app: web.Application) -> None:
        from bot.jobs.schedule import run_weekly
        if self.channels.slack is not None and self.config.digest_slack_channels:
            self.check = asyncio.create_task(self.check_slack())  # in the background: start-up never waits
        if not (targets(self.config, "slack") and self.channels.slack) and not (
                targets(self.config, "teams") and self.channels.teams):
            log.info("weekly digest: no targets configured, not scheduled")
            return
        self.start(run_weekly(self.config.digest_schedule,
                              lambda: post_digest(self.engine, self.config, self.channels), claim=self.claim))
        log.info("weekly digest scheduled: %s Europe/London", self.config.digest_schedule)

    async def claim(self, slot: datetime) -> bool:
        """True if this server posts the digest of ``slot`` (the first of the replicas to ask)."""
        return await asyncio.to_thread(claim_slot, self.engine.db, f"job:digest:{slot.isoformat()}")

    async def on_cleanup(self, app: web.Application) -> None:
        if self.check is not None and not self.check.done():
            self.check.cancel()
        await super().on_cleanup(app)
