"""A task that starts with ``infoshare serve`` and is cancelled when the server stops."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine

from aiohttp import web


class BackgroundTask:
    """Base of the server's background services (the weekly digest, housekeeping): a subclass's
    ``on_startup`` calls :meth:`start`; the server calls :meth:`on_cleanup` on shutdown."""

    task: asyncio.Task[Any] | None = None

    def start(self, work: Coroutine[Any, Any, Any]) -> None:
        self.task = asyncio.create_task(work)

    async def on_cleanup(self, app: web.Application) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
