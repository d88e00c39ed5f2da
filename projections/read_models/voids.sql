-- Voids of the read_models projection: mark the rows the batch's entry_voided events name, in
-- whichever table holds them (one statement for every table: voids are few, and a key probe a
-- table is cheaper than a round trip a kind). Only where still unmarked: an event is voided once,
-- and a replayed batch changes nothing. Parameters: programme_id, voided event_id, voided_at,
-- voided_position, voided_tx, as arrays (one entry a voided event, no event twice).

-- name: mark_voids
WITH void AS MATERIALIZED (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::bigint[], $5::bigint[])
        AS v(programme_id, event_id, voided_at, voided_position, voided_tx)
)
, participants AS (
    UPDATE rm_participants AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, counselor_assignments AS (
    UPDATE rm_counselor_assignments AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, contacts AS (
    UPDATE rm_contacts AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, contact_employers AS (
    UPDATE rm_contact_employers AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, relationships_noted AS (
    UPDATE rm_relationships_noted AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, outreach AS (
    UPDATE rm_outreach AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, responses AS (
    UPDATE rm_responses AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, meetings AS (
    UPDATE rm_meetings AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, referrals AS (
    UPDATE rm_referrals AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, applications AS (
    UPDATE rm_applications AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, interviews AS (
    UPDATE rm_interviews AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, application_closures AS (
    UPDATE rm_application_closures AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, hires AS (
    UPDATE rm_hires AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, verifications AS (
    UPDATE rm_verifications AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, promotions AS (
    UPDATE rm_promotions AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, job_ends AS (
    UPDATE rm_job_ends AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
, exits AS (
    UPDATE rm_exits AS t SET voided_at = void.voided_at, voided_position = void.voided_position,
        voided_tx = void.voided_tx
    FROM void WHERE t.programme_id = void.programme_id AND t.event_id = void.event_id AND t.voided_at IS NULL
)
-- The outreach tallies (migration 0023): every part of this statement reads the rows as they were before it,
-- so each outreach whose row or one of whose responses this statement voids is counted before (as read) and
-- after (without what it voids), and its participant's tally moves by the difference. A replayed void finds
-- its row marked already and moves nothing.
, outreach_voided AS MATERIALIZED (
    SELECT o.programme_id, o.participant_id, o.outreach_id
    FROM rm_outreach o JOIN void ON o.programme_id = void.programme_id AND o.event_id = void.event_id
    WHERE o.voided_at IS NULL
)
, responses_voided AS MATERIALIZED (
    SELECT r.programme_id, r.participant_id, r.outreach_id, r.event_id
    FROM rm_responses r JOIN void ON r.programme_id = void.programme_id AND r.event_id = void.event_id
    WHERE r.voided_at IS NULL
)
, touched AS (
    SELECT programme_id, participant_id, outreach_id FROM outreach_voided
    UNION
    SELECT programme_id, participant_id, outreach_id FROM responses_voided
)
, counted AS (
    SELECT o.programme_id, o.participant_id, live.before, live.after,
        live.before AND coalesce(reply.before, false) AS answered_before,
        live.after AND coalesce(reply.after, false) AS answered_after
    FROM touched t
    JOIN rm_outreach o
        ON o.programme_id = t.programme_id AND o.outreach_id = t.outreach_id AND o.participant_id = t.participant_id
    CROSS JOIN LATERAL (
        SELECT o.voided_at IS NULL AS before,
            o.voided_at IS NULL AND NOT EXISTS (
                SELECT 1 FROM outreach_voided v
                WHERE v.programme_id = o.programme_id AND v.participant_id = o.participant_id
                    AND v.outreach_id = o.outreach_id
            ) AS after
    ) live
    -- One look-up of the outreach's live responses for both: any before, any this statement leaves live.
    LEFT JOIN LATERAL (
        SELECT true AS before,
            bool_or(NOT EXISTS (
                SELECT 1 FROM responses_voided v WHERE v.programme_id = r.programme_id AND v.event_id = r.event_id
            )) AS after
        FROM rm_responses r
        WHERE r.programme_id = o.programme_id AND r.outreach_id = o.outreach_id
            AND r.participant_id = o.participant_id AND r.voided_at IS NULL
        HAVING count(*) > 0
    ) reply ON true
)
, tallies AS (
    INSERT INTO rm_outreach_tallies AS t (programme_id, participant_id, sent, answered)
    SELECT programme_id, participant_id,
        sum(after::int - before::int), sum(answered_after::int - answered_before::int)
    FROM counted
    GROUP BY programme_id, participant_id
    ON CONFLICT (programme_id, participant_id) DO UPDATE
    SET sent = t.sent + excluded.sent, answered = t.answered + excluded.answered
)
SELECT 1;

-- name: mark_changes
-- Whose stored answers a batch changes (rm_change_marks, migration 0022): the highest position and
-- transaction id of the batch's events for each participant (and each contact, migration 0026), only ever raised,
-- so a replayed batch changes nothing. Parameters: programme_id, subject_id, position, tx, as arrays (one
-- entry a subject).
INSERT INTO rm_change_marks AS m (programme_id, subject_id, position, tx)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[])
ON CONFLICT (programme_id, subject_id) DO UPDATE
SET position = greatest(m.position, excluded.position), tx = greatest(m.tx, excluded.tx);
