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
SELECT 1;

-- name: mark_changes
-- Whose stored answers a batch changes (rm_change_marks, migration 0022): the highest position and
-- transaction id of the batch's events for each participant (and the contact directory), only ever raised,
-- so a replayed batch changes nothing. Parameters: programme_id, subject_id, position, tx, as arrays (one
-- entry a subject).
INSERT INTO rm_change_marks AS m (programme_id, subject_id, position, tx)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::bigint[])
ON CONFLICT (programme_id, subject_id) DO UPDATE
SET position = greatest(m.position, excluded.position), tx = greatest(m.tx, excluded.tx);
