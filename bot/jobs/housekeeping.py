"""Daily tidying by ``infoshare serve``: what is kept only for a while is deleted when its time is up.

* delivery keys (``processed_events``) older than a week: redeliveries come within minutes;
* unanswered questions older than ``[retention] unanswered_days`` (default 90).

Decisions are never touched here: their detail is removed only by ``infoshare audit purge``,
which an operator runs on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

from aiohttp import web

from bot.config import Config
from bot.jobs.background import BackgroundTask
from dialogs.engine import Engine
from dialogs import records

log = logging.getLogger("infoshare.housekeeping")

EVERY_SECONDS = 24 * 3600


def tidy(db: records.Database, config: Config, now: datetime | None = None) -> dict[str, int]:
    """Delete what is past its time; returns how many of each were deleted."""
    with records.db_lock(db):  # the engine created the tables at start
        return {"delivery_keys": records.forget_events(db, now=now),
                "unanswered": records.purge_unanswered(db, config.unanswered_days, now=now)}


class Housekeeping(BackgroundTask):
    """Runs :func:`tidy` when the server starts and then once a day, off the event loop."""

    def __init__(self, engine: Engine, config: Config, every: float = EVERY_SECONDS) -> None:
        self.engine, self.config, self.every = engine, config, every

    async def on_startup(self, app: web.Application) -> None:
        self.start(self._loop())

    async def _loop(self) -> None:
        while True:
            try:
                slot = f"job:housekeeping:{datetime.now(timezone.utc).date().isoformat()}"
                if not await asyncio.to_thread(records.claim_slot, self.engine.db, slot):
                    log.info("housekeeping: another server has tidied today")
                    await asyncio.sleep(self.every)
                    continue
                done = await asyncio.to_thread(tidy, self.engine.db, self.config)
                log.info("housekeeping: deleted %d delivery key(s) and %d unanswered question(s) past their time",
                         done["delivery_keys"], done["unanswered"])
            except Exception as exc:  # noqa: BLE001 - a failed tidy must not stop the server
                log.warning("housekeeping failed: %s", type(exc).__name__)
            await asyncio.sleep(self.every)
