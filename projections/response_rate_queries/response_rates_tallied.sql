-- The response-rate dashboard from the dashboard tallies (migration 0024), for a programme-wide dashboard (no
-- cohort or counselor asked for) in the zone the tallies are counted in; response_rates.sql is the same
-- dashboard from the rows, and the definition this must equal (docs/decisions.md, "Dashboard tallies").
-- Parameters: response_rates.sql's ($1-$10), $11 the period's first day and $12 its last (the earlier of `to`
-- and as_of), local days of the zone $10.
--
-- The tallies hold the live units: every outreach not voided, of a participant whose enrolment is not voided,
-- under the participant's live counselor and cohort and the attempt as numbered when sent. For a participant
-- whose rows all count at (P, H), and whose enrolment and assignments are dated and voided before the end of
-- as_of (E), the live units of the period are exactly the report's units, with the same keys, but for:
-- outreach voided on or after E (a report counts them), outreach with a response voided on or after E (a
-- report answers them otherwise), and, grouped by attempt, outreach a void renumbers. A response dated on or
-- after E needs no correction: a reply row is answered when its earliest response is before E, and positive
-- when its earliest positive one is (the earliest response before E is the earliest of those counted). These
-- outreach, and every outreach of the other participants ("moved"), are "suspect": their live units are taken
-- out of the tallies and their report units, computed from the rows as response_rates.sql does, put in.
WITH RECURSIVE
{participants_as_of},
moved AS MATERIALIZED (
    SELECT m.subject_id AS participant_id
    FROM rm_change_marks m
    WHERE m.programme_id = $1 AND (m.position > $2 OR m.tx >= $3)
    UNION
    SELECT e.participant_id
    FROM rm_participants e
    WHERE e.programme_id = $1 AND (e.occurred_at >= $4 OR e.voided_at >= $4)
    UNION
    SELECT a.participant_id
    FROM rm_counselor_assignments a
    WHERE a.programme_id = $1 AND (a.occurred_at >= $4 OR a.voided_at >= $4)
),
{attempts},
suspect AS MATERIALIZED (
    SELECT o.participant_id, o.outreach_id
    FROM rm_outreach o
    WHERE o.programme_id = $1 AND o.participant_id IN (SELECT participant_id FROM moved)
        AND o.occurred_at >= $7 AND o.occurred_at < $8
    UNION
    SELECT o.participant_id, o.outreach_id
    FROM rm_outreach o
    WHERE o.programme_id = $1 AND o.voided_at >= $4 AND o.occurred_at >= $7 AND o.occurred_at < $8
    UNION
    SELECT r.participant_id, r.outreach_id
    FROM rm_responses r
    WHERE r.programme_id = $1 AND r.voided_at >= $4
    UNION
    SELECT participant_id, outreach_id FROM renumbered
),
suspect_rows AS MATERIALIZED (
    -- The suspect outreach of the period. Looked up one by one (a LATERAL with LIMIT 1): joined on both ids,
    -- the planner took the pair's selectivity twice, expected one row where there were hundreds, and scanned
    -- the programme's participants once for each.
    SELECT o.*
    FROM suspect s
    CROSS JOIN LATERAL (
        SELECT o.participant_id, o.outreach_id, o.occurred_at, o.channel, o.purpose, o.attempt, o.position, o.tx,
            o.voided_at, o.voided_position, o.voided_tx
        FROM rm_outreach o
        WHERE o.programme_id = $1 AND o.outreach_id = s.outreach_id AND o.participant_id = s.participant_id
            AND o.occurred_at >= $7 AND o.occurred_at < $8
        LIMIT 1
    ) o
),
people AS (
    SELECT $1::uuid AS programme_id, participant_id FROM moved
),
{live_people},
tallied_people AS (
    -- Whom the tallies count, under the attributes they count them under: the moved as they live now
    -- (read_models/dashboard.sql, live_people), everyone else as of the report (for them, the same).
    SELECT participant_id, counselor_id, cohort
    FROM live_people
    UNION ALL
    SELECT p.participant_id, p.counselor_id, p.cohort
    FROM participant p
    WHERE p.participant_id NOT IN (SELECT participant_id FROM moved)
),
-- Each unit's key as typed columns, only the one of the grouping set (one text per row cost more than the rest of
-- a year's reading: to_char for the ISO week, uuid and integer output), turned into the key's text once a group;
-- words compared byte by byte (COLLATE "C": sorted by the locale's rules, a year's took 110 ms).
taken_out AS (
    -- The suspect outreach's live units in the period, as the tallies count them.
    SELECT
        CASE $9::text WHEN 'channel' THEN o.channel WHEN 'purpose' THEN o.purpose
            WHEN 'cohort' THEN coalesce(t.cohort, 'unknown') END COLLATE "C" AS word,
        CASE WHEN $9::text = 'attempt' THEN o.attempt END AS num,
        CASE WHEN $9::text = 'counselor' THEN t.counselor_id END AS id,
        CASE WHEN $9::text = 'week' THEN date_trunc('week', o.occurred_at AT TIME ZONE $10::text) END AS week
    FROM suspect_rows o
    JOIN tallied_people t ON t.participant_id = o.participant_id
    WHERE o.voided_at IS NULL
),
put_in AS (
    -- The suspect outreach's units as this report counts them (response_rates.sql's units).
    SELECT
        CASE $9::text WHEN 'channel' THEN o.channel WHEN 'purpose' THEN o.purpose
            WHEN 'cohort' THEN coalesce(p.cohort, 'unknown') END COLLATE "C" AS word,
        CASE WHEN $9::text = 'attempt' THEN coalesce(n.attempt, o.attempt) END AS num,
        CASE WHEN $9::text = 'counselor' THEN p.counselor_id END AS id,
        CASE WHEN $9::text = 'week' THEN date_trunc('week', o.occurred_at AT TIME ZONE $10::text) END AS week,
        extract(epoch FROM reply.first_at - o.occurred_at)::float8 / 86400 AS days,
        coalesce(reply.positive, false) AS positive
    FROM suspect_rows o
    JOIN participant p ON p.participant_id = o.participant_id
    LEFT JOIN renumbered n ON n.participant_id = o.participant_id AND n.outreach_id = o.outreach_id
    LEFT JOIN LATERAL (
        SELECT min(r.occurred_at) AS first_at, bool_or(r.outcome = 'positive') AS positive
        FROM rm_responses r
        WHERE r.programme_id = $1 AND r.outreach_id = o.outreach_id AND r.participant_id = o.participant_id
            AND rm_counts(r.position, r.tx, r.occurred_at, r.voided_at, r.voided_position, r.voided_tx, $2, $3, $4)
    ) reply ON true
    WHERE rm_counts(o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position, o.voided_tx, $2, $3, $4)
),
sent AS (
    SELECT
        CASE WHEN $9::text IN ('channel', 'purpose', 'cohort') THEN d.key END COLLATE "C" AS word,
        CASE WHEN $9::text = 'attempt' THEN d.key::integer END AS num,
        CASE WHEN $9::text = 'counselor' THEN d.key::uuid END AS id,
        CASE WHEN $9::text = 'week' THEN date_trunc('week', d.day::timestamp) END AS week,
        d.sent
    FROM rm_dashboard_days d
    WHERE d.programme_id = $1
        AND d.dim = CASE WHEN $9::text IS NULL OR $9::text = 'week' THEN 'all' ELSE $9::text END
        AND d.day >= $11::date AND d.day <= $12::date
    UNION ALL
    SELECT word, num, id, week, -1 FROM taken_out
    UNION ALL
    SELECT word, num, id, week, 1 FROM put_in
),
answers AS NOT MATERIALIZED (
    -- Every answered unit: the replies the tallies keep but the suspect's, and the suspect's as counted here.
    SELECT
        CASE $9::text WHEN 'channel' THEN r.channel WHEN 'purpose' THEN r.purpose
            WHEN 'cohort' THEN coalesce(r.cohort, 'unknown') END COLLATE "C" AS word,
        CASE WHEN $9::text = 'attempt' THEN r.attempt END AS num,
        CASE WHEN $9::text = 'counselor' THEN r.counselor_id END AS id,
        CASE WHEN $9::text = 'week' THEN date_trunc('week', r.occurred_at AT TIME ZONE $10::text) END AS week,
        r.days, coalesce(r.first_positive_at < $4, false) AS positive
    FROM rm_dashboard_replies r
    WHERE r.programme_id = $1 AND r.occurred_at >= $7 AND r.occurred_at < $8 AND r.first_at < $4
        -- A hashed subplan (the suspect are few, never NULL): as NOT EXISTS, the planner at times chose a merge
        -- anti-join, and sorted the year's replies for it (80 ms).
        AND (r.participant_id, r.outreach_id) NOT IN (SELECT participant_id, outreach_id FROM suspect)
    UNION ALL
    SELECT word, num, id, week, days, positive FROM put_in WHERE days IS NOT NULL
)
SELECT s.grouped,
    CASE $9::text
        WHEN 'attempt' THEN s.num::text
        WHEN 'counselor' THEN s.id::text
        WHEN 'week' THEN to_char(s.week, 'IYYY-"W"IW')
        ELSE coalesce(s.word, '')
    END AS key,
    s.sent, coalesce(a.answered, 0) AS answered, coalesce(a.positive, 0) AS positive,
    -- As in response_rates.sql: the mean of the two middle values of the sorted delays.
    (
        SELECT (sorted[(cardinality(sorted) + 1) / 2] + sorted[cardinality(sorted) / 2 + 1]) / 2
        FROM (SELECT array_agg(d ORDER BY d) AS sorted FROM unnest(a.delays) d) m
    ) AS median_days,
    EXISTS (
        SELECT 1 FROM rm_dashboard_zones z
        WHERE z.programme_id = $1 AND z.time_zone = $10::text AND z.counted_through IS NULL
    ) AS zone_kept
