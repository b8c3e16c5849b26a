"""The digest's figures: the period, the counts against the previous one, the reasons, the
content gaps, the packs due for review, and the chain's check. Weeks and days are Europe/London
calendar days; the previous period is the same number of days just before. Counts come from
aggregate SQL over the ``decisions_by_day`` index, so a week's digest does not read the detail of
a million-row store. ``verify=True`` (the default) also recomputes the whole chain, which is the
slow part on a large store."""

from __future__ import annotations

import re
import sqlite3
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from content.loader import PACKS_DIR
from storage import audit
from storage.db import Database, db_lock, dialect, table_exists

LONDON = audit.LONDON
OUTCOME_LABELS = {"share": "Share", "do_not_share": "Do not share",
                  "seek_advice": "Seek advice", "urgent_action": "Urgent action"}
STALE_AFTER_DAYS = 365
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


class DigestError(ValueError):
    """The period asked for is not a valid ISO week or date range."""


class NotALead(PermissionError):
    """Only the leads named in the configuration may pull the digest in chat."""


def require_lead(config: Any, channel: str, user_id: str) -> None:
    """Raise :class:`NotALead` unless ``user_id`` is a lead for ``channel`` in ``config``."""
    if not config.is_lead(channel, user_id):
        raise NotALead("the digest is for the leads named in the configuration")


# --- the period -----------------------------------------------------------------------------

def parse_week(text: str) -> tuple[date, date]:
    """``"2026-W47"`` -> (Monday, Sunday) of that ISO week."""
    m = _WEEK.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise DigestError(f"week must look like 2026-W47, not {text!r}")
    try:
        monday = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
    except ValueError:
        raise DigestError(f"{text} is not a week: {m.group(1)} has no week {int(m.group(2))}") from None
    return monday, monday + timedelta(days=6)


def _as_date(value: date | str, name: str) -> date:
    if isinstance(value, datetime):
        return value.astimezone(LONDON).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise DigestError(f"{name} must be a date like 2026-11-16, not {value!r}") from None


def resolve_period(week: str | None = None, since: date | str | None = None,
                   until: date | str | None = None, now: datetime | None = None) -> tuple[str | None, date, date]:
    """(week label or None, first day, last day) for the arguments of :func:`build_digest`."""
    now = now or datetime.now(timezone.utc)
    today = now.astimezone(LONDON).date() if now.tzinfo else now.date()
    if week is not None and (since is not None or until is not None):
        raise DigestError("give either a week or --since/--until, not both")
    if week is not None:
        first, last = parse_week(week)
        return week.strip(), first, last
    if since is None and until is None:
        year, number, _ = today.isocalendar()
        label = f"{year}-W{number:02d}"
        first, last = parse_week(label)
        return label, first, last
    if since is None:
        raise DigestError("--until needs --since")
    first = _as_date(since, "--since")
    last = _as_date(until, "--until") if until is not None else today
    if last < first:
        raise DigestError(f"--until {last} is before --since {first}")
    return None, first, last


def _utc_bound(day: date) -> str:
    """Midnight at the start of a London day, as a stored UTC timestamp."""
    return audit.utc_iso(datetime.combine(day, time(0), tzinfo=LONDON))


# --- gathering ------------------------------------------------------------------------------

