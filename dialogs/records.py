"""The record, as the adapters, jobs and command line in ``bot/`` may reach it.

``bot/`` never imports ``storage`` (a test checks it): a conversation's turn goes through the
:class:`~dialogs.engine.Engine`, and everything else the channels, the jobs and the command line
need of the store (SQLite or PostgreSQL) is named here, once, as channel-neutral functions. Nothing here knows
Slack or Teams; each name is the storage function of the same meaning, unchanged.

================  ==========================================================================
the database      :func:`open_db`, :func:`default_db_path`, :class:`DatabaseProblem`, :func:`ping`,
                  :func:`is_postgres_url`, :func:`table_exists`, :func:`integrity_problems`,
                  :func:`migrate`, :func:`schema_version`, :func:`copy_store` (SQLite into
                  PostgreSQL),
                  :func:`db_lock` (one writer at a time), :class:`GroupCommit` (turns sharing
                  a commit)
deliveries        :func:`was_seen`, :func:`seen_event` (a redelivered event is processed
                  once), :func:`forget_events` (housekeeping), :func:`claim_slot` (a scheduled
                  job's slot taken by one server of several)
references        where to reach a conversation later (proactive posts) and its live card:
                  :func:`ensure_references`, :func:`save_reference`, :func:`get_reference`,
                  :class:`UnknownReference`, :func:`save_card`, :func:`get_card`,
                  :func:`forget_card`
the audit record  :func:`verify_chain`, :func:`count_purgeable`, :func:`purge_cutoff`,
                  :func:`purge`, :class:`PurgeError`, :func:`rebuild_counts`,
                  :func:`my_decisions`
content gaps      :func:`purge_unanswered`
the digest        :func:`build_digest`, :func:`verify_apart`, :class:`DigestError`,
                  :func:`render_markdown`, :func:`render_csv`, :func:`outcomes_chart_png`,
                  and what a card needs to show it the same way (:data:`OUTCOME_LABELS`,
                  :data:`REASONS_SCANNED`, :func:`period_title`, :func:`local_time`,
                  :func:`signed`, :func:`stale_line`, :func:`totals_line`, :func:`user_markdown`,
                  :func:`verification_line`)
================  ==========================================================================

Example:
    >>> from dialogs import records
    >>> db = records.open_db(":memory:")  # doctest: +SKIP
    >>> with records.db_lock(db):  # doctest: +SKIP
    ...     records.was_seen(db, "slack:event:Ev1")
    False
"""

from __future__ import annotations

from storage.audit import (PurgeError, count_purgeable, my_decisions, purge, purge_cutoff, rebuild_counts,
                           verify_chain)
from storage.conversations import claim_slot, forget_events, seen_event, was_seen
from storage.copy import copy_store
from storage.db import (Database, DatabaseProblem, GroupCommit, db_lock, default_db_path, integrity_problems,
                        is_postgres_url, open_db, ping, table_exists)
from storage.migrations import migrate, schema_version
from storage.digest import (OUTCOME_LABELS, REASONS_SCANNED, DigestError, build_digest, local_time,
                            outcomes_chart_png, period_title, render_csv, render_markdown, signed, stale_line,
                            totals_line, user_markdown, verification_line, verify_apart)
from storage.gaps import purge_unanswered
from storage.references import (UnknownReference, forget_card, get_card, get_reference, save_card,
                                save_reference)
from storage.references import ensure_schema as ensure_references

__all__ = [
    "open_db", "default_db_path", "Database", "DatabaseProblem", "db_lock", "GroupCommit", "ping",
    "is_postgres_url", "table_exists", "integrity_problems", "migrate", "schema_version", "copy_store",
    "was_seen", "seen_event", "forget_events", "claim_slot",
    "ensure_references", "save_reference", "get_reference", "UnknownReference", "save_card", "get_card",
    "forget_card",
    "verify_chain", "count_purgeable", "purge_cutoff", "purge", "PurgeError", "rebuild_counts", "my_decisions",
    "purge_unanswered",
    "build_digest", "verify_apart", "DigestError", "render_markdown", "render_csv", "outcomes_chart_png",
    "OUTCOME_LABELS", "REASONS_SCANNED", "period_title", "local_time", "signed", "stale_line", "totals_line",
    "user_markdown", "verification_line",
]
