"""The leads' digest: what was decided in a week (or a date range) and whether the record holds.

:mod:`~storage.digest.query` gathers the figures, :mod:`~storage.digest.render` writes them as
Markdown and CSV, :mod:`~storage.digest.chart` draws the chart. The names below are the digest's
whole interface.

Example:
    >>> from storage.db import open_db
    >>> from storage.audit import ensure_schema
    >>> db = open_db(":memory:"); ensure_schema(db)
    >>> d = build_digest(db, week="2026-W47", packs_dir="/nonexistent")
    >>> d["week"], d["since"], d["until"], d["total"], d["verified"]
    ('2026-W47', '2026-11-16', '2026-11-22', 0, True)
    >>> render_markdown(d).splitlines()[0]
    '# Information sharing digest: week 2026-W47 (Mon 16 Nov to Sun 22 Nov 2026)'
"""

from storage.digest.chart import COLOURS, outcomes_chart_png
from storage.digest.query import (OUTCOME_LABELS, REASONS_SCANNED, STALE_AFTER_DAYS, DigestError, NotALead,
                                  build_digest, parse_week, require_lead, resolve_period, stale_packs,
                                  topic_title, verify_apart)
from storage.digest.render import (USER_TEXT_MAX, local_time, period_title, plain, render_csv, render_markdown,
                                   signed, stale_line, totals_line, user_csv, user_markdown, verification_line)

__all__ = ["COLOURS", "OUTCOME_LABELS", "REASONS_SCANNED", "STALE_AFTER_DAYS", "USER_TEXT_MAX", "DigestError",
           "NotALead", "build_digest", "local_time", "outcomes_chart_png", "parse_week", "period_title", "plain",
           "render_csv", "render_markdown", "require_lead", "resolve_period", "signed", "stale_line", "stale_packs",
           "topic_title", "totals_line", "user_csv", "user_markdown", "verification_line", "verify_apart"]
