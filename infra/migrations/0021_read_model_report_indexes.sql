-- Indexes for the report queries over a whole programme (bench/reads.py, issue 9).
--
-- The response-rate dashboard grouped by attempt numbers again only the counted follow-ups of an outreach
-- that does not count at the report's position: it finds those few rows through indexes (voided rows,
-- rows past P or H, rows dated after as_of) and walks their follow-ups down, instead of numbering every
-- thread of the programme again (a year's dashboard by attempt ran into the 30 s statement timeout).
--
-- position and tx grow with the table's physical order (the projection inserts in store order), so BRIN
-- indexes, a few pages each and almost free to keep up, find the rows past a report's position.
CREATE INDEX ON rm_outreach (programme_id, follow_up_of) WHERE follow_up_of IS NOT NULL;
CREATE INDEX ON rm_outreach (programme_id) WHERE voided_at IS NOT NULL;
CREATE INDEX ON rm_outreach USING brin (position);
CREATE INDEX ON rm_outreach USING brin (tx);

-- Planner statistics that keep up with a catch-up. With the default scale factor (10%), a table that grew
-- from a few thousand rows to hundreds of thousands in one catch-up is planned for a fraction of its rows
-- until autovacuum's next look, and the first reports after it chose nested loops over hash joins (3–9 s
-- instead of a fraction of a second). The worker is not the tables' owner and may not ANALYZE them itself;
-- a rebuild (run as the owner) analyses its fresh tables before the swap and carries these settings over.
ALTER TABLE rm_outreach SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE rm_responses SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000);
ALTER TABLE rm_participants SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 100);
ALTER TABLE rm_hires SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 100);
ALTER TABLE rm_applications SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 500);