def _is_query_error(exc: BaseException) -> bool:
    """A query the store refused (no such column, a value of another type), on either engine."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    if not type(exc).__module__.startswith("psycopg"):
        return False
    import psycopg
    return isinstance(exc, (psycopg.ProgrammingError, psycopg.DataError))


def _counts(conn: Any, first: date, last: date) -> list[tuple]:
    return conn.execute(
        "SELECT day, kind, outcome, pack_id, channel, n FROM decision_counts "
        "WHERE day BETWEEN ? AND ?", [first.isoformat(), last.isoformat()]).fetchall()


def _zero_outcomes() -> dict[str, int]:
    return {o: 0 for o in audit.OUTCOMES}




REASONS_SCANNED = 10_000
"""Reasons are counted over at most this many of the newest matching rows of the period."""


_REASON = {"sqlite": "json_extract(record, '$.reason')", "postgresql": "(record::json ->> 'reason')"}


def _reasons(conn: Any, engine: str, where: str, first: date, last: date, limit: int) -> list[dict]:
    rows = conn.execute(
        "SELECT reason, count(*) AS n FROM ("
        f"  SELECT trim({_REASON[engine]}) AS reason FROM decisions "
        f"  WHERE {where} AND day BETWEEN ? AND ? AND record IS NOT NULL "
        "  ORDER BY day DESC, seq DESC LIMIT ?) AS newest "
        "GROUP BY reason ORDER BY n DESC, reason LIMIT ?",
        [first.isoformat(), last.isoformat(), REASONS_SCANNED, limit]).fetchall()
    return [{"reason": r or "(no reason given)", "count": n} for r, n in rows]


_UNANSWERED = {
    # The same question asked under several packs is one line naming the packs; its nearest
    # topic is the one of its best-scored asking (SQLite takes bare columns from max()'s row).
    "sqlite": "SELECT question, group_concat(DISTINCT pack_id), best_topic, max(score), count(*) AS n "
              "FROM unanswered WHERE asked_at >= ? AND asked_at < ? GROUP BY question "
              "ORDER BY n DESC, max(asked_at) DESC LIMIT ?",
    "postgresql": "SELECT question, string_agg(DISTINCT pack_id, ','), "
                  "(array_agg(best_topic ORDER BY score DESC NULLS LAST))[1], max(score), count(*) AS n "
                  "FROM unanswered WHERE asked_at >= ? AND asked_at < ? GROUP BY question "
                  "ORDER BY n DESC, max(asked_at) DESC LIMIT ?",
}


def _gaps(db: Database, first: date, last: date, limit: int) -> tuple[list, list]:
    """Most asked topics and unanswered questions from storage.gaps' tables (empty when absent).

    ``topic_counts`` holds a count per UTC day; ``unanswered`` rows carry ``asked_at`` as UTC ISO
    text (``...+00:00`` or ``...Z``). Bounds are the period's London midnights, written without a
    zone suffix so either form compares right. An ``asked_topics`` table of one row per question
    is read too, if a deployment has one.
    """
    start = _utc_bound(first)[:19]
    end = _utc_bound(last + timedelta(days=1))[:19]
    counted: dict[tuple[str, str], int] = {}
    unanswered: list[dict] = []
    conn = db.conn
    try:
        if table_exists(db, "topic_counts"):
            for p, t, n in conn.execute(
                    "SELECT pack_id, topic, sum(count) FROM topic_counts WHERE day BETWEEN ? AND ? "
                    "GROUP BY pack_id, topic", [first.isoformat(), last.isoformat()]):
                counted[(t, p)] = counted.get((t, p), 0) + int(n)
        if table_exists(db, "asked_topics"):
            for p, t, n in conn.execute(
                    "SELECT pack_id, topic, count(*) FROM asked_topics "
                    "WHERE asked_at >= ? AND asked_at < ? GROUP BY pack_id, topic", [start, end]):
                counted[(t, p)] = counted.get((t, p), 0) + int(n)
        if table_exists(db, "unanswered"):
            rows = conn.execute(_UNANSWERED[dialect(db)], [start, end, limit]).fetchall()
            for q, p, t, s, n in rows:
                packs = sorted(set(str(p or "").split(",")))
                unanswered.append({"question": q, "packs": packs, "best_topic": t,
                                   "best_title": topic_title(t, packs) if t else None, "score": s, "count": n})
    except Exception as exc:  # noqa: BLE001 - only a query error, re-raised otherwise
        if not _is_query_error(exc):
            raise
        # A gaps table of another shape than agreed: leave the section empty, keep the digest.
    by_topic: dict[str, dict[str, Any]] = {}
    for (t, p), n in counted.items():
        entry = by_topic.setdefault(t, {"topic": t, "packs": [], "count": 0})
        entry["packs"].append(p)
        entry["count"] += n
    topics = sorted(by_topic.values(), key=lambda e: (-e["count"], e["topic"]))[:limit]
    for entry in topics:
        entry["packs"].sort()
        entry["title"] = topic_title(entry["topic"], entry["packs"])
    return topics, unanswered


def topic_title(topic: str, packs: list[str]) -> str:
    """A topic's title as the first of ``packs`` that has it gives it, else its id (a topic since
    removed from the content, or content that cannot be read, still shows in the digest)."""
    from content.topics import load_topic_set
    for pack in packs:
        try:
            found = load_topic_set(pack).get(topic)
        except Exception:  # noqa: BLE001 - an unknown pack or unreadable content: the id will do
            continue
        if found is not None and found.title:
            return found.title
    return topic


def _pack_headers(folder: Path) -> dict[str, dict[str, Any]]:
    """Each pack's ``reviewed`` date and ``superseded`` note, read through the content loader
    (``reviewed`` inherited through ``extends``, ``superseded`` never); a pack that can't be
    read keeps neither, so it is listed as having no review date."""
    from content.loader import PACKS_DIR as SHIPPED, PackError, UnknownPack, load_pack, pack_ids, resolve
    headers: dict[str, dict[str, Any]] = {}
    for pack_id in pack_ids(folder) if folder.is_dir() else []:
        try:
            data = load_pack(pack_id).data if folder == SHIPPED else resolve(pack_id, folder)
        except (PackError, UnknownPack, OSError, UnicodeDecodeError):
            data = {}
        headers[pack_id] = {"reviewed": data.get("reviewed"), "superseded": data.get("superseded")}
    return headers


def stale_packs(packs_dir: str | Path | None = None, today: date | None = None,
                after_days: int = STALE_AFTER_DAYS) -> list[dict[str, Any]]:
    """Packs whose ``reviewed`` date (inherited through ``extends``) is more than a year old, and
    packs whose source has been replaced (their own ``superseded`` note, never inherited).

    A pack with no readable ``reviewed`` date is listed too, with ``reviewed`` None.
    """
    folder = Path(packs_dir) if packs_dir else PACKS_DIR
    today = today or datetime.now(LONDON).date()
    packs = _pack_headers(folder)

    out = []
    for pack_id in packs:
        text = packs[pack_id]["reviewed"]
        try:
            when = date.fromisoformat(text) if text else None
        except ValueError:
            when = None
        superseded = packs[pack_id]["superseded"] or None
        if when is None or (today - when).days > after_days or superseded:
            out.append({"pack_id": pack_id, "reviewed": when.isoformat() if when else None,
                        "days_ago": (today - when).days if when else None, "superseded": superseded})
    return out


def build_digest(db: Database, week: str | None = None, since: date | str | None = None,
                 until: date | str | None = None, now: datetime | None = None, *, verify: bool = True,
                 packs_dir: str | Path | None = None, limit: int = 10,
                 stale_after_days: int = STALE_AFTER_DAYS) -> dict[str, Any]:
    """Everything the leads' digest says, as plain data (the JSON form).

    Args:
        week: an ISO week such as ``"2026-W47"`` (Europe/London); default the current week.
        since, until: a date range instead (inclusive; ``until`` defaults to today).
        now: the moment "today" and "current week" are taken from (default: now).
        verify: recompute the whole chain (``verified`` is then True/False; else None and
            ``last_check`` holds the most recent logged verification).
        packs_dir: where the content packs are (default ``content/packs``).
        limit: how many reasons, topics, questions and urgent decisions to list.
        stale_after_days: a pack reviewed longer ago than this is listed as due for review.

    Raises:
        DigestError: the week or dates are not valid.
    """
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    label, first, last = resolve_period(week, since, until, now)
    days = (last - first).days + 1
    prev_last = first - timedelta(days=1)
    prev_first = prev_last - timedelta(days=days - 1)
    conn = db.conn
    if not table_exists(db, "decisions"):
        audit.ensure_schema(db)
    engine = dialect(db)

    by_outcome, by_pack, by_channel = _zero_outcomes(), {}, {}
    by_day = {(first + timedelta(days=i)).isoformat(): _zero_outcomes() for i in range(days)}
    left = 0
    for day, kind, outcome, pack_id, channel, n in _counts(conn, first, last):
        if kind == "left_without_recording":
            left += n
            continue
        if outcome in by_outcome:
            by_outcome[outcome] += n
            by_day[day][outcome] += n
        by_pack[pack_id] = by_pack.get(pack_id, 0) + n
        by_channel[channel] = by_channel.get(channel, 0) + n
    prev_outcome, prev_left = _zero_outcomes(), 0
    for _, kind, outcome, _, _, n in _counts(conn, prev_first, prev_last):
        if kind == "left_without_recording":
            prev_left += n
        elif outcome in prev_outcome:
            prev_outcome[outcome] += n
    total, prev_total = sum(by_outcome.values()), sum(prev_outcome.values())

    attention = [
        {"ref": r, "recorded_at": at, "outcome": o, "pack_id": p, "channel": c}
        for r, at, o, p, c in conn.execute(
            "SELECT ref, recorded_at, outcome, pack_id, channel FROM decisions "
            "WHERE outcome IN ('urgent_action', 'seek_advice') AND kind = 'decision' "
            "AND day BETWEEN ? AND ? ORDER BY outcome DESC, seq DESC LIMIT ?",
            [first.isoformat(), last.isoformat(), limit])]
    topics, unanswered = _gaps(db, first, last, limit)

    head = audit.chain_head(db)
    if verify:
        result = audit.verify_chain(db)
        verified, verification = result.ok, result.as_dict()
    else:
        verified, verification = None, audit.last_check(db)

    return {
        "week": label,
        "since": first.isoformat(),
        "until": last.isoformat(),
        "generated_at": audit.utc_iso(now),
        "total": total,
        "by_outcome": by_outcome,
        "by_pack": dict(sorted(by_pack.items(), key=lambda kv: (-kv[1], str(kv[0])))),
        "by_channel": dict(sorted(by_channel.items(), key=lambda kv: (-kv[1], str(kv[0])))),
        "by_day": [{"date": d, **counts, "total": sum(counts.values())} for d, counts in by_day.items()],
        "previous": {"since": prev_first.isoformat(), "until": prev_last.isoformat(),
                     "total": prev_total, "by_outcome": prev_outcome,
                     "left_without_recording": prev_left},
        "change": total - prev_total,
        "attention": {"seek_advice": by_outcome["seek_advice"],
                      "urgent_action": by_outcome["urgent_action"], "latest": attention},
        "do_not_share_reasons": _reasons(conn, engine, "outcome = 'do_not_share' AND kind = 'decision'",
                                         first, last, limit),
        "left_without_recording": {"count": left, "reasons": _reasons(
            conn, engine, "kind = 'left_without_recording'", first, last, limit)},
        "top_topics": topics,
        "unanswered": unanswered,
        "stale_packs": stale_packs(packs_dir, now.astimezone(LONDON).date(), stale_after_days),
        "chain_head": head,
        "verified": verified,
        "verification": verification,
    }


def verify_apart(db: Database, d: dict[str, Any]) -> dict[str, Any]:
    """Verify the whole chain for digest ``d`` (built with ``verify=False``) on a read-only
    connection of its own, so the caller need not hold the database lock for it (about 14 s a
    million decisions, every channel waiting); then log the check and put it in ``d``."""
    from storage.db import open_db
    if dialect(db) == "postgresql":  # a pooled connection of its own already, and no process lock
        result = audit.verify_chain(db, record_check=False)
        audit.log_check(db, result)
        d["verified"], d["verification"] = result.ok, result.as_dict()
        return d
    row = db.conn.execute("PRAGMA database_list").fetchone()
    path = row[2] if row else ""
    if not path:  # an in-memory database has no second connection
        with db_lock(db):
            result = audit.verify_chain(db, record_check=False)
    else:
        reader = open_db(path, readonly=True)
        try:
            result = audit.verify_chain(reader, record_check=False)
        finally:
            reader.conn.close()
    audit.log_check(db, result)
    d["verified"], d["verification"] = result.ok, result.as_dict()
    return d
