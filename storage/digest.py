"""The leads' digest: what was decided in a week (or a date range) and whether the record holds.

Example:
    >>> from storage.db import open_db
    >>> from storage.audit import ensure_schema
    >>> db = open_db(":memory:"); ensure_schema(db)
    >>> d = build_digest(db, week="2026-W47", packs_dir="/nonexistent")
    >>> d["week"], d["since"], d["until"], d["total"], d["verified"]
    ('2026-W47', '2026-11-16', '2026-11-22', 0, True)
    >>> render_markdown(d).splitlines()[0]
    '# Information sharing digest: week 2026-W47 (Mon 16 Nov to Sun 22 Nov 2026)'

Weeks and days are Europe/London calendar days; the previous period is the same number of
days just before. Counts come from aggregate SQL over the ``decisions_by_day`` index, so a
week's digest does not read the detail of a million-row store. ``verify=True`` (the default)
also recomputes the whole chain, which is the slow part on a large store.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import struct
import zlib
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from storage import audit
from storage.db import db_lock

LONDON = audit.LONDON
PACKS_DIR = Path(__file__).resolve().parent.parent / "content" / "packs"
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

def _counts(conn: sqlite3.Connection, first: date, last: date) -> list[tuple]:
    return conn.execute(
        "SELECT day, kind, outcome, pack_id, channel, n FROM decision_counts "
        "WHERE day BETWEEN ? AND ?", [first.isoformat(), last.isoformat()]).fetchall()


def _zero_outcomes() -> dict[str, int]:
    return {o: 0 for o in audit.OUTCOMES}


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        [name]).fetchone() is not None


REASONS_SCANNED = 10_000
"""Reasons are counted over at most this many of the newest matching rows of the period."""


def _reasons(conn: sqlite3.Connection, where: str, first: date, last: date, limit: int) -> list[dict]:
    rows = conn.execute(
        "SELECT reason, count(*) AS n FROM ("
        "  SELECT trim(json_extract(record, '$.reason')) AS reason FROM decisions "
        f"  WHERE {where} AND day BETWEEN ? AND ? AND record IS NOT NULL "
        "  ORDER BY day DESC, seq DESC LIMIT ?) "
        "GROUP BY reason ORDER BY n DESC, reason LIMIT ?",
        [first.isoformat(), last.isoformat(), REASONS_SCANNED, limit]).fetchall()
    return [{"reason": r or "(no reason given)", "count": n} for r, n in rows]


def _gaps(conn: sqlite3.Connection, first: date, last: date, limit: int) -> tuple[list, list]:
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
    try:
        if _table_exists(conn, "topic_counts"):
            for p, t, n in conn.execute(
                    "SELECT pack_id, topic, sum(count) FROM topic_counts WHERE day BETWEEN ? AND ? "
                    "GROUP BY pack_id, topic", [first.isoformat(), last.isoformat()]):
                counted[(t, p)] = counted.get((t, p), 0) + int(n)
        if _table_exists(conn, "asked_topics"):
            for p, t, n in conn.execute(
                    "SELECT pack_id, topic, count(*) FROM asked_topics "
                    "WHERE asked_at >= ? AND asked_at < ? GROUP BY pack_id, topic", [start, end]):
                counted[(t, p)] = counted.get((t, p), 0) + int(n)
        if _table_exists(conn, "unanswered"):
            # The same question asked under several packs is one line naming the packs; its nearest
            # topic is the one of its best-scored asking (SQLite takes bare columns from max()'s row).
            rows = conn.execute(
                "SELECT question, group_concat(DISTINCT pack_id), best_topic, max(score), count(*) AS n "
                "FROM unanswered WHERE asked_at >= ? AND asked_at < ? GROUP BY question "
                "ORDER BY n DESC, max(asked_at) DESC LIMIT ?", [start, end, limit]).fetchall()
            for q, p, t, s, n in rows:
                packs = sorted(set(str(p or "").split(",")))
                unanswered.append({"question": q, "packs": packs, "best_topic": t,
                                   "best_title": topic_title(t, packs) if t else None, "score": s, "count": n})
    except sqlite3.OperationalError:
        # A gaps table of another shape than agreed: leave the section empty, keep the digest.
        pass
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


_TOP_KEY = re.compile(r"""^(id|extends|reviewed|superseded):[ \t]*(?:"([^"]*)"|'([^']*)'|([^#\s][^#]*?))?[ \t]*(?:#.*)?$""")


