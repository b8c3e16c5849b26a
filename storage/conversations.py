"""Conversation state, saved after every turn so a restarted process resumes at the same question.

A conversation is keyed by channel, conversation id and user id. Its state is a JSON document
(see :class:`dialogs.engine.State`); ``version`` counts saves and guards against two
writers saving over each other (compare-and-swap).

Example:
    >>> db = open_db(":memory:"); ensure_schema(db)
    >>> save_state(db, "console:local:u1", {"phase": "walk"}, expected_version=0)
    1
    >>> load_state(db, "console:local:u1")
    ({'phase': 'walk'}, 1)
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from storage.db import Database, db_lock, open_db, transaction  # noqa: F401  (open_db for the doctest)
from storage.migrations import migrate


class ConcurrentUpdate(RuntimeError):
    """Another turn saved this conversation first; the caller reloads and treats its event as stale."""


def ensure_schema(db: Database) -> None:
    """The store's tables are in place (:func:`storage.migrations.migrate`)."""
    migrate(db)


def load_state(db: Database, conv_id: str) -> tuple[dict[str, Any] | None, int]:
    """The saved state and its version, or ``(None, 0)`` for a new conversation."""
    row = db.execute("select state, version from conversations where id = ?", [conv_id]).fetchone()
    if row is None:
        return None, 0
    return json.loads(row[0]), row[1]


def save_state(db: Database, conv_id: str, state: dict[str, Any], expected_version: int) -> int:
    """Save ``state`` if nobody saved since ``expected_version``; returns the new version.

    The engine calls it inside the turn's transaction, which also holds the turn's delivery key
    (:func:`claim_event`): the turn and the record that it was processed commit together or
    not at all.
    """
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    doc = json.dumps(state, separators=(",", ":"), sort_keys=True)
    with transaction(db) as conn:
        if expected_version == 0:
            cur = conn.execute("insert into conversations (id, state, version, updated_at) "
                               "values (?, ?, 1, ?) on conflict do nothing", [conv_id, doc, now])
        else:
            cur = conn.execute("update conversations set state = ?, version = version + 1, updated_at = ? "
                               "where id = ? and version = ?", [doc, now, conv_id, expected_version])
        if cur.rowcount != 1:
            raise ConcurrentUpdate(conv_id)
    return expected_version + 1


_CLAIM = "insert into processed_events (key, seen_at) values (?, ?) on conflict do nothing"


def was_seen(db: Database, key: str) -> bool:
    """True if the delivery key was remembered before (changes nothing)."""
    return db.execute("select 1 from processed_events where key = ?", [key]).fetchone() is not None


def claim_event(db: Database, key: str) -> bool:
    """Remember a delivery key inside the caller's transaction; False if it was there already.

    The engine claims a turn's key first, in the turn's transaction: the key commits with the
    turn's writes, or is undone with them (so a turn that fails is processed when redelivered).
    """
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    cur = db.conn.execute(_CLAIM, [key, now])
    return cur.rowcount == 1


def seen_event(db: Database, key: str) -> bool:
    """Remember a delivery key (event id, action on a message, activity id); True if seen before."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with transaction(db) as conn:
        cur = conn.execute(_CLAIM, [key, now])
    return cur.rowcount == 0


def claim_slot(db: Database, key: str) -> bool:
    """True for the first caller, among every server on this store, to claim ``key`` (a
    scheduled job's slot: ``job:digest:2026-12-07T09:00:00+00:00``); False for the rest."""
    with db_lock(db):
        return not seen_event(db, key)


EVENT_KEY_DAYS = 7
"""Delivery keys are kept this long: Slack and Teams redeliver within minutes, and a click on an
older message is refused anyway by its token (the engine's stale check)."""


def forget_events(db: Database, older_than_days: int = EVENT_KEY_DAYS,
                  now: datetime | None = None) -> int:
    """Delete delivery keys seen more than ``older_than_days`` ago; returns how many."""
    cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
    with transaction(db) as conn:
        return conn.execute("delete from processed_events where seen_at < ?", [cutoff]).rowcount
