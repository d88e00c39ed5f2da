-- Whether a read-model row counts for a report at position (P, H) looking from
-- the end of its as_of (the contract of the read models, and AsOf.counts of
-- domain/reporting/scope.py): its event is at or before P and committed below
-- the horizon H, it is dated before the end of as_of, and no void removes it
-- (a void counts when at or before P, below H, and itself dated before the end
-- of as_of). A void's three columns are set together, so voided_at alone says
-- whether there is one.
--
-- A plain SQL expression, IMMUTABLE, so the planner inlines it into every query
-- that calls it (its arguments are columns and parameters): the queries read as
-- the rule once, and run as if it were written out.
CREATE FUNCTION rm_counts(
    row_position bigint, row_tx bigint, row_occurred_at timestamptz,
    row_voided_at timestamptz, row_voided_position bigint, row_voided_tx bigint,
    at_position bigint, horizon bigint, report_end timestamptz
) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN row_position <= at_position AND row_tx < horizon AND row_occurred_at < report_end
    AND (row_voided_at IS NULL OR row_voided_at >= report_end OR row_voided_position > at_position
         OR row_voided_tx >= horizon);
