-- The application role for `infoshare serve` on PostgreSQL: it records, reads and purges, and
-- cannot change or delete a decision. Run once, as the role that owns the tables (the one that
-- ran `infoshare db migrate`), after the first migration:
--
--     psql "postgresql://owner@db-host/infoshare" -v app_password="'a long random secret'" \
--          -f storage/migrations/roles_postgresql.sql
--
-- Then run `infoshare serve` with INFOSHARE_DB=postgresql://infoshare_app:...@db-host/infoshare,
-- and `infoshare db migrate`, `audit recount` and `db copy` with the owner's URL.

CREATE ROLE infoshare_app LOGIN PASSWORD :app_password;
GRANT USAGE ON SCHEMA public TO infoshare_app;

-- Working state: conversations, delivery keys, where to reach people, content gaps.
GRANT SELECT, INSERT, UPDATE, DELETE
    ON conversations, processed_events, conversation_references, live_cards, unanswered, topic_counts
    TO infoshare_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO infoshare_app;

-- The chain: append and read. UPDATE only of the detail columns a purge empties (and the
-- guard trigger allows even that only through a recorded purge); no DELETE, no TRUNCATE.
GRANT SELECT, INSERT ON decisions TO infoshare_app;
GRANT UPDATE (user_id, conversation_id, answers, record, purged_by) ON decisions TO infoshare_app;
GRANT SELECT, INSERT, DELETE ON audit_gate TO infoshare_app;
GRANT SELECT, INSERT ON audit_checks TO infoshare_app;
-- Kept by a SECURITY DEFINER trigger: the application only reads them.
GRANT SELECT ON decision_counts, audit_sequence, schema_migrations TO infoshare_app;
