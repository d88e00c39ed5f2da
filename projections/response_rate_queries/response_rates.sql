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
    -- The earliest counted response of each outreach, and whether any counted response was positive.
    SELECT r.participant_id, r.outreach_id, min(r.occurred_at) AS first_at, bool_or(r.outcome = 'positive') AS positive
    FROM rm_responses r
    WHERE r.programme_id = $1
        AND rm_counts(r.position, r.tx, r.occurred_at, r.voided_at, r.voided_position, r.voided_tx, $2, $3, $4)
        AND (r.participant_id, r.outreach_id) IN (SELECT participant_id, outreach_id FROM sent)
    GROUP BY r.participant_id, r.outreach_id
),
-- Attempt numbers. rm_outreach.attempt numbers every outreach of its thread; a thread holding an outreach
-- that does not count as of the report (voided, dated after as_of, or past the position) is numbered
-- again over its counted outreaches, from the ones whose parent does not count (they start a thread):
-- domain.reporting.snapshot.attempt_numbers over the counted outreaches.
renumbered_thread AS (
    SELECT DISTINCT o.participant_id, o.thread_root
    FROM rm_outreach o
    WHERE $9::text = 'attempt' AND o.programme_id = $1
        AND NOT rm_counts(o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position, o.voided_tx, $2, $3, $4)
        AND (o.participant_id, o.thread_root) IN (SELECT participant_id, thread_root FROM sent)
),
member AS (
    SELECT o.participant_id, o.outreach_id, o.follow_up_of
    FROM rm_outreach o
    JOIN renumbered_thread USING (participant_id, thread_root)
    WHERE o.programme_id = $1
        AND rm_counts(o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position, o.voided_tx, $2, $3, $4)
),
renumbered (participant_id, outreach_id, attempt) AS (
    SELECT m.participant_id, m.outreach_id, 1
    FROM member m
    WHERE NOT EXISTS (
        SELECT 1 FROM member parent WHERE parent.participant_id = m.participant_id AND parent.outreach_id = m.follow_up_of
    )
    UNION ALL
    SELECT m.participant_id, m.outreach_id, r.attempt + 1
    FROM renumbered r
    JOIN member m ON m.participant_id = r.participant_id AND m.follow_up_of = r.outreach_id
),
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
SELECT
    GROUPING(key) = 0 AS grouped,
    key,
    count(*) AS sent,
    count(days) AS answered,
    count(*) FILTER (WHERE positive) AS positive,
    -- The median as measures.median takes it, the mean of the two middle values: the lower middle is the
    -- 0.5 discrete percentile upwards, the upper middle the same downwards (one value when the count is
    -- odd). percentile_cont would interpolate as lo + (hi - lo) / 2, which may differ in the last bit.
    (percentile_disc(0.5) WITHIN GROUP (ORDER BY days) + percentile_disc(0.5) WITHIN GROUP (ORDER BY days DESC))
        / 2 AS median_days
FROM unit
GROUP BY GROUPING SETS ((), (key))