FROM (
    SELECT GROUPING(word, num, id, week) = 0 AS grouped, word, num, id, week,
        coalesce(sum(sent), 0)::bigint AS sent
    FROM sent
    GROUP BY GROUPING SETS ((), (word, num, id, week))
) s
LEFT JOIN (
    -- Each group's delays gathered unsorted (so the groups are hashed, not the rows sorted by key), each array
    -- sorted on its own for the median above; ungrouped, the whole alone (it would be its only group too).
    SELECT false AS grouped, NULL::text COLLATE "C" AS word, NULL::integer AS num, NULL::uuid AS id,
        NULL::timestamp AS week, count(*) AS answered, count(*) FILTER (WHERE positive) AS positive,
        array_agg(days) AS delays
    FROM answers
    WHERE $9::text IS NULL
    HAVING $9::text IS NULL -- an aggregate of no rows is a row: none at all when grouped
    UNION ALL
    SELECT GROUPING(word, num, id, week) = 0, word, num, id, week, count(*), count(*) FILTER (WHERE positive),
        array_agg(days)
    FROM answers
    WHERE $9::text IS NOT NULL
    GROUP BY GROUPING SETS ((), (word, num, id, week))
    HAVING $9::text IS NOT NULL -- the whole of no rows is a row: none at all when ungrouped
) a ON a.grouped = s.grouped AND a.word IS NOT DISTINCT FROM s.word AND a.num IS NOT DISTINCT FROM s.num
    AND a.id IS NOT DISTINCT FROM s.id AND a.week IS NOT DISTINCT FROM s.week
WHERE s.sent > 0 OR NOT s.grouped
