"""The audit record: an append-only, tamper-evident chain of decisions (SQLite or PostgreSQL).

Every decision (share or not) and every conversation left without recording is one row of
the ``decisions`` table. Each row carries the hash of the row before it (``prev_hash``) and its
own SHA-256 (``hash``), so :func:`verify_chain` finds an edited, deleted, reordered or inserted
row even when the triggers that refuse ``UPDATE`` and ``DELETE`` were dropped first.

Example:
    >>> from storage.db import open_db
    >>> db = open_db(":memory:")
    >>> ensure_schema(db)
    >>> stored = append_decision(db, {
    ...     "user_id": "U0123ABCD", "channel": "slack", "conversation_id": "C1-1700000000.1",
    ...     "pack_id": "hmg-2018", "pack_version": "1.0.0",
    ...     "answers": [["immediate_risk", "no"], ["purpose", "yes"]],
    ...     "outcome": "share", "kind": "decision",
    ...     "record": {"categories": ["health"], "recipient": "school nurse", "reason": "..."},
    ... })
    >>> stored["ref"], stored["seq"]
    ('ISD-...-000001', 1)
    >>> verify_chain(db).ok
    True

:mod:`~storage.audit.chain` holds the chain (schema, hashes, appending, reading; how a row is
hashed is written there), :mod:`~storage.audit.verify` checks it, :mod:`~storage.audit.retention`
purges old detail.

A purge (:func:`purge`) empties the detail fields of old rows but keeps ``body_hash``, so every
row hash can still be recomputed; the purge is itself a chain row (kind ``purge``) that commits
to exactly which rows it emptied.
"""

from storage.audit.chain import (
    AuditError,
    GENESIS,
    HASH_VERSION,
    InvalidDecision,
    KINDS,
    LONDON,
    OUTCOMES,
    PurgeError,
    REF_PREFIX,
    TRIGGERS,
    VerifyResult,
    append_decision,
    body_hash,
    body_text,
    canonical_json,
    chain_head,
    chain_row,
    ensure_schema,
    get_decision,
    head_text,
    london_day,
    my_decisions,
    rebuild_counts,
    row_hash,
    seal,
    utc_iso,
)
from storage.audit.retention import PURGE_BATCH, count_purgeable, purge, purge_cutoff
from storage.audit.verify import last_check, log_check, verify_chain

__all__ = [
    "AuditError",
    "GENESIS",
    "HASH_VERSION",
    "InvalidDecision",
    "KINDS",
    "LONDON",
    "OUTCOMES",
    "PURGE_BATCH",
    "PurgeError",
    "REF_PREFIX",
    "TRIGGERS",
    "VerifyResult",
    "append_decision",
    "body_hash",
    "body_text",
    "canonical_json",
    "chain_head",
    "chain_row",
    "count_purgeable",
    "ensure_schema",
    "get_decision",
    "head_text",
    "last_check",
    "log_check",
    "london_day",
    "my_decisions",
    "purge",
    "purge_cutoff",
    "rebuild_counts",
    "row_hash",
    "seal",
    "utc_iso",
    "verify_chain",
]
