"""The chain itself: the schema, the canonical form and hashes of a row, appending, reading.

How a row is hashed (version ``infoshare-audit-v1``):

* ``body_hash`` = SHA-256 of the canonical JSON array
  ``[user_id, conversation_id, answers, record]`` where ``answers`` and ``record`` are the
  canonical JSON text stored in the row (sorted keys, no spaces, UTF-8).
* ``hash`` = SHA-256 of the canonical JSON array
  ``["infoshare-audit-v1", seq, ref, kind, recorded_at, day, channel, pack_id, pack_version,
  outcome, prev_hash, body_hash]``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from json.encoder import encode_basestring
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from content.loader import OUTCOMES  # noqa: F401  (the outcomes a row may hold: said once, by the content)
from storage.db import Database, db_lock, dialect, transaction
from storage.migrations import GUARDS, migrate, repair_guards
from storage.postgres import CHAIN_LOCK
from storage.redact import redact

LONDON = ZoneInfo("Europe/London")
GENESIS = "0" * 64
"""``prev_hash`` of the first row."""
HASH_VERSION = "infoshare-audit-v1"
KINDS = ("decision", "left_without_recording", "purge")
REF_PREFIX = "ISD"
TRIGGERS = GUARDS["sqlite"]
"""The guard triggers of a SQLite store (``storage.migrations.GUARDS`` has both engines')."""

_HEAD_COLUMNS = ("seq", "ref", "kind", "recorded_at", "day", "channel", "pack_id",
                 "pack_version", "outcome", "prev_hash", "body_hash")
_COLUMNS = ("seq", "ref", "kind", "recorded_at", "day", "user_id", "channel", "conversation_id",
            "pack_id", "pack_version", "outcome", "answers", "record", "prev_hash", "body_hash",
            "hash", "purged_by")
_DETAIL_COLUMNS = ("user_id", "conversation_id", "answers", "record")



class AuditError(Exception):
    """Base class for audit store errors."""


class InvalidDecision(AuditError):
    """A row handed to :func:`append_decision` is missing a field or has a value it cannot store."""


class PurgeError(AuditError):
    """A purge was asked for with a retention period that makes no sense."""


@dataclass
class VerifyResult:
    """What :func:`verify_chain` found.

    ``ok`` is True only when every row's hashes recompute and link; ``first_bad`` is the ``seq``
    of the first row that does not (``None`` when ok); ``problem`` says what is wrong with it;
    ``warnings`` lists things that do not break the chain (e.g. a dropped trigger).
    """

    ok: bool
    rows: int
    head: str
    first_bad: int | None = None
    problem: str = ""
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "rows": self.rows, "head": self.head, "first_bad": self.first_bad,
                "problem": self.problem, "warnings": list(self.warnings)}


def _conn(db: Database) -> Any:
    return db.conn


def ensure_schema(db: Database) -> None:
    """The audit tables, indexes and triggers are in place (:mod:`storage.migrations`).

    A dropped trigger is put back, so opening the store repairs the guard; what was changed
    while it was missing is still found by :func:`verify_chain`.
    """
    migrate(db)
    repair_guards(db)
    with db_lock(db), transaction(db) as conn:
        if conn.execute("SELECT 1 FROM decision_counts LIMIT 1").fetchone() is None \
                and conn.execute("SELECT 1 FROM decisions LIMIT 1").fetchone() is not None:
            conn.execute(_FILL_COUNTS)  # a store from before the table existed, or a bulk load


def lock_chain(db: Database, conn: Any) -> None:
    """Inside a transaction that appends to the chain: hold the chain until it commits, so two
    replicas never read the same head. SQLite's ``BEGIN IMMEDIATE`` does it already; PostgreSQL
    takes a transaction-scoped advisory lock."""
    if dialect(db) == "postgresql":
        conn.execute("SELECT pg_advisory_xact_lock(?)", [CHAIN_LOCK])


_COUNT_SQL = ("SELECT day, kind, coalesce(outcome, ''), coalesce(pack_id, ''), coalesce(channel, ''), "
              "count(*) FROM decisions WHERE kind != 'purge' "
              "GROUP BY day, kind, outcome, pack_id, channel")
_FILL_COUNTS = f"INSERT INTO decision_counts (day, kind, outcome, pack_id, channel, n) {_COUNT_SQL}"


def rebuild_counts(db: Database) -> None:
    """Recompute ``decision_counts`` from the decisions (after :func:`verify_chain` says they differ)."""
    with db_lock(db), transaction(db) as conn:
        lock_chain(db, conn)
        conn.execute("DELETE FROM decision_counts")
        conn.execute(_FILL_COUNTS)


