-- Every write to report_facts (a new row, or a void marking one) takes the
-- next number of one sequence, so an API process can keep a programme's facts
-- in memory and read only what changed since. Writes to a projection's table
-- happen under its advisory lock, one transaction at a time, so these numbers
-- become visible in order: a reader never passes one that commits late.
CREATE SEQUENCE report_facts_changes;
ALTER TABLE report_facts ADD COLUMN changed bigint NOT NULL DEFAULT nextval('report_facts_changes');
CREATE INDEX report_facts_changed_idx ON report_facts (programme_id, changed);
GRANT USAGE ON SEQUENCE report_facts_changes TO peoplelinks_app;
