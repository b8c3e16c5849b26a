"""The digest as people read it: Markdown (Slack, the console, the chat) and CSV (for a
spreadsheet), with every user's text defused for the place it is shown in. The Teams card
(``bot``) uses the same lines."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timezone
from typing import Any

from storage import audit
from storage.digest.query import LONDON, OUTCOME_LABELS, REASONS_SCANNED


def stale_line(p: dict[str, Any]) -> str:
    if p.get("superseded"):
        return f"- {p['pack_id']}: its source has been replaced. {p['superseded']}"
    if p["reviewed"]:
        return f"- {p['pack_id']}: last reviewed {p['reviewed']} ({p['days_ago']} days ago)"
    return f"- {p['pack_id']}: no review date"


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


def totals_line(d: dict) -> str:
    """The period's count of decisions against the previous period's, in bold Markdown."""
    total, prev = d["total"], d["previous"]["total"]
    return (f"**{total} decision{'' if total == 1 else 's'}** (previous {'week' if d['week'] else 'period'}: "
            f"{prev}, change {signed(d['change'])})")


def render_markdown(d: dict) -> str:
    """The digest as Markdown (Slack and Teams render it; it reads as plain text too)."""
    prev = d["previous"]
    out = [f"# Information sharing digest: {period_title(d)}", "",
           totals_line(d), "",
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


