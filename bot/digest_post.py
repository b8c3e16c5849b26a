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

from bot.background import BackgroundTask
from storage.db import db_lock

log = logging.getLogger("infoshare.digest")


def _build(engine) -> tuple[str, bytes, dict]:
    """The digest (Markdown, the chart, the data): counted under the database lock, its chain
    verified outside it."""
    from storage.digest import build_digest, outcomes_chart_png, render_markdown, verify_apart
    db = engine.db
    with db_lock(db):
        d = build_digest(db, verify=False, stale_after_days=engine.digest_stale_after_days)
    verify_apart(db, d)
    return render_markdown(d), outcomes_chart_png(d), d


def targets(config, channel: str) -> list[str]:
    """Where ``channel``'s copy goes: the configured conversations, then the leads' own chats."""
    where = list(config.digest_slack_channels if channel == "slack" else config.digest_teams_conversations)
    if config.digest_lead_dms:
        where += [u for u in config.leads.get(channel, []) if u not in where]
    return where


async def post_digest(engine, config, channels) -> dict[str, int]:
    """Build this week's digest once and post it everywhere configured; returns posts per channel."""
    from bot.teams_cards import digest_card
    text, png, d = await asyncio.to_thread(_build, engine)
    sent = {"slack": 0, "teams": 0}
    if channels.slack is not None:
        for target in targets(config, "slack"):
            try:
                await channels.slack.post_digest(target, text, png)
                sent["slack"] += 1
            except Exception as exc:  # one unreachable target must not stop the others
                log.warning("digest to a Slack target failed: %s", type(exc).__name__)
    if channels.teams is not None:
        for target in targets(config, "teams"):
            try:
                await channels.teams.send_proactive(target, card=digest_card(d, png))
                sent["teams"] += 1
            except Exception as exc:
                log.warning("digest to a Teams target failed: %s", type(exc).__name__)
    log.info("weekly digest posted: %d to Slack, %d to Teams", sent["slack"], sent["teams"])
    return sent


class WeeklyDigest(BackgroundTask):
    """Starts the schedule loop with the server and stops it on shutdown."""

    def __init__(self, engine, config, channels):
        self.engine, self.config, self.channels = engine, config, channels

    async def on_startup(self, app) -> None:
        from bot.schedule import run_weekly
        if not (targets(self.config, "slack") and self.channels.slack) and not (
                targets(self.config, "teams") and self.channels.teams):
            log.info("weekly digest: no targets configured, not scheduled")
            return
        self.start(run_weekly(self.config.digest_schedule,
                              lambda: post_digest(self.engine, self.config, self.channels)))
        log.info("weekly digest scheduled: %s Europe/London", self.config.digest_schedule)
