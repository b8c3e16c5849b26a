-- The audit chain's guards, PostgreSQL: created at the first open; each is put back at open if it was dropped
-- (or disabled) and the connecting role owns the table. The functions are in 0001_postgresql.sql.

CREATE OR REPLACE TRIGGER decisions_append_only_insert BEFORE INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION infoshare_decisions_append_only();
CREATE OR REPLACE TRIGGER decisions_count AFTER INSERT ON decisions
    FOR EACH ROW EXECUTE FUNCTION infoshare_decisions_count();
CREATE OR REPLACE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION infoshare_decisions_no_update();
CREATE OR REPLACE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION infoshare_decisions_no_delete();
CREATE OR REPLACE TRIGGER decisions_no_truncate BEFORE TRUNCATE ON decisions
    FOR EACH STATEMENT EXECUTE FUNCTION infoshare_decisions_no_delete();
