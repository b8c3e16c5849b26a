"""Where a channel can reach people later: conversation references and each conversation's live card.

A *conversation reference* is what a chat platform needs to post into a conversation without
being asked first (a weekly digest to a lead, say). It is saved whenever someone talks to the
bot and looked up by any of the keys it was saved under (a conversation id, a user id).

A *live card* is the one message in a conversation that shows where the walk is (the question,
the outcome, the record form, the summary). Channels that can edit a message in place remember
its message id here, so the next click updates that message instead of adding a new one.

References hold ids, the service address and the tenant, never a person's name or any message
text; live cards hold a message id and the kind of reply it shows.

Example:
    >>> db = open_db(":memory:")
    >>> ensure_schema(db)
    >>> save_reference(db, "teams", ["a:1xyz", "00000000-0000-0000-0000-000000000001"],
    ...                {"conversation": {"id": "a:1xyz"}, "serviceUrl": "https://smba.example/"})
    >>> get_reference(db, "teams", "00000000-0000-0000-0000-000000000001")["conversation"]["id"]
    'a:1xyz'
    >>> save_card(db, "teams", "a:1xyz", "1700000000001", "question")
    >>> get_card(db, "teams", "a:1xyz")
    ('1700000000001', 'question')
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable

from storage.db import Database, db_lock, open_db, transaction  # noqa: F401  (open_db: doctest)
from storage.migrations import migrate


class UnknownReference(KeyError):
    """No conversation reference is stored under that key (nobody has talked to the bot there yet)."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def ensure_schema(db: Database) -> None:
    """The store's tables are in place (:func:`storage.migrations.migrate`)."""
    migrate(db)


def save_reference(db: Database, channel: str, keys: Iterable[str], reference: dict[str, Any]) -> None:
    """Store ``reference`` under every non-empty key in ``keys`` (replacing what was there)."""
    doc = json.dumps(reference, separators=(",", ":"), sort_keys=True)
    rows = [(channel, k, doc, _now()) for k in dict.fromkeys(keys) if k]
    if not rows:
        return
    with db_lock(db), transaction(db) as conn:
        conn.executemany("insert into conversation_references (channel, key, reference, updated_at) "
                         "values (?, ?, ?, ?) on conflict (channel, key) do update set "
                         "reference = excluded.reference, updated_at = excluded.updated_at", rows)


def get_reference(db: Database, channel: str, key: str) -> dict[str, Any]:
    """The reference stored under ``key``; raises :class:`UnknownReference` when there is none."""
    with db_lock(db):
        row = db.execute("select reference from conversation_references where channel = ? and key = ?",
                         [channel, key]).fetchone()
    if row is None:
        raise UnknownReference(key)
    return json.loads(row[0])


def save_card(db: Database, channel: str, conversation: str, activity_id: str, kind: str) -> None:
    """Remember ``activity_id`` as the live card of ``conversation``."""
    with db_lock(db), transaction(db) as conn:
        conn.execute("insert into live_cards (channel, conversation, activity_id, kind, updated_at) "
                     "values (?, ?, ?, ?, ?) on conflict (channel, conversation) do update set "
                     "activity_id = excluded.activity_id, kind = excluded.kind, updated_at = excluded.updated_at",
                     [channel, conversation, activity_id, kind, _now()])


def get_card(db: Database, channel: str, conversation: str) -> tuple[str, str] | None:
    """``(activity_id, kind)`` of the live card of ``conversation``, or None."""
    with db_lock(db):
        row = db.execute("select activity_id, kind from live_cards where channel = ? and conversation = ?",
                         [channel, conversation]).fetchone()
    return (row[0], row[1]) if row else None


def forget_card(db: Database, channel: str, conversation: str) -> None:
    """The conversation has no live card any more (the decision is finished)."""
    with db_lock(db), transaction(db) as conn:
        conn.execute("delete from live_cards where channel = ? and conversation = ?", [channel, conversation])
