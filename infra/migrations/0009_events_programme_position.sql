-- A programme's newest event. Under row-level security `max(global_position)`
-- (the head of the store in /v1/status and in every report's position) could
-- only walk the primary key backwards past every other programme's newer
-- events, or read the whole table for a programme that has been quiet:
-- 24-310 ms a report on the bench store, 0.1 ms with this index. It costs
-- appends one more index entry each (bench/RESULTS.md).
CREATE INDEX events_programme_position_idx ON events (programme_id, global_position);
