-- infoshare schema, version 1, SQLite: conversations, delivery keys, references, live cards,
-- content gaps and the audit chain. Every statement is IF NOT EXISTS, so a store made before
-- migrations were numbered takes this version without change.

CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, state TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS processed_events (key TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS processed_events_seen_at ON processed_events (seen_at);

CREATE TABLE IF NOT EXISTS conversation_references (
    channel TEXT NOT NULL, key TEXT NOT NULL, reference TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (channel, key));
CREATE TABLE IF NOT EXISTS live_cards (
    channel TEXT NOT NULL, conversation TEXT NOT NULL, activity_id TEXT NOT NULL,
    kind TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (channel, conversation));

CREATE TABLE IF NOT EXISTS unanswered (
    id INTEGER PRIMARY KEY, asked_at TEXT NOT NULL, pack_id TEXT NOT NULL, channel TEXT NOT NULL,
    question TEXT NOT NULL, removed TEXT NOT NULL, name_warning INTEGER NOT NULL, best_topic TEXT,
    score REAL);
CREATE INDEX IF NOT EXISTS unanswered_asked_at ON unanswered (asked_at);
CREATE TABLE IF NOT EXISTS topic_counts (
    day TEXT NOT NULL, pack_id TEXT NOT NULL, topic TEXT NOT NULL, channel TEXT NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (day, pack_id, topic, channel));

CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ref TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    recorded_at TEXT NOT NULL,          -- UTC, 'YYYY-MM-DDTHH:MM:SSZ'
    day TEXT NOT NULL,                  -- the Europe/London date of recorded_at
    user_id TEXT,                       -- platform id (Slack U..., Teams AAD id); NULL once purged
    channel TEXT,
    conversation_id TEXT,
    pack_id TEXT,
    pack_version TEXT,
    outcome TEXT,
    answers TEXT,                       -- canonical JSON [[node_id, answer], ...]
    record TEXT,                        -- canonical JSON object
    prev_hash TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    purged_by INTEGER                   -- seq of the purge row that emptied the detail
);
CREATE INDEX IF NOT EXISTS decisions_by_day ON decisions (day, kind, outcome, pack_id, channel);
CREATE INDEX IF NOT EXISTS decisions_by_outcome ON decisions (outcome, day);
CREATE INDEX IF NOT EXISTS decisions_by_user ON decisions (user_id, channel, seq);
CREATE TABLE IF NOT EXISTS audit_gate (purge_seq INTEGER NOT NULL);
-- Per-day counts kept by a trigger, so a digest over any range reads one row per day and kind
-- rather than every decision. Derived data: verify_chain checks it against the decisions.
CREATE TABLE IF NOT EXISTS decision_counts (
    day TEXT NOT NULL, kind TEXT NOT NULL, outcome TEXT NOT NULL, pack_id TEXT NOT NULL,
    channel TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (day, kind, outcome, pack_id, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit_checks (
    checked_at TEXT NOT NULL, rows INTEGER NOT NULL, head TEXT NOT NULL,
    ok INTEGER NOT NULL, first_bad INTEGER, problem TEXT
);
