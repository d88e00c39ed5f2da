-- A programme's newest event. Under row-level security `max(global_position)`
-- (the head of the store in /v1/status and in every report's position) could
-- only walk the primary key backwards past every other programme's newer
-- events, or read the whole table for a programme that has been quiet:
-- 24-310 ms a report on the bench store, 0.1 ms with this index. It costs
-- appends one more index entry each (bench/RESULTS.md).
CREATE INDEX events_programme_position_idx ON events (programme_id, global_position);

-- The worker builds a programme's kept reports a few hundred participants at a
-- time (bounded memory), reading their facts by participant.
CREATE INDEX report_facts_participant_idx ON report_facts (programme_id, participant_id);
