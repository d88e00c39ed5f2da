-- Whether a read-model row counts for a report at position (P, H) looking from the end of as_of
-- (domain.reporting.scope.AsOf.counts, with the transaction horizon H beside the position P): its event
-- is at or before P and committed below H, its date is on or before as_of (occurred_at before the first
-- instant of the day after), and no void counts yet (a void counts when it too is at or before P and
-- below H, and its own date is on or before as_of).
--
-- One expression (RETURN), immutable and touching no table: the planner inlines it into each query, so
-- it costs what the written-out predicate costs, and a rebuild that swaps tables has nothing bound to
-- the tables it drops.
CREATE FUNCTION rm_counts(
    row_position bigint,
    row_tx bigint,
    row_occurred_at timestamptz,
    row_voided_at timestamptz,
    row_voided_position bigint,
    row_voided_tx bigint,
    at_position bigint,
    at_horizon bigint,
    at_end timestamptz
) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN row_position <= at_position AND row_tx < at_horizon AND row_occurred_at < at_end
    AND NOT coalesce(
        row_voided_at < at_end AND row_voided_position <= at_position AND row_voided_tx < at_horizon, false
    );
