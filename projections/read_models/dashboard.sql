-- The dashboard tallies of the read_models projection (migration 0024): rm_dashboard_days and
-- rm_dashboard_replies hold the live units (outreach not voided, of a participant whose enrolment is not
-- voided) with their live attributes. A batch takes every unit it may change out (dashboard_retract, before
-- its rows are written) and puts the same outreach's units back as they then are (dashboard_add, after), so
-- what the tables hold is always the units of the rows, and a replayed batch takes out and puts back the same.
-- A programme being counted (again) holds the units of the participants counted so far only (migration 0025).

-- name: dashboard_stale
-- The programmes to count (again): those whose units are counted in another zone than theirs, or not yet
-- (no zone row: programmes new since, or every programme after migration 0024), which dashboard_forget starts
-- afresh; and those being counted (migration 0025), with the last participant counted so far.
SELECT p.programme_id, p.time_zone, z.time_zone IS DISTINCT FROM p.time_zone AS stale, z.counted_through
FROM programmes p
LEFT JOIN rm_dashboard_zones z ON z.programme_id = p.programme_id
WHERE z.time_zone IS DISTINCT FROM p.time_zone OR z.counted_through IS NOT NULL;

-- name: dashboard_participants
-- The next participants of a programme ($1) to count, after the last counted ($2), at most $3: from their change
-- marks (migration 0022; contacts' marks too, migration 0026, which have no outreach: counted as no one).
SELECT subject_id FROM rm_change_marks WHERE programme_id = $1 AND subject_id > $2 ORDER BY subject_id LIMIT $3;

-- name: dashboard_counted_through
-- How far a programme ($1) is counted: the last participant counted ($2), NULL when everyone is.
UPDATE rm_dashboard_zones SET counted_through = $2 WHERE programme_id = $1;

-- name: dashboard_forget
-- Before counting the stale programmes again in their zone ($1 programme_id, $2 time_zone, as arrays): nobody
-- counted yet (counted_through $3, read_models.NOBODY: before every participant's id).
WITH stale AS (
    SELECT * FROM unnest($1::uuid[], $2::text[]) AS s(programme_id, time_zone)
), days AS (
    DELETE FROM rm_dashboard_days d USING stale s WHERE d.programme_id = s.programme_id
), replies AS (
    DELETE FROM rm_dashboard_replies d USING stale s WHERE d.programme_id = s.programme_id
)
INSERT INTO rm_dashboard_zones AS z (programme_id, time_zone, counted_through)
SELECT programme_id, time_zone, $3::uuid FROM stale
ON CONFLICT (programme_id) DO UPDATE SET time_zone = excluded.time_zone, counted_through = excluded.counted_through;

-- name: dashboard_retract
-- Takes out the units of every outreach this batch may change, and returns those outreach for
-- dashboard_add. Parameters: $1-$3 the batch's outreach and its responses' outreach (programme_id,
-- participant_id, outreach_id), $4-$5 the participants it assigns a counselor (programme_id, participant_id),
-- $6-$7 the events it voids (programme_id, event_id); as arrays. A voided outreach or response names its
-- outreach; a voided enrolment or assignment names every outreach of its participant.
WITH voided AS MATERIALIZED (
    SELECT * FROM unnest($6::uuid[], $7::uuid[]) AS v(programme_id, event_id)
),
people_named AS (
    SELECT * FROM unnest($4::uuid[], $5::uuid[]) AS n(programme_id, participant_id)
    UNION
    SELECT e.programme_id, e.participant_id
    FROM rm_participants e JOIN voided v ON e.programme_id = v.programme_id AND e.event_id = v.event_id
    UNION
    SELECT a.programme_id, a.participant_id
    FROM rm_counselor_assignments a JOIN voided v ON a.programme_id = v.programme_id AND a.event_id = v.event_id
),
touched AS MATERIALIZED (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(programme_id, participant_id, outreach_id)
    UNION
    SELECT o.programme_id, o.participant_id, o.outreach_id
    FROM rm_outreach o JOIN voided v ON o.programme_id = v.programme_id AND o.event_id = v.event_id
    UNION
    SELECT r.programme_id, r.participant_id, r.outreach_id
    FROM rm_responses r JOIN voided v ON r.programme_id = v.programme_id AND r.event_id = v.event_id
    UNION
    SELECT o.programme_id, o.participant_id, o.outreach_id
    FROM people_named n
    JOIN rm_outreach o ON o.programme_id = n.programme_id AND o.participant_id = n.participant_id
),
{live_units},
days AS (
    INSERT INTO rm_dashboard_days AS d (programme_id, dim, day, key, sent)
    SELECT programme_id, dim, day, key, -sent FROM unit_days
    ON CONFLICT (programme_id, dim, day, key) DO UPDATE SET sent = d.sent + excluded.sent
),
replies AS (
    -- The reply rows are the answered live units': found from those (few), one key probe each. Joined to all the
    -- touched outreach, the planner hashed the whole table (60,000 rows a batch, growing with the programme).
    DELETE FROM rm_dashboard_replies d
    USING units u
    WHERE u.first_at IS NOT NULL AND d.programme_id = u.programme_id AND d.participant_id = u.participant_id
        AND d.outreach_id = u.outreach_id
)
SELECT programme_id, participant_id, outreach_id FROM touched;

-- name: dashboard_add
-- Puts back the units of the outreach dashboard_retract returned ($1-$3, as arrays), as the batch's rows
-- now make them, and counts every outreach of the participants in $4-$5 (programme_id, participant_id: the
-- next of a programme being counted, once counted_through has moved past them).
WITH touched AS MATERIALIZED (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(programme_id, participant_id, outreach_id)
    UNION
    SELECT o.programme_id, o.participant_id, o.outreach_id
    FROM unnest($4::uuid[], $5::uuid[]) AS n(programme_id, participant_id)
    JOIN rm_outreach o ON o.programme_id = n.programme_id AND o.participant_id = n.participant_id
),
{live_units},
days AS (
    INSERT INTO rm_dashboard_days AS d (programme_id, dim, day, key, sent)
    SELECT programme_id, dim, day, key, sent FROM unit_days
    ON CONFLICT (programme_id, dim, day, key) DO UPDATE SET sent = d.sent + excluded.sent
)
INSERT INTO rm_dashboard_replies (programme_id, participant_id, outreach_id, occurred_at, first_at, days,
    first_positive_at, channel, purpose, attempt, counselor_id, cohort)
SELECT programme_id, participant_id, outreach_id, occurred_at, first_at,
    -- Seconds as an exact numeric, then one rounding to double and one division, as in Python.
    extract(epoch FROM first_at - occurred_at)::float8 / 86400, first_positive_at, channel, purpose, attempt,
    counselor_id, cohort
FROM units
WHERE first_at IS NOT NULL;
