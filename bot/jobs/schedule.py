"""When the weekly digest is posted: a cron-like ``"MON 09:00"`` in Europe/London.

Example:
    >>> from datetime import datetime, timezone
    >>> next_run("MON 09:00", datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)).isoformat()
    '2026-11-30T09:00:00+00:00'
    >>> next_run("MON 09:00", datetime(2027, 3, 25, 12, 0, tzinfo=timezone.utc)).isoformat()
    '2027-03-29T08:00:00+00:00'

A schedule is one or more days (``MON``..``SUN``, comma separated, or ``DAILY``) and a 24-hour
``HH:MM`` wall-clock time in Europe/London. On the day the clocks go forward a time inside the
missing hour runs at the same moment one hour later by the clock (01:30 becomes 02:30 BST);
on the day they go back a time in the repeated hour runs once, at its first occurrence.

Adapters start :func:`run_weekly` as a background task with a coroutine that posts the digest.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, time, timedelta, timezone
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
MAX_SLEEP = 300.0
"""run_weekly never sleeps longer than this at once, so a suspended machine or a changed clock
is noticed within five minutes."""

log = logging.getLogger(__name__)
_SCHEDULE = re.compile(r"^\s*([A-Za-z,* ]+?)\s+(\d{1,2}):(\d{2})\s*$")


class ScheduleError(ValueError):
    """The schedule is not of the form ``"MON 09:00"``."""


def parse_schedule(schedule: str) -> tuple[frozenset[int], time]:
    """``"MON,THU 09:00"`` -> ({0, 3}, 09:00). Days are Python weekdays (Monday is 0)."""
    m = _SCHEDULE.match(schedule) if isinstance(schedule, str) else None
    if not m:
        raise ScheduleError(f'schedule must look like "MON 09:00", not {schedule!r}')
    names = [d.strip().upper() for d in m.group(1).split(",")]
    if names in (["DAILY"], ["*"]):
        days = frozenset(range(7))
    else:
        unknown = [d for d in names if d not in DAYS]
        if unknown:
            raise ScheduleError(f"unknown day {unknown[0]!r} in schedule {schedule!r} "
                                f"(use {', '.join(DAYS)} or DAILY)")
        days = frozenset(DAYS.index(d) for d in names)
    hour, minute = int(m.group(2)), int(m.group(3))
    if hour > 23 or minute > 59:
        raise ScheduleError(f"no such time {m.group(2)}:{m.group(3)} in schedule {schedule!r}")
    return days, time(hour, minute)


def _as_instant(local: datetime) -> datetime:
    """A London wall-clock time as a UTC instant.

    ``fold=0`` picks the first of a repeated time and, for a time in the missing hour, the
    offset from before the change (so 01:30 on the spring day is 01:30 UTC, 02:30 BST).
    """
    return local.replace(fold=0).astimezone(timezone.utc)


def next_run(schedule: str, now: datetime) -> datetime:
    """The first scheduled moment strictly after ``now``, as an aware UTC datetime.

    The schedule is read in Europe/London wall-clock time (``.astimezone(LONDON)`` shows it
    so). UTC is returned because an aware London time inside the repeated autumn hour never
    compares equal to any other zone's (PEP 495), and adding days to it is wall-clock arithmetic.
    ``now`` may be in any time zone; a naive ``now`` is taken as UTC.
    """
    days, at = parse_schedule(schedule)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    today = now.astimezone(LONDON).date()
    for offset in range(8):
        day = today + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        candidate = _as_instant(datetime.combine(day, at, tzinfo=LONDON))
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: every schedule has a day within eight days")


async def run_weekly(schedule: str, post: Callable[[], Awaitable[None]], *,
                     clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                     max_runs: int | None = None,
                     claim: Callable[[datetime], Awaitable[bool]] | None = None) -> None:
    """Call ``post()`` at every scheduled moment, for ever (or ``max_runs`` times).

    With several servers (replicas on one database) each runs this loop; ``claim(slot)`` says
    whether this one takes the slot (the first to claim it in the database does), so a slot
    is posted once. An exception from ``post`` is logged and the loop goes on to the next slot.
    Cancel the task to stop it. ``clock`` and ``sleep`` are there for tests.
    """
    parse_schedule(schedule)  # fail at start-up, not at the first slot
    runs = 0
    while max_runs is None or runs < max_runs:
        due = next_run(schedule, clock())
        while True:
            remaining = (due - clock()).total_seconds()
            if remaining <= 0:
                break
            await sleep(min(remaining, MAX_SLEEP))
        try:
            if claim is not None and not await claim(due):
                log.info("scheduled digest for %s: another server took this slot", due.isoformat())
            else:
                await post()
        except asyncio.CancelledError:
            raise
        except Exception:  # one failed post must not stop next week's
            log.exception("scheduled digest post failed")
        runs += 1
