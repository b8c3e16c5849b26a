"""Content gaps: the questions the bot could not answer (redacted) and which topics are asked.

Only redacted text is stored: identifiers go through :func:`storage.redact.redact` with names
masked too. ``topic_counts`` holds no question text at all, only a count per day, pack, topic and
channel. Times are UTC ISO-8601 strings (``2026-11-25T14:03:00+00:00``).

Example:
    >>> from storage.db import open_db
    >>> db = open_db(":memory:")
    >>> row = record_unanswered(db, pack_id="hmg-2018", question="can I email jo@example.org?",
    ...                         channel="console", best_topic="share-securely", score=0.31)
    >>> row["question"]
    'can I email [email]?'
    >>> [r["question"] for r in list_unanswered(db, "2000-01-01", "2100-01-01")]
    ['can I email [email]?']
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from storage.db import Database, transaction
from storage.migrations import migrate
from storage.redact import redact

def ensure_tables(db: Database) -> None:
    """The gap tables are in place (``unanswered`` and ``topic_counts``: :mod:`storage.migrations`)."""
    migrate(db)


def _utc(when: datetime | str | None) -> str:
    """An ISO UTC timestamp; naive datetimes are taken as UTC, strings are used as given."""
    if when is None:
        when = datetime.now(timezone.utc)
    if isinstance(when, str):
        return when
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def record_unanswered(db: Database, *, pack_id: str, question: str, channel: str,
                      best_topic: str | None, score: float | None,
                      now: datetime | None = None) -> dict:
    """Store a question the bot abstained on, redacted, and return the stored row."""
    ensure_tables(db)
    red = redact(question, mask_names=True)
    row = {
        "asked_at": _utc(now),
        "pack_id": pack_id,
        "channel": channel,
        "question": red.text,
        "removed": json.dumps(red.removed, sort_keys=True),
        "name_warning": int(red.name_warning),
        "best_topic": best_topic,
        "score": None if score is None else float(score),
    }
    with transaction(db) as conn:
        cur = conn.execute(
            "INSERT INTO unanswered (asked_at, pack_id, channel, question, removed, name_warning,"
            " best_topic, score) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [row[k] for k in ("asked_at", "pack_id", "channel", "question", "removed", "name_warning",
                              "best_topic", "score")])
        row["id"] = cur.fetchone()[0]
    return _decoded(row)


def _decoded(row: dict) -> dict:
    out = dict(row)
    out["removed"] = json.loads(out["removed"]) if isinstance(out["removed"], str) else out["removed"]
    out["name_warning"] = bool(out["name_warning"])
    return out


def list_unanswered(db: Database, since: datetime | str, until: datetime | str) -> list[dict]:
    """Unanswered questions asked at or after ``since`` and before ``until``, oldest first."""
    ensure_tables(db)
    cur = db.execute(
        "SELECT id, asked_at, pack_id, channel, question, removed, name_warning, best_topic, score"
        " FROM unanswered WHERE asked_at >= ? AND asked_at < ? ORDER BY asked_at, id",
        [_utc(since), _utc(until)])
    cols = [c[0] for c in cur.description]
    return [_decoded(dict(zip(cols, r))) for r in cur.fetchall()]


def record_asked(db: Database, *, pack_id: str, topic: str, channel: str,
                 now: datetime | None = None) -> int:
    """Count one question answered with ``topic`` (no question text); returns the day's count."""
    ensure_tables(db)
    day = _utc(now)[:10]
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO topic_counts (day, pack_id, topic, channel, count) VALUES (?, ?, ?, ?, 1)"
            " ON CONFLICT (day, pack_id, topic, channel) DO UPDATE SET count = topic_counts.count + 1",
            [day, pack_id, topic, channel])
        (count,) = conn.execute(
            "SELECT count FROM topic_counts WHERE day = ? AND pack_id = ? AND topic = ? AND channel = ?",
            [day, pack_id, topic, channel]).fetchone()
    return int(count)


def topic_counts(db: Database, since: datetime | str, until: datetime | str) -> list[dict]:
    """How often each topic was asked per pack, on UTC days from ``since`` to ``until`` inclusive."""
    ensure_tables(db)
    cur = db.execute(
        "SELECT pack_id, topic, SUM(count) AS count FROM topic_counts WHERE day >= ? AND day <= ?"
        " GROUP BY pack_id, topic ORDER BY count DESC, pack_id, topic",
        [_utc(since)[:10], _utc(until)[:10]])
    return [{"pack_id": p, "topic": t, "count": int(c)} for p, t, c in cur.fetchall()]


UNANSWERED_DAYS = 90
"""Default retention of unanswered questions (``[retention] unanswered_days``): long enough for
a quarter's digests to show what the content lacks, and no longer, since a redacted question
may still say more about a family than anyone needs kept."""


def purge_unanswered(db: Database, older_than_days: int = UNANSWERED_DAYS,
                     now: datetime | None = None, dry_run: bool = False) -> int:
    """Delete unanswered questions asked more than ``older_than_days`` ago; returns how many
    (with ``dry_run``, how many would be). Topic counts carry no text and are kept."""
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise ValueError(f"unanswered retention must be a whole number of days of at least 1, not {older_than_days!r}")
    ensure_tables(db)
    cutoff = _utc((now or datetime.now(timezone.utc)) - timedelta(days=older_than_days))
    if dry_run:
        return db.execute("SELECT count(*) FROM unanswered WHERE asked_at < ?", [cutoff]).fetchone()[0]
    with transaction(db) as conn:
        return conn.execute("DELETE FROM unanswered WHERE asked_at < ?", [cutoff]).rowcount