def _pack_header(path: Path) -> dict[str, dict]:
    """``{id: {"extends": ..., "reviewed": ..., "superseded": ...}}`` from a pack's top-level scalar keys.

    Only four top-level scalars are needed, so they are read line by line rather than by
    parsing the whole YAML (which takes a third of a second for the packs we ship).
    """
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _TOP_KEY.match(line)
        if m and m.group(1) not in found:
            found[m.group(1)] = next((g for g in m.groups()[1:] if g is not None), "")
    return {found.get("id") or path.stem: found}


def stale_packs(packs_dir: str | Path | None = None, today: date | None = None,
                after_days: int = STALE_AFTER_DAYS) -> list[dict[str, Any]]:
    """Packs whose ``reviewed`` date (inherited through ``extends``) is more than a year old, and
    packs whose source has been replaced (their own ``superseded`` note, never inherited).

    A pack with no readable ``reviewed`` date is listed too, with ``reviewed`` None.
    """
    folder = Path(packs_dir) if packs_dir else PACKS_DIR
    today = today or datetime.now(LONDON).date()
    packs: dict[str, dict] = {}
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            packs.update(_pack_header(path))
        except (OSError, UnicodeDecodeError):
            packs[path.stem] = {}

    def reviewed(pack_id: str, seen: tuple = ()) -> str | None:
        data = packs.get(pack_id, {})
        if data.get("reviewed"):
            return str(data["reviewed"])
        parent = data.get("extends")
        if parent and parent not in seen and parent in packs:
            return reviewed(parent, seen + (pack_id,))
        return None

    out = []
    for pack_id in packs:
        text = reviewed(pack_id)
        try:
            when = date.fromisoformat(text) if text else None
        except ValueError:
            when = None
        superseded = packs[pack_id].get("superseded") or None
        if when is None or (today - when).days > after_days or superseded:
            out.append({"pack_id": pack_id, "reviewed": when.isoformat() if when else None,
                        "days_ago": (today - when).days if when else None, "superseded": superseded})
    return out


def stale_line(p: dict[str, Any]) -> str:
    if p.get("superseded"):
        return f"- {p['pack_id']}: its source has been replaced. {p['superseded']}"
    if p["reviewed"]:
        return f"- {p['pack_id']}: last reviewed {p['reviewed']} ({p['days_ago']} days ago)"
    return f"- {p['pack_id']}: no review date"


def build_digest(db: sqlite_utils.Database, week: str | None = None, since: date | str | None = None,
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
    if not _table_exists(conn, "decisions"):
        audit.ensure_schema(db)

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
    topics, unanswered = _gaps(conn, first, last, limit)

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
        "do_not_share_reasons": _reasons(conn, "outcome = 'do_not_share' AND kind = 'decision'",
                                         first, last, limit),
        "left_without_recording": {"count": left, "reasons": _reasons(
            conn, "kind = 'left_without_recording'", first, last, limit)},
        "top_topics": topics,
        "unanswered": unanswered,
        "stale_packs": stale_packs(packs_dir, now.astimezone(LONDON).date(), stale_after_days),
        "chain_head": head,
        "verified": verified,
        "verification": verification,
    }


def verify_apart(db: sqlite_utils.Database, d: dict[str, Any]) -> dict[str, Any]:
    """Verify the whole chain for digest ``d`` (built with ``verify=False``) on a read-only
    connection of its own, so the caller need not hold the database lock for it (about 14 s a
    million decisions, every channel waiting); then log the check and put it in ``d``."""
    from storage.db import open_db
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


# --- rendering ------------------------------------------------------------------------------

def period_title(d: dict) -> str:
    first, last = date.fromisoformat(d["since"]), date.fromisoformat(d["until"])
    span = f"{first:%a} {first.day} {first:%b} to {last:%a} {last.day} {last:%b %Y}"
    return f"week {d['week']} ({span})" if d["week"] else span