def _counts_problem(conn: Any) -> str:
    """'' when ``decision_counts`` matches the decisions, else the first day that differs."""
    counted: dict[tuple, int] = {}
    for *key, n in conn.execute(_COUNT_SQL):
        key = tuple(key)
        counted[key] = counted.get(key, 0) + n
    kept = {tuple(key): n for *key, n in conn.execute(
        "SELECT day, kind, outcome, pack_id, channel, n FROM decision_counts")}
    differ = sorted(k[0] for k in set(counted) | set(kept) if counted.get(k, 0) != kept.get(k, 0))
    return (f"the digest's summary counts for {differ[0]} do not match the record "
            "(rebuild them with `infoshare audit recount`)") if differ else ""


# --- canonical form and hashes ---------------------------------------------------------------

def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no spaces and UTF-8 characters as they are: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_enc = encode_basestring  # JSON string literal, UTF-8 kept (as ensure_ascii=False)


def _j(value: str | int | None) -> str:
    if value is None:
        return "null"
    return str(value) if type(value) is int else _enc(value)


def body_text(user_id: str | None, conversation_id: str | None, answers: str | None,
              record: str | None) -> str:
    """Canonical JSON array of the detail fields a purge removes (same text as ``json.dumps``)."""
    return f"[{_j(user_id)},{_j(conversation_id)},{_j(answers)},{_j(record)}]"


def body_hash(user_id: str | None, conversation_id: str | None, answers: str | None,
              record: str | None) -> str:
    """SHA-256 over the detail fields that a purge removes (answers and record as stored text)."""
    return hashlib.sha256(body_text(user_id, conversation_id, answers, record).encode("utf-8")).hexdigest()


def head_text(seq: int, ref: str, kind: str, recorded_at: str, day: str, channel: str | None,
              pack_id: str | None, pack_version: str | None, outcome: str | None,
              prev_hash: str, body_hash: str) -> str:
    """Canonical JSON array ``[HASH_VERSION, seq, ref, ..., prev_hash, body_hash]`` that ``hash`` covers."""
    return (f'["{HASH_VERSION}",{int(seq)},{_enc(ref)},{_enc(kind)},{_enc(recorded_at)},{_enc(day)},'
            f"{_j(channel)},{_j(pack_id)},{_j(pack_version)},{_j(outcome)},{_enc(prev_hash)},"
            f"{_enc(body_hash)}]")


def row_hash(row: dict[str, Any]) -> str:
    """SHA-256 of a row: its kept fields, ``prev_hash`` and ``body_hash`` (see the module doc)."""
    return hashlib.sha256(head_text(*(row[c] for c in _HEAD_COLUMNS)).encode("utf-8")).hexdigest()


def utc_iso(moment: datetime) -> str:
    """``2026-11-25T09:00:00Z``: the fixed-width UTC form stored in ``recorded_at``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def london_day(moment: datetime) -> str:
    """The Europe/London calendar date of an instant, as ``YYYY-MM-DD``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LONDON).date().isoformat()


def seal(row: dict[str, Any]) -> dict[str, Any]:
    """Fill in ``body_hash`` (unless given) and ``hash`` of a row whose other columns are set."""
    if not row.get("body_hash"):
        row["body_hash"] = body_hash(row["user_id"], row["conversation_id"], row["answers"], row["record"])
    row["hash"] = row_hash(row)
    return row


def chain_row(fields: dict[str, Any], seq: int, prev_hash: str, recorded_at: datetime) -> dict[str, Any]:
    """The stored form of a cleaned row at position ``seq`` after ``prev_hash`` (hashes included).

    Used by :func:`append_decision` and by bulk loads (``bench/``) that compute the chain in Python.
    ``fields`` holds ``answers`` and ``record`` as Python values.
    """
    stamp = utc_iso(recorded_at)
    return seal({
        "seq": seq,
        "ref": f"{REF_PREFIX}-{stamp[:4]}-{seq:06d}",
        "kind": fields["kind"],
        "recorded_at": stamp,
        "day": london_day(recorded_at),
        "user_id": fields.get("user_id"),
        "channel": fields.get("channel"),
        "conversation_id": fields.get("conversation_id"),
        "pack_id": fields.get("pack_id"),
        "pack_version": fields.get("pack_version"),
        "outcome": fields.get("outcome"),
        "answers": canonical_json(fields.get("answers") or []),
        "record": canonical_json(fields.get("record") or {}),
        "prev_hash": prev_hash,
        "purged_by": None,
    })


# --- appending ------------------------------------------------------------------------------

