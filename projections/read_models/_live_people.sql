-- A fragment (read_models/dashboard.sql's statements, through _live_units.sql, and the dashboard's query,
-- response_rate_queries/response_rates_tallied.sql):
-- the participants of a CTE `people` (programme_id, participant_id) whose enrolment is not voided, with the
-- counselor and cohort the tallies count them under, as `live_people`.
live_people AS MATERIALIZED (
    -- A participant's enrolment is their stream's first row (as in the reports); their counselor the latest
    -- assignment not voided (ties: the higher position), else the enrolment's.
    SELECT p.programme_id, p.participant_id, coalesce(a.counselor_id, e.counselor_id) AS counselor_id, e.cohort
    FROM people p
    CROSS JOIN LATERAL (
        SELECT e.counselor_id, e.cohort, e.voided_at
        FROM rm_participants e
        WHERE e.programme_id = p.programme_id AND e.participant_id = p.participant_id
        ORDER BY e.position
        LIMIT 1
    ) e
    LEFT JOIN LATERAL (
        SELECT a.counselor_id
        FROM rm_counselor_assignments a
        WHERE a.programme_id = p.programme_id AND a.participant_id = p.participant_id AND a.voided_at IS NULL
        ORDER BY a.occurred_at DESC, a.position DESC
        LIMIT 1
    ) a ON true
    WHERE e.voided_at IS NULL
)
