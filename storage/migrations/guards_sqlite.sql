-- The audit chain's guards, SQLite: created at the first open and put back at every open
-- if dropped (storage.migrations.repair_guards). {GENESIS} is the prev_hash of the first row.

CREATE TRIGGER IF NOT EXISTS decisions_count AFTER INSERT ON decisions WHEN NEW.kind != 'purge'
BEGIN
    INSERT INTO decision_counts (day, kind, outcome, pack_id, channel, n)
    VALUES (NEW.day, NEW.kind, coalesce(NEW.outcome, ''), coalesce(NEW.pack_id, ''),
            coalesce(NEW.channel, ''), 1)
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS decisions_append_only_insert BEFORE INSERT ON decisions
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM decisions)
  OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM decisions ORDER BY seq DESC LIMIT 1),
                                   '{GENESIS}')
  OR NEW.purged_by IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'audit rows can only be appended at the head of the chain');
END;
CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
WHEN NOT (
    EXISTS (SELECT 1 FROM audit_gate WHERE purge_seq = NEW.purged_by)
    AND OLD.purged_by IS NULL AND OLD.kind != 'purge'
    AND NEW.seq = OLD.seq AND NEW.ref = OLD.ref AND NEW.kind = OLD.kind
    AND NEW.recorded_at = OLD.recorded_at AND NEW.day = OLD.day
    AND NEW.channel IS OLD.channel AND NEW.pack_id IS OLD.pack_id
    AND NEW.pack_version IS OLD.pack_version AND NEW.outcome IS OLD.outcome
    AND NEW.prev_hash = OLD.prev_hash AND NEW.body_hash = OLD.body_hash AND NEW.hash = OLD.hash
    AND NEW.user_id IS NULL AND NEW.conversation_id IS NULL
    AND NEW.answers IS NULL AND NEW.record IS NULL
)
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: they cannot be changed');
END;
CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only: they cannot be deleted');
END;