def _redact_value(value: Any, removed: dict[str, int]) -> Any:
    if isinstance(value, str):
        result = redact(value)
        for kind, n in result.removed.items():
            if n:
                removed[kind] = removed.get(kind, 0) + int(n)
        return result.text
    if isinstance(value, list):
        return [_redact_value(v, removed) for v in value]
    if isinstance(value, dict):
        return {k: _redact_value(v, removed) for k, v in value.items()}
    return value


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Check a row for :func:`append_decision` and return the fields to store."""
    if not isinstance(row, dict):
        raise InvalidDecision("a decision must be a dict")
    kind = row.get("kind", "decision")
    if kind not in ("decision", "left_without_recording"):
        raise InvalidDecision(f"kind must be 'decision' or 'left_without_recording', not {kind!r}")
    for key in ("user_id", "channel", "pack_id"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise InvalidDecision(f"{key} is required")
    outcome = row.get("outcome")
    if kind == "decision" and outcome not in OUTCOMES:
        raise InvalidDecision(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    if kind == "left_without_recording" and outcome is not None and outcome not in OUTCOMES:
        raise InvalidDecision(f"outcome must be one of {', '.join(OUTCOMES)} or None, not {outcome!r}")
    answers = row.get("answers") or []
    if not isinstance(answers, (list, tuple)) or not all(
            isinstance(a, (list, tuple)) and len(a) == 2 and all(isinstance(x, str) for x in a)
            for a in answers):
        raise InvalidDecision("answers must be a list of [node_id, answer] pairs of strings")
    record = row.get("record") or {}
    if not isinstance(record, dict):
        raise InvalidDecision("record must be a dict")
    if kind == "left_without_recording" and not str(record.get("reason") or "").strip():
        raise InvalidDecision("leaving without recording needs a reason (record['reason'])")
    removed: dict[str, int] = {}
    record = {k: _redact_value(v, removed) for k, v in record.items()}
    if removed:
        record["redacted_at_store"] = dict(sorted(removed.items()))
    try:
        canonical_json(record)
    except (TypeError, ValueError) as exc:
        raise InvalidDecision(f"record cannot be stored as JSON: {exc}") from None
    return {
        "kind": kind,
        "user_id": row["user_id"],
        "channel": row["channel"],
        "conversation_id": row.get("conversation_id"),
        "pack_id": row["pack_id"],
        "pack_version": row.get("pack_version"),
        "outcome": outcome,
        "answers": [list(a) for a in answers],
        "record": record,
    }


def _insert(conn: Any, row: dict[str, Any]) -> None:
    conn.execute(
        f"INSERT INTO decisions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
        [row[c] for c in _COLUMNS])


def _head(conn: Any) -> tuple[int, str]:
    last = conn.execute("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
    return (last[0], last[1]) if last else (0, GENESIS)


def append_decision(db: Database, row: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """Append one decision to the chain and return it as stored, only after it is committed.

    ``row`` has ``user_id``, ``channel``, ``conversation_id``, ``pack_id``, ``pack_version``,
    ``answers`` (``[[node_id, answer], ...]``), ``outcome``, ``record`` (a dict) and ``kind``
    (``"decision"`` or ``"left_without_recording"``, which needs ``record["reason"]``).
    Free text in ``record`` is run through ``storage.redact`` before storage.
    ``seq``, ``ref``, ``recorded_at``, ``prev_hash`` and ``hash`` are assigned here.

    Raises:
        InvalidDecision: a field is missing or malformed; nothing is written.
    """
    fields = _clean(row)
    with db_lock(db):  # one thread at a time on a shared connection
        with transaction(db) as conn:
            lock_chain(db, conn)
            seq, prev = _head(conn)
            stored = chain_row(fields, seq + 1, prev, now or datetime.now(timezone.utc))
            _insert(conn, stored)
        # COMMIT has returned: the row is on disk (synchronous=FULL) before anyone is told.
    return _decode(stored)


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["answers"] = json.loads(row["answers"]) if row["answers"] is not None else None
    out["record"] = json.loads(row["record"]) if row["record"] is not None else None
    return out


def _rows(conn: Any, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    cur = conn.execute(sql, list(params))
    names = [d[0] for d in cur.description]
    return [_decode(dict(zip(names, r))) for r in cur.fetchall()]


# --- reading --------------------------------------------------------------------------------

def get_decision(db: Database, ref: str) -> dict[str, Any] | None:
    """The stored row with this reference (``ISD-2026-000042``), or None."""
    with db_lock(db):
        rows = _rows(_conn(db), f"SELECT {', '.join(_COLUMNS)} FROM decisions WHERE ref = ?", [ref])
    return rows[0] if rows else None


def my_decisions(db: Database, user_id: str, channel: str, limit: int = 10) -> list[dict[str, Any]]:
    """The newest ``limit`` rows recorded by ``user_id`` on ``channel`` (never anyone else's)."""
    if not user_id or not channel:
        return []
    with db_lock(db):
        return _rows(_conn(db),
                     f"SELECT {', '.join(_COLUMNS)} FROM decisions WHERE user_id = ? AND channel = ? "
                     "AND kind != 'purge' ORDER BY seq DESC LIMIT ?", [user_id, channel, int(limit)])


def chain_head(db: Database) -> str:
    """The hash of the newest row (``GENESIS``, 64 zeros, for an empty store)."""
    with db_lock(db):
        return _head(_conn(db))[1]