def local_time(stamp: str) -> str:
    moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    local = moment.astimezone(LONDON)
    return f"{local:%a} {local.day} {local:%b %H:%M}"


def signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def verification_line(d: dict) -> str:
    v = d.get("verification") or {}
    if d["verified"] is True:
        return f"Record verified: yes, {v.get('rows', 0):,} rows, chain head `{d['chain_head']}`"
    if d["verified"] is False:
        return (f"**Record verified: NO. Row {v.get('first_bad')}: {v.get('problem')}.** "
                f"Chain head `{d['chain_head']}`")
    if v:
        state = "passed" if v.get("ok") else f"FAILED at row {v.get('first_bad')}: {v.get('problem')}"
        return (f"Record not verified for this digest; last check {v.get('checked_at')} {state} "
                f"({v.get('rows', 0):,} rows). Chain head `{d['chain_head']}`")
    return f"Record not verified for this digest (never checked). Chain head `{d['chain_head']}`"


USER_TEXT_MAX = 300
"""A reason or question from a user is shown at most this long in a digest (with an ellipsis)."""

# Control characters, and the invisible ones that can make text read other than it was typed
# (bidirectional overrides, zero-width characters).
_UNSEEN = re.compile("[\x00-\x1f\x7f-\x9f\u200b\u200c\u200e\u200f\u2028\u2029\u202a-\u202e"
                     "\u2060-\u2064\u2066-\u2069\ufeff]")
_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")


