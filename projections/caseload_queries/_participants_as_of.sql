-- The participants existing as of a report or view (enrolled, the enrolment counted), of the cohort and
-- counselor asked for (NULL: any), with their counselor as of then: the latest counted counselor_assigned
-- (ties: the higher position), else the enrolment's (domain.reporting.snapshot.counselor_as_of).
-- Parameters of every query that includes it: $1 programme, $2 position P, $3 horizon H, $4 the end of
-- as_of (the first instant of the next day in the programme's zone), $5 cohort, $6 counselor.
enrolment AS (
    -- A stream's creation event is its first: a later row naming itself an enrolment is ignored (the
    -- NOT EXISTS). The conditions apply to the table itself, not to a DISTINCT ON's output, so that the
    -- planner sees its statistics: estimated from a subquery, a report's 5,000 participants were 131, and
    -- every join after chose plans for a handful of rows.
    SELECT e.participant_id, e.counselor_id, e.cohort
    FROM rm_participants e
    WHERE e.programme_id = $1
        AND rm_counts(e.position, e.tx, e.occurred_at, e.voided_at, e.voided_position, e.voided_tx, $2, $3, $4)
        AND ($5::text IS NULL OR e.cohort = $5::text)
        AND NOT EXISTS (
            SELECT 1 FROM rm_participants earlier
            WHERE earlier.programme_id = $1 AND earlier.participant_id = e.participant_id
                AND earlier.position < e.position
        )
),
assigned AS (
    SELECT DISTINCT ON (participant_id) participant_id, counselor_id
    FROM rm_counselor_assignments
    WHERE programme_id = $1
        AND rm_counts(position, tx, occurred_at, voided_at, voided_position, voided_tx, $2, $3, $4)
    ORDER BY participant_id, occurred_at DESC, position DESC
),
participant AS (
    SELECT e.participant_id, coalesce(a.counselor_id, e.counselor_id) AS counselor_id, e.cohort
    FROM enrolment e
    LEFT JOIN assigned a USING (participant_id)
    WHERE $6::uuid IS NULL OR coalesce(a.counselor_id, e.counselor_id) = $6::uuid
)
