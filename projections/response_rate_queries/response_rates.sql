-- The response-rate dashboard (reports.md, Response rates; domain.reporting.response_rates is the
-- definition): one unit per counted outreach sent in [$7, $8), answered when a counted response to it
-- came by as_of. One row for all of them (grouped = false) and, when $9 names a grouping, one per key.
-- $7 the period's first instant, $8 the earlier of the period's end and as_of's end, $9 the grouping
-- (channel, purpose, attempt, counselor, cohort, week or NULL), $10 the programme's time zone.
WITH RECURSIVE
{participants_as_of},
sent AS (
    SELECT o.participant_id, o.outreach_id, o.thread_root, o.attempt, o.channel, o.purpose, o.occurred_at,
        p.counselor_id, p.cohort
    FROM rm_outreach o
    JOIN participant p USING (participant_id)
    WHERE o.programme_id = $1 AND o.occurred_at >= $7 AND o.occurred_at < $8
        AND rm_counts(o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position, o.voided_tx, $2, $3, $4)
),
reply AS (
    -- The earliest counted response of each outreach, and whether any counted response was positive. Every
    -- counted response of the programme from the period's start (the append rules refuse a response dated
    -- before its outreach), grouped once and hash-joined to the outreach: looked up outreach by outreach,
    -- a year's 400,000 cost 400,000 index probes.
    SELECT r.participant_id, r.outreach_id, min(r.occurred_at) AS first_at, bool_or(r.outcome = 'positive') AS positive
    FROM rm_responses r
    WHERE r.programme_id = $1 AND r.occurred_at >= $7
        AND rm_counts(r.position, r.tx, r.occurred_at, r.voided_at, r.voided_position, r.voided_tx, $2, $3, $4)
    GROUP BY r.participant_id, r.outreach_id
),
{attempts},
unit AS (
    SELECT
        CASE $9::text
            WHEN 'channel' THEN s.channel
            WHEN 'purpose' THEN s.purpose
            WHEN 'attempt' THEN coalesce(n.attempt, s.attempt)::text
            WHEN 'counselor' THEN s.counselor_id::text
            WHEN 'cohort' THEN coalesce(s.cohort, 'unknown')
            WHEN 'week' THEN to_char((s.occurred_at AT TIME ZONE $10::text)::date, 'IYYY-"W"IW')
        END AS key,
        -- Seconds as an exact numeric, then one rounding to double and one division, as in Python.
        extract(epoch FROM r.first_at - s.occurred_at)::float8 / 86400 AS days,
        coalesce(r.positive, false) AS positive
    FROM sent s
    LEFT JOIN reply r USING (participant_id, outreach_id)
    LEFT JOIN renumbered n USING (participant_id, outreach_id)
)
SELECT grouped, key, sent, answered, positive,
    -- The median as measures.median takes it, the mean of the two middle values of the sorted delays (one
    -- value when the count is odd): one sort a group. percentile_cont would interpolate as lo + (hi - lo) / 2,
    -- which may differ in the last bit; two percentile_disc (upwards and downwards) sorted twice.
    (sorted[(cardinality(sorted) + 1) / 2] + sorted[cardinality(sorted) / 2 + 1]) / 2 AS median_days
FROM (
    SELECT
        GROUPING(key) = 0 AS grouped,
        key,
        count(*) AS sent,
        count(days) AS answered,
        count(*) FILTER (WHERE positive) AS positive,
        array_agg(days ORDER BY days) FILTER (WHERE days IS NOT NULL) AS sorted
    FROM unit
    GROUP BY GROUPING SETS ((), (key))
) g