def plain(text: str, limit: int = USER_TEXT_MAX) -> str:
    """User text as one line of plain characters: control and invisible characters gone, white
    space collapsed, at most ``limit`` characters."""
    text = " ".join(_UNSEEN.sub(" ", str(text)).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def user_markdown(text: str) -> str:
    """User text to put in the Markdown digest that Slack and Teams render: :func:`plain`, then
    ``&``, ``<`` and ``>`` as entities (so ``<!channel>`` or ``<https://x|label>`` reach no one
    and link nowhere) and Markdown's marks escaped (no bold, links or images of a user's making)."""
    text = plain(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def user_csv(text: str) -> str:
    """User text for a CSV cell: :func:`plain`, and a leading ``= + - @`` quoted with ``'`` so a
    spreadsheet never reads it as a formula."""
    text = plain(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def render_markdown(d: dict) -> str:
    """The digest as Markdown (Slack and Teams render it; it reads as plain text too)."""
    prev = d["previous"]
    out = [f"# Information sharing digest: {period_title(d)}", "",
           f"**{d['total']} decisions** (previous {'week' if d['week'] else 'period'}: "
           f"{prev['total']}, change {signed(d['change'])})", "",
           "| Outcome | Count | Previous | Change |", "|---|---:|---:|---:|"]
    for key, label in OUTCOME_LABELS.items():
        now_n, then_n = d["by_outcome"][key], prev["by_outcome"][key]
        out.append(f"| {label} | {now_n} | {then_n} | {signed(now_n - then_n)} |")
    for title, mapping in (("By pack", d["by_pack"]), ("By channel", d["by_channel"])):
        out += ["", f"## {title}", ""]
        out += [f"- {k}: {n}" for k, n in mapping.items()] or ["- none"]
    if len(d["by_day"]) <= 31:
        out += ["", "## By day", "", "| Day | " + " | ".join(OUTCOME_LABELS.values()) + " |",
                "|---|" + "---:|" * len(OUTCOME_LABELS)]
        for row in d["by_day"]:
            day = date.fromisoformat(row["date"])
            out.append(f"| {day:%a} {day.day} {day:%b} | "
                       + " | ".join(str(row[k]) for k in OUTCOME_LABELS) + " |")
    att = d["attention"]
    shown = len(att["latest"])
    more = f"; the newest {shown} listed" if shown < att["seek_advice"] + att["urgent_action"] else ""
    out += ["", f"## Seek advice and urgent action ({att['seek_advice']} seek advice, "
                f"{att['urgent_action']} urgent{more})", ""]
    out += [f"- {a['ref']}: {OUTCOME_LABELS[a['outcome']].lower()}, {local_time(a['recorded_at'])}, "
            f"{a['channel']}, {a['pack_id']}" for a in att["latest"]] or ["- none"]
    capped = " (counted over the newest {:,})".format(REASONS_SCANNED) \
        if d["by_outcome"]["do_not_share"] > REASONS_SCANNED else ""
    out += ["", f"## Reasons given for not sharing{capped}", ""]
    out += [f"- {user_markdown(r['reason'])} ({r['count']})" for r in d["do_not_share_reasons"]] or ["- none"]
    lwr = d["left_without_recording"]
    out += ["", f"## Left without recording ({lwr['count']})", ""]
    out += [f"- {user_markdown(r['reason'])} ({r['count']})" for r in lwr["reasons"]] or ["- none"]
    out += ["", "## Most asked topics", ""]
    out += [f"- {t['title']} ({', '.join(t['packs'])}): {t['count']}" for t in d["top_topics"]] or ["- none recorded"]
    out += ["", "## Questions the bot could not answer", ""]
    out += [f"- \"{user_markdown(u['question'])}\" ({u['count']}x in {', '.join(u['packs'])}; "
            f"nearest topic: {u['best_title'] or 'none'})" for u in d["unanswered"]] or ["- none recorded"]
    out += ["", "## Packs due for review", ""]
    out += [stale_line(p) for p in d["stale_packs"]] or ["- none: every pack was reviewed recently"]
    out += ["", "## Record integrity", "", verification_line(d), ""]
    return "\n".join(out)


def render_csv(d: dict) -> str:
    """The digest as CSV rows ``section,key,value,previous`` (one table, for a spreadsheet)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "key", "value", "previous"])
    w.writerow(["period", "week", d["week"] or "", ""])
    w.writerow(["period", "since", d["since"], d["previous"]["since"]])
    w.writerow(["period", "until", d["until"], d["previous"]["until"]])
    w.writerow(["total", "decisions", d["total"], d["previous"]["total"]])
    for key in audit.OUTCOMES:
        w.writerow(["outcome", key, d["by_outcome"][key], d["previous"]["by_outcome"][key]])
    w.writerow(["total", "left_without_recording", d["left_without_recording"]["count"],
                d["previous"]["left_without_recording"]])
    for section, mapping in (("pack", d["by_pack"]), ("channel", d["by_channel"])):
        for key, n in mapping.items():
            w.writerow([section, key, n, ""])
    for row in d["by_day"]:
        for key in audit.OUTCOMES:
            w.writerow([f"day:{row['date']}", key, row[key], ""])
    for a in d["attention"]["latest"]:
        w.writerow(["attention", a["ref"], a["outcome"], a["recorded_at"]])
    for r in d["do_not_share_reasons"]:
        w.writerow(["do_not_share_reason", user_csv(r["reason"]), r["count"], ""])
    for r in d["left_without_recording"]["reasons"]:
        w.writerow(["left_without_recording_reason", user_csv(r["reason"]), r["count"], ""])
    for t in d["top_topics"]:
        w.writerow(["topic", t["topic"], t["count"], ""])
    for u in d["unanswered"]:
        w.writerow(["unanswered", user_csv(u["question"]), u["count"], ""])
    for p in d["stale_packs"]:
        w.writerow(["stale_pack", p["pack_id"], p["reviewed"] or "", "superseded" if p.get("superseded") else ""])
    w.writerow(["chain", "head", d["chain_head"], ""])
    w.writerow(["chain", "verified", {True: "yes", False: "no", None: "not checked"}[d["verified"]], ""])
    return buf.getvalue()


# --- the chart: a small PNG written with zlib and struct ------------------------------------

COLOURS = {"share": (46, 125, 50), "do_not_share": (117, 117, 117),
           "seek_advice": (239, 160, 0), "urgent_action": (198, 40, 40)}
_LEGEND = {"share": "SHARE", "do_not_share": "NOT SHARED", "seek_advice": "ADVICE",
           "urgent_action": "URGENT"}
_FONT = {  # 3x5 glyphs, rows top to bottom
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "I": "111010010010111", "J": "001001001101010",
    "K": "101101110101101", "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111", "V": "101101101101010",
    "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    "-": "000000111000000", ":": "000010000010000", "/": "001001010100100", ".": "000000000000010",
    " ": "000000000000000",
}


class _Canvas:
    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.px = bytearray(b"\xff" * (width * height * 3))

    def rect(self, x: int, y: int, w: int, h: int, colour: tuple[int, int, int]) -> None:
        x0, y0, x1, y1 = max(0, x), max(0, y), min(self.w, x + w), min(self.h, y + h)
        if x1 <= x0 or y1 <= y0:
            return
        line = bytes(colour) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.w + x0) * 3
            self.px[start:start + len(line)] = line

    def text(self, x: int, y: int, s: str, colour=(40, 40, 40), scale: int = 2) -> int:
        for ch in s.upper():
            glyph = _FONT.get(ch, _FONT[" "])
            for i, bit in enumerate(glyph):
                if bit == "1":
                    self.rect(x + (i % 3) * scale, y + (i // 3) * scale, scale, scale, colour)
            x += 4 * scale
        return x

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
        stride = self.w * 3
        raw = b"".join(b"\x00" + bytes(self.px[y * stride:(y + 1) * stride]) for y in range(self.h))
        return (b"\x89PNG\r\n\x1a\n"
                + chunk(b"IHDR", struct.pack(">IIBBBBB", self.w, self.h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _chart_buckets(d: dict) -> list[tuple[str, dict[str, int]]]:
    """One bar per day up to 62 days, else one per ISO week (labelled by week number)."""
    if len(d["by_day"]) <= 62:
        return [(str(date.fromisoformat(r["date"]).day), r) for r in d["by_day"]]
    weeks: dict[str, dict[str, int]] = {}
    for r in d["by_day"]:
        iso = date.fromisoformat(r["date"]).isocalendar()
        bucket = weeks.setdefault(f"{iso[1]}", _zero_outcomes())
        for k in audit.OUTCOMES:
            bucket[k] += r[k]
    return list(weeks.items())


def outcomes_chart_png(d: dict) -> bytes:
    """A small stacked bar chart of outcomes per day (per week for long ranges) as PNG bytes."""
    buckets = _chart_buckets(d)
    n = max(1, len(buckets))
    slot = max(4, min(40, 640 // n))
    bar = max(2, slot * 3 // 4)
    left, top, plot_h = 40, 30, 140
    width = max(left + n * slot + 12, 380)
    height = top + plot_h + 52
    c = _Canvas(width, height)
    title = f"OUTCOMES PER {'DAY' if len(d['by_day']) <= 62 else 'WEEK'} {d['week'] or d['since'] + ' TO ' + d['until']}"
    c.text(8, 8, title)
    peak = max([sum(b[k] for k in audit.OUTCOMES) for _, b in buckets] + [1])
    base = top + plot_h
    c.rect(left - 2, top, 1, plot_h + 1, (160, 160, 160))
    c.rect(left - 2, base, n * slot + 4, 1, (160, 160, 160))
    c.rect(left - 4, top, n * slot + 6, 1, (225, 225, 225))
    c.text(4, top - 2, str(peak), scale=1 if len(str(peak)) > 4 else 2)
    c.text(4, base - 10, "0")
    label_every = max(1, (16 + 2) // slot + (1 if slot < 18 else 0))
    for i, (label, counts) in enumerate(buckets):
        x = left + i * slot + (slot - bar) // 2
        y = base
        for key in audit.OUTCOMES:
            h = round(counts[key] * plot_h / peak)
            if h:
                c.rect(x, y - h, bar, h, COLOURS[key])
                y -= h
        if i % label_every == 0:
            c.text(left + i * slot + max(0, (slot - 8 * len(label)) // 2), base + 5, label,
                   scale=2 if slot >= 8 * len(label) or label_every > 1 else 1)
    x = 8
    for key in audit.OUTCOMES:
        c.rect(x, height - 16, 10, 10, COLOURS[key])
        x = c.text(x + 14, height - 16, _LEGEND[key]) + 10
    return c.png()
