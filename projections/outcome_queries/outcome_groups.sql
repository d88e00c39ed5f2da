-- The programme outcome report (reports.md, "Programme outcome report"), aggregated in PostgreSQL.
--
-- One row per cohort participant (the CTE "outcome", the SQL twin of
-- domain.reporting.outcomes.participant_outcome), then one row per group of
-- every breakdown (GROUPING SETS): the whole cohort, each counselor, cohort,
-- age band, gender, race/ethnicity and veteran value, and each of those again
-- split by the first hire's source (for hires_by_source and
-- retention_by_source_90). Counts, sums and medians only: the rates are divided
-- in Python (domain.reporting.measures.ratio) so that they are the very floats
-- of the pure report, and its hash.
--
-- A row exists at the report's position (P, H) and by its end iff
-- rm_counts(...) (migration 0014): its event is at or before P, committed
-- before the horizon H, dated before the end of as_of, and not removed by a
-- void that counts (at or before P, before H, dated before the end of as_of).
--
-- $1  programme_id            uuid
-- $2  P, the report position  bigint
-- $3  H, the horizon          bigint
-- $4  end of as_of            timestamptz (start of the day after as_of in the programme's zone)
-- $5  as_of                   date
-- $6  from                    date
-- $7  last enrolment day      date (the earlier of to and as_of)
-- $8  start of from           timestamptz (outreach is counted from it)
-- $9  cohort filter           text, NULL for every cohort
-- $10 counselor filter        uuid, NULL for every counselor
-- $11 placement window        int, days (180)
-- $12 better-job window       int, days (14)
-- $13 second-job window       int, days (365)
WITH
-- A participant's enrolment opens their stream, once (the append rules refuse a second): the filters apply
-- to the table itself, where the planner has its statistics.
enrolled AS (
    SELECT e.participant_id, e.enrolled_on, e.counselor_id, e.cohort, e.age_band, e.gender, e.race_ethnicity, e.veteran
    FROM rm_participants e
    WHERE e.programme_id = $1
      AND rm_counts(e.position, e.tx, e.occurred_at, e.voided_at, e.voided_position, e.voided_tx, $2, $3, $4)
      AND e.enrolled_on BETWEEN $6 AND $7
      AND ($9::text IS NULL OR e.cohort = $9::text)
),
-- The counselor as of the report: the latest counted assignment (ties: the higher position), else the enrolment's.
assigned AS (
    SELECT DISTINCT ON (a.participant_id) a.participant_id, a.counselor_id
    FROM rm_counselor_assignments a
    JOIN enrolled USING (participant_id)
    WHERE a.programme_id = $1
      AND rm_counts(a.position, a.tx, a.occurred_at, a.voided_at, a.voided_position, a.voided_tx, $2, $3, $4)
    ORDER BY a.participant_id, a.occurred_at DESC, a.position DESC
),
cohort AS (
    SELECT e.*, coalesce(a.counselor_id, e.counselor_id) AS counselor
    FROM enrolled e
    LEFT JOIN assigned a USING (participant_id)
    WHERE $10::uuid IS NULL OR coalesce(a.counselor_id, e.counselor_id) = $10::uuid
),
-- Every counted hire (one job each), with its earliest counted end and latest verification by as_of.
job AS (
    SELECT h.participant_id, h.job_id, h.position, h.start_date, h.source, h.hourly_wage, h.via_contact_id
    FROM rm_hires h
    JOIN cohort USING (participant_id)
    WHERE h.programme_id = $1
      AND rm_counts(h.position, h.tx, h.occurred_at, h.voided_at, h.voided_position, h.voided_tx, $2, $3, $4)
),
job_end AS (
    SELECT DISTINCT ON (e.participant_id, e.job_id) e.participant_id, e.job_id, e.ended_on, e.reason
    FROM rm_job_ends e
    JOIN job USING (participant_id, job_id)
    WHERE e.programme_id = $1 AND e.ended_on <= $5
      AND rm_counts(e.position, e.tx, e.occurred_at, e.voided_at, e.voided_position, e.voided_tx, $2, $3, $4)
    ORDER BY e.participant_id, e.job_id, e.ended_on, e.position
),
verified AS (
    SELECT v.participant_id, v.job_id, max(v.verified_on) AS last_verified_on
    FROM rm_verifications v
    JOIN job USING (participant_id, job_id)
    WHERE v.programme_id = $1 AND v.verified_on <= $5
      AND rm_counts(v.position, v.tx, v.occurred_at, v.voided_at, v.voided_position, v.voided_tx, $2, $3, $4)
    GROUP BY v.participant_id, v.job_id
),
promotion AS (
    SELECT pr.participant_id, pr.promoted_on
    FROM rm_promotions pr
    JOIN job USING (participant_id, job_id)
    WHERE pr.programme_id = $1 AND pr.promoted_on <= $5
      AND rm_counts(pr.position, pr.tx, pr.occurred_at, pr.voided_at, pr.voided_position, pr.voided_tx, $2, $3, $4)
),
-- The first job: the earliest start_date on or before as_of (ties: the lower position).
first_job AS (
    SELECT DISTINCT ON (j.participant_id) j.*, je.ended_on, je.reason AS end_reason, v.last_verified_on
    FROM job j
    LEFT JOIN job_end je USING (participant_id, job_id)
    LEFT JOIN verified v USING (participant_id, job_id)
    WHERE j.start_date <= $5
    ORDER BY j.participant_id, j.start_date, j.position
),
-- What the participant's other jobs and promotions say about the first job (joined, not looked up per row).
other_job AS (
    SELECT
        f.participant_id,
        bool_or(o.start_date BETWEEN f.start_date AND least(f.ended_on + $12::int, $5)) AS better_job_started,
        bool_or(o.start_date BETWEEN f.start_date AND least(f.start_date + $13::int, $5)) AS second_job_started
    FROM first_job f
    JOIN job o ON o.participant_id = f.participant_id AND o.job_id <> f.job_id
    GROUP BY f.participant_id
),
promoted_after_start AS (
    SELECT f.participant_id
    FROM first_job f
    JOIN promotion pr USING (participant_id)
    GROUP BY f.participant_id
    HAVING bool_or(pr.promoted_on BETWEEN f.start_date AND least(f.start_date + $13::int, $5))
),
-- Retention of the first job at each milestone it has reached by as_of; lost, unless the job ended for a
-- better one that started (another job) from its start to 14 days after the end and by as_of.
retention AS (
    SELECT
        f.participant_id,
        max(status) FILTER (WHERE m.days = 30) AS retention_30,
        max(status) FILTER (WHERE m.days = 90) AS retention_90,
        max(status) FILTER (WHERE m.days = 180) AS retention_180
    FROM first_job f
    LEFT JOIN other_job oj USING (participant_id)
    CROSS JOIN (VALUES (30), (90), (180)) AS m (days)
    CROSS JOIN LATERAL (
        SELECT CASE
            WHEN f.ended_on < f.start_date + m.days THEN
                CASE WHEN f.end_reason = 'moved_to_better_job' AND coalesce(oj.better_job_started, false)
                THEN 'retained' ELSE 'lost' END
            WHEN f.ended_on >= f.start_date + m.days OR f.last_verified_on >= f.start_date + m.days THEN 'retained'
            ELSE 'unknown'
        END AS status
    ) s
    WHERE f.start_date + m.days <= $5
    GROUP BY f.participant_id
),
-- People Links: contacts (existing as of the report) whose counted referral a counted application names,
-- or via whom a counted job has started by as_of.
contact AS (  -- contact_added opens a contact's stream, once
    SELECT c.contact_id
    FROM rm_contacts c
    WHERE c.programme_id = $1
      AND rm_counts(c.position, c.tx, c.occurred_at, c.voided_at, c.voided_position, c.voided_tx, $2, $3, $4)
),
referral AS (
    SELECT DISTINCT ON (r.participant_id, r.referral_id) r.participant_id, r.referral_id, r.contact_id
    FROM rm_referrals r
    JOIN cohort USING (participant_id)
    WHERE r.programme_id = $1
      AND rm_counts(r.position, r.tx, r.occurred_at, r.voided_at, r.voided_position, r.voided_tx, $2, $3, $4)
    ORDER BY r.participant_id, r.referral_id, r.position
),
link AS (
    SELECT r.participant_id, r.contact_id
    FROM referral r
    JOIN rm_applications a
      ON a.programme_id = $1 AND a.participant_id = r.participant_id AND a.referral_id = r.referral_id
    WHERE rm_counts(a.position, a.tx, a.occurred_at, a.voided_at, a.voided_position, a.voided_tx, $2, $3, $4)
    UNION
    SELECT j.participant_id, j.via_contact_id
    FROM job j
    WHERE j.via_contact_id IS NOT NULL AND j.start_date <= $5
),
people_links AS (
    SELECT l.participant_id, count(*) AS people_links
    FROM link l
    JOIN contact c USING (contact_id)
    GROUP BY l.participant_id
),
-- Outreach counted from the start of "from" to the end of as_of, and how many of it a counted response answers.
-- Counted from the outreach tallies (migration 0023) where that is exact: a participant whose change mark is
-- within P and H (no row of theirs added or voided beyond either) has every row counted by position, so their
-- tally (live outreach, and those with a live response) differs from the report only by outreach whose dates
-- make it differ. Those dated on or after the end of as_of are in the tally and never in the report: they
-- are taken out ("late"). The others that may differ, the "suspects", are dated before "from", voided on or
-- after the end of as_of, or have a response dated or voided on or after it: each is taken out of the tally
-- as it counts there and put back as it counts in the report. The other participants are counted from their
-- rows.
settled AS (
    SELECT c.participant_id, coalesce(m.position <= $2 AND m.tx < $3, false) AS settled
    FROM cohort c
    LEFT JOIN rm_change_marks m ON m.programme_id = $1 AND m.subject_id = c.participant_id
),
-- A late outreach's responses are late too (the append rules refuse a response dated before its outreach):
-- the late responses, hash-joined, tell which late outreach the tally counts as answered.
late_reply AS (
    SELECT DISTINCT r.participant_id, r.outreach_id
    FROM rm_responses r
    WHERE r.programme_id = $1 AND r.occurred_at >= $4 AND r.voided_at IS NULL
),
late_outreach AS MATERIALIZED (
    SELECT o.participant_id, o.outreach_id, o.voided_at IS NULL AS live
    FROM rm_outreach o
    WHERE o.programme_id = $1 AND o.occurred_at >= $4
),
late AS (
    SELECT o.participant_id, -count(*) AS sent, -count(lr.outreach_id) AS answered
    FROM late_outreach o
    LEFT JOIN late_reply lr ON lr.participant_id = o.participant_id AND lr.outreach_id = o.outreach_id
    WHERE o.live
    GROUP BY o.participant_id
),
-- Each part finds its rows through an index (the last through the responses), so a report as of a recent day
-- reads a few thousand rows here, not the programme's outreach.
suspect_row AS (
    SELECT o.participant_id, o.outreach_id, o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position,
        o.voided_tx
    FROM settled s
    JOIN rm_outreach o ON o.programme_id = $1 AND o.participant_id = s.participant_id AND o.occurred_at < $8
    WHERE s.settled AND o.occurred_at < $4
    UNION
    SELECT o.participant_id, o.outreach_id, o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position,
        o.voided_tx
    FROM rm_outreach o
    WHERE o.programme_id = $1 AND o.voided_at >= $4 AND o.occurred_at < $4
    UNION
    SELECT o.participant_id, o.outreach_id, o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position,
        o.voided_tx
    FROM (
        SELECT DISTINCT r.participant_id, r.outreach_id FROM rm_responses r
        WHERE r.programme_id = $1 AND (r.occurred_at >= $4 OR r.voided_at >= $4)
            -- NOT IN, not NOT EXISTS: one hashed look-up a row (an anti join sorted both sides, 40 ms at 1M).
            AND (r.participant_id, r.outreach_id) NOT IN (SELECT l.participant_id, l.outreach_id FROM late_outreach l)
    ) k
    -- One index probe a key (OFFSET 0 keeps the subquery apart: joined, the planner misjudges how few match
    -- and scans the whole table).
    CROSS JOIN LATERAL (
        SELECT o.* FROM rm_outreach o
        WHERE o.programme_id = $1 AND o.outreach_id = k.outreach_id AND o.participant_id = k.participant_id
            AND o.occurred_at < $4
        OFFSET 0
    ) o
),
suspect AS (
    SELECT o.participant_id,
        o.voided_at IS NULL AS sent,
        o.voided_at IS NULL AND coalesce(reply.live, false) AS answered,
        as_reported.sent AS sent_now,
        as_reported.sent AND coalesce(reply.counted, false) AS answered_now
    FROM suspect_row o
    CROSS JOIN LATERAL (
        SELECT o.occurred_at >= $8
            AND rm_counts(o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position, o.voided_tx, $2, $3, $4)
            AS sent
    ) as_reported
    -- One look-up of the outreach's responses for both: any live (the tally), any counted (the report).
    LEFT JOIN LATERAL (
        SELECT bool_or(r.voided_at IS NULL) AS live,
            bool_or(rm_counts(r.position, r.tx, r.occurred_at, r.voided_at, r.voided_position, r.voided_tx, $2, $3, $4))
                AS counted
        FROM rm_responses r
        WHERE r.programme_id = $1 AND r.outreach_id = o.outreach_id AND r.participant_id = o.participant_id
    ) reply ON true
    WHERE o.participant_id IN (SELECT participant_id FROM settled WHERE settled)
),
settled_counts AS (
    SELECT s.participant_id,
        coalesce(t.sent, 0) + coalesce(d.sent, 0) AS sent,
        coalesce(t.answered, 0) + coalesce(d.answered, 0) AS answered
    FROM settled s
    LEFT JOIN rm_outreach_tallies t ON t.programme_id = $1 AND t.participant_id = s.participant_id
    LEFT JOIN (
        SELECT participant_id, sum(sent) AS sent, sum(answered) AS answered
        FROM (
            SELECT participant_id, sent_now::int - sent::int AS sent, answered_now::int - answered::int AS answered
            FROM suspect
            UNION ALL
            SELECT participant_id, sent, answered FROM late
        ) correction
        GROUP BY participant_id
    ) d ON d.participant_id = s.participant_id
    WHERE s.settled
),
-- The unsettled participants' outreach from their rows, the answered ones found from the counted responses
-- since "from" (the append rules refuse a response dated before its outreach), hash-joined: looked up one by
-- one, a whole span's outreach at 1M events cost 690,000 index probes when every participant is unsettled
-- (a report at an early position).
answered AS MATERIALIZED (
    SELECT DISTINCT r.participant_id, r.outreach_id
    FROM rm_responses r
    WHERE r.programme_id = $1 AND r.occurred_at >= $8
      AND rm_counts(r.position, r.tx, r.occurred_at, r.voided_at, r.voided_position, r.voided_tx, $2, $3, $4)
),
unsettled AS MATERIALIZED (
    SELECT participant_id FROM settled WHERE NOT settled
),
unsettled_counts AS (
    SELECT o.participant_id, count(*) AS sent, count(a.outreach_id) AS answered
    FROM unsettled s
    JOIN rm_outreach o ON o.programme_id = $1 AND o.participant_id = s.participant_id AND o.occurred_at >= $8
    LEFT JOIN answered a ON a.participant_id = o.participant_id AND a.outreach_id = o.outreach_id
    WHERE rm_counts(o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position, o.voided_tx, $2, $3, $4)
    GROUP BY o.participant_id
),
-- Materialized, as every part above that more than one row of the outcome could ask for: without statistics
-- (read models caught up a moment ago, not analysed yet) the planner takes every set for one row, and a part
-- left inline ran again for each participant (60 s for the 128 participants of the demo).
outreach_counts AS MATERIALIZED (
    SELECT participant_id, sent, answered FROM settled_counts
    UNION ALL
    SELECT participant_id, sent, answered FROM unsettled_counts
),
-- The exit as of the report: the latest exited_on by as_of (ties: the higher position).
exit_as_of AS (
    SELECT DISTINCT ON (x.participant_id) x.participant_id, x.exited_on, x.reason
    FROM rm_exits x
    JOIN cohort USING (participant_id)
    WHERE x.programme_id = $1 AND x.exited_on <= $5
      AND rm_counts(x.position, x.tx, x.occurred_at, x.voided_at, x.voided_position, x.voided_tx, $2, $3, $4)
    ORDER BY x.participant_id, x.exited_on DESC, x.position DESC
),
-- WIOA-style: the 2nd and 4th calendar quarter after the exit's, when over by as_of; employed in it when a job
-- started by its last day and had not ended before its first.
exit_quarter AS (
    SELECT x.participant_id, q.after, quarter.first_day, quarter.last_day
    FROM exit_as_of x
    CROSS JOIN (VALUES (2), (4)) AS q (after)
    CROSS JOIN LATERAL (
        SELECT
            (date_trunc('quarter', x.exited_on::timestamp) + make_interval(months => 3 * q.after))::date AS first_day,
            (date_trunc('quarter', x.exited_on::timestamp) + make_interval(months => 3 * q.after + 3))::date - 1
                AS last_day
    ) quarter
    WHERE x.reason <> 'reincarcerated'
),
employed_in_quarter AS (
    SELECT eq.participant_id, eq.after,
        coalesce(bool_or(j.start_date <= eq.last_day AND (je.ended_on IS NULL OR je.ended_on >= eq.first_day)), false)
            AS employed
    FROM exit_quarter eq
    LEFT JOIN job j USING (participant_id)
    LEFT JOIN job_end je USING (participant_id, job_id)
    WHERE eq.last_day <= $5
    GROUP BY eq.participant_id, eq.after
),
employed_after_exit AS (
    SELECT
        participant_id,
        bool_or(employed) FILTER (WHERE after = 2) AS employed_q2_after_exit,
        bool_or(employed) FILTER (WHERE after = 4) AS employed_q4_after_exit
    FROM employed_in_quarter
    GROUP BY participant_id
),
outcome AS (
    SELECT
        c.counselor::text AS counselor,
        coalesce(c.cohort, 'unknown') AS cohort,
        coalesce(c.age_band, 'unknown') AS age_band,
        coalesce(c.gender, 'unknown') AS gender,
        coalesce(c.race_ethnicity, 'unknown') AS race_ethnicity,
        coalesce(c.veteran::text, 'unknown') AS veteran,
        f.participant_id IS NOT NULL AS placed,
        f.start_date <= c.enrolled_on + $11::int AS placed_within_180d,
        f.start_date - c.enrolled_on AS days_to_placement,
        f.hourly_wage AS starting_wage,
        f.source AS first_source,
        r.retention_30,
        r.retention_90,
        r.retention_180,
        coalesce(oj.second_job_started, false) OR pa.participant_id IS NOT NULL AS second_job_or_promotion,
        coalesce(pl.people_links, 0) AS people_links,
        coalesce(oc.sent, 0) AS outreach_sent,
        coalesce(oc.answered, 0) AS outreach_answered,
        ee.employed_q2_after_exit,
        ee.employed_q4_after_exit,
        coalesce(x.reason = 'reincarcerated', false) AS returned_to_custody
    FROM cohort c
    LEFT JOIN first_job f USING (participant_id)
    LEFT JOIN retention r USING (participant_id)
    LEFT JOIN other_job oj USING (participant_id)
    LEFT JOIN promoted_after_start pa USING (participant_id)
    LEFT JOIN people_links pl USING (participant_id)
    LEFT JOIN outreach_counts oc USING (participant_id)
    LEFT JOIN exit_as_of x USING (participant_id)
    LEFT JOIN employed_after_exit ee USING (participant_id)
)
SELECT
    -- Which grouping set the row is: a bit per column that is NOT grouped, first_source the lowest (never
    -- grouped here; see the by-source part below).
    GROUPING(counselor, cohort, age_band, gender, race_ethnicity, veteran) * 2 + 1 AS grouping_set,
    counselor, cohort, age_band, gender, race_ethnicity, veteran, NULL AS first_source,
    count(*) AS enrolled,
    count(*) FILTER (WHERE placed) AS placed,
    count(*) FILTER (WHERE placed_within_180d) AS placed_within_180d,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY days_to_placement) AS median_days_to_placement,
    -- The wage median exactly, in numeric (percentile_cont takes only double precision): the mean of the
    -- lower and upper middle values of the sorted wages (the same value when the count is odd), one sort.
    ((array_agg(starting_wage ORDER BY starting_wage) FILTER (WHERE starting_wage IS NOT NULL))[
        (count(starting_wage)::int + 1) / 2]
        + (array_agg(starting_wage ORDER BY starting_wage) FILTER (WHERE starting_wage IS NOT NULL))[
        count(starting_wage)::int / 2 + 1]) / 2 AS median_starting_wage,
    count(starting_wage) AS with_wage,
    count(*) FILTER (WHERE retention_30 = 'retained') AS retained_30,
    count(*) FILTER (WHERE retention_30 = 'lost') AS lost_30,
    count(*) FILTER (WHERE retention_30 = 'unknown') AS unknown_30,
    count(*) FILTER (WHERE retention_90 = 'retained') AS retained_90,
    count(*) FILTER (WHERE retention_90 = 'lost') AS lost_90,
    count(*) FILTER (WHERE retention_90 = 'unknown') AS unknown_90,
    count(*) FILTER (WHERE retention_180 = 'retained') AS retained_180,
    count(*) FILTER (WHERE retention_180 = 'lost') AS lost_180,
    count(*) FILTER (WHERE retention_180 = 'unknown') AS unknown_180,
    count(*) FILTER (WHERE second_job_or_promotion) AS second_job_or_promotion,
    sum(people_links)::bigint AS people_links,
    sum(outreach_sent)::bigint AS outreach_sent,
    sum(outreach_answered)::bigint AS outreach_answered,
    count(employed_q2_after_exit) AS q2_eligible,
    count(*) FILTER (WHERE employed_q2_after_exit) AS q2_employed,
    count(employed_q4_after_exit) AS q4_eligible,
    count(*) FILTER (WHERE employed_q4_after_exit) AS q4_employed,
    count(*) FILTER (WHERE returned_to_custody) AS returned_to_custody
FROM outcome
GROUP BY GROUPING SETS ((), (counselor), (cohort), (age_band), (gender), (race_ethnicity), (veteran))
UNION ALL
-- Each group again split by the first hire's source: only what hires_by_source and retention_by_source_90
-- read (placed, retention at 90 days), without the medians' sorts.
SELECT
    GROUPING(counselor, cohort, age_band, gender, race_ethnicity, veteran, first_source),
    counselor, cohort, age_band, gender, race_ethnicity, veteran, first_source,
    count(*), count(*) FILTER (WHERE placed),
    NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    count(*) FILTER (WHERE retention_90 = 'retained'),
    count(*) FILTER (WHERE retention_90 = 'lost'),
    count(*) FILTER (WHERE retention_90 = 'unknown'),
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM outcome
WHERE placed  -- the participants not placed have no first hire, and no source
GROUP BY GROUPING SETS (
    (first_source), (counselor, first_source), (cohort, first_source), (age_band, first_source),
    (gender, first_source), (race_ethnicity, first_source), (veteran, first_source)
)
