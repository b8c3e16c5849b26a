"""The weekly digest schedule: next_run in Europe/London across clock changes, and the run loop."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.jobs.schedule import LONDON, ScheduleError, next_run, parse_schedule, run_weekly

UTC = timezone.utc


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_next_monday_morning_in_winter():
    got = next_run("MON 09:00", utc(2026, 11, 25, 12, 0))  # a Wednesday
    assert got == utc(2026, 11, 30, 9, 0) and got.utcoffset() == timedelta(0)


def test_strictly_after_now():
    assert next_run("MON 09:00", utc(2026, 11, 30, 8, 59)) == utc(2026, 11, 30, 9, 0)
    assert next_run("MON 09:00", utc(2026, 11, 30, 9, 0)) == utc(2026, 12, 7, 9, 0)


def test_summer_time_is_an_hour_earlier_in_utc():
    assert next_run("MON 09:00", utc(2026, 7, 1)) == utc(2026, 7, 6, 8, 0)


def test_across_the_spring_change():
    # clocks go forward at 01:00 UTC on Sunday 29 March 2026
    got = next_run("MON 09:00", utc(2026, 3, 27, 12, 0))
    assert got == utc(2026, 3, 30, 8, 0)
    local = got.astimezone(LONDON)
    assert (local.hour, local.minute, local.utcoffset()) == (9, 0, timedelta(hours=1))


def test_across_the_autumn_change():
    # clocks go back at 01:00 UTC on Sunday 25 October 2026
    assert next_run("MON 09:00", utc(2026, 10, 19, 9, 0)) == utc(2026, 10, 26, 9, 0)
    assert next_run("MON 09:00", utc(2026, 10, 18, 12, 0)) == utc(2026, 10, 19, 8, 0)


def test_a_time_in_the_missing_hour_runs_once_just_after_it():
    # 01:30 does not exist on 29 March 2026; it runs at 02:30 BST (01:30 UTC)
    assert next_run("SUN 01:30", utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 30)
    assert next_run("SUN 01:30", utc(2026, 3, 29, 1, 30)) == utc(2026, 4, 5, 0, 30)


def test_a_time_in_the_repeated_hour_runs_once():
    # 01:30 happens twice on 25 October 2026: 00:30 UTC (BST) and 01:30 UTC (GMT)
    first = next_run("SUN 01:30", utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    assert next_run("SUN 01:30", first) == utc(2026, 11, 1, 1, 30)  # not again at 01:30 UTC


def test_a_london_evening_that_is_already_tomorrow_in_utc():
    # 23:30 on Sunday in summer is 22:30 UTC on Sunday
    assert next_run("SUN 23:30", utc(2026, 7, 5, 22, 0)) == utc(2026, 7, 5, 22, 30)


def test_now_in_another_zone_or_naive():
    assert next_run("MON 09:00", datetime(2026, 11, 25, 12, 0)) == utc(2026, 11, 30, 9, 0)
    tokyo = datetime(2026, 11, 30, 17, 30, tzinfo=timezone(timedelta(hours=9)))  # 08:30 UTC Monday
    assert next_run("MON 09:00", tokyo) == utc(2026, 11, 30, 9, 0)


def test_several_days_and_daily():
    assert next_run("MON,THU 09:00", utc(2026, 11, 25, 12, 0)) == utc(2026, 11, 26, 9, 0)
    assert next_run("daily 07:15", utc(2026, 11, 25, 12, 0)) == utc(2026, 11, 26, 7, 15)
    assert parse_schedule("* 9:05")[0] == frozenset(range(7))


@pytest.mark.parametrize("bad", ["", "MON", "09:00", "FUNDAY 09:00", "MON 24:00", "MON 09:60", "MON 9am", None])
def test_bad_schedules(bad):
    with pytest.raises(ScheduleError):
        next_run(bad, utc(2026, 11, 25))


class FakeClock:
    def __init__(self, start):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    async def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


async def test_run_weekly_posts_at_each_slot_across_a_clock_change():
    clock = FakeClock(utc(2026, 10, 14, 12, 0))
    posted = []

    async def post():
        posted.append(clock())

    await run_weekly("MON 09:00", post, clock=clock, sleep=clock.sleep, max_runs=3)
    assert posted == [utc(2026, 10, 19, 8, 0), utc(2026, 10, 26, 9, 0), utc(2026, 11, 2, 9, 0)]
    assert max(clock.sleeps) <= 300  # wakes up often enough to notice a changed clock


async def test_a_failed_post_does_not_stop_the_loop(caplog):
    clock = FakeClock(utc(2026, 11, 29, 12, 0))
    calls = []

    async def post():
        calls.append(clock())
        if len(calls) == 1:
            raise RuntimeError("Slack is down")

    await run_weekly("MON 09:00", post, clock=clock, sleep=clock.sleep, max_runs=2)
    assert calls == [utc(2026, 11, 30, 9, 0), utc(2026, 12, 7, 9, 0)]
    assert "scheduled digest post failed" in caplog.text


async def test_run_weekly_refuses_a_bad_schedule_at_once():
    async def post():  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ScheduleError):
        await run_weekly("someday", post)
