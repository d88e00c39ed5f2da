-- The programme funnel (domain.reporting.pipeline.programme_funnel is the definition): the participants
-- existing as of the view, and how many of them have a counted event of each step. A response counts
-- only to a counted outreach and an interview only of a counted application, as in activity_as_of; a
-- hire counts once its job has started ($7: as_of's date).
WITH
{participants_as_of},
outreach AS (
    SELECT participant_id, outreach_id
    FROM rm_outreach
    WHERE programme_id = $1
        AND rm_counts(position, tx, occurred_at, voided_at, voided_position, voided_tx, $2, $3, $4)
),
application AS (
    SELECT participant_id, application_id
    FROM rm_applications
    WHERE programme_id = $1
        AND rm_counts(position, tx, occurred_at, voided_at, voided_position, voided_tx, $2, $3, $4)
)
SELECT
    count(*) AS enrolled,
    count(*) FILTER (WHERE participant_id IN (SELECT participant_id FROM outreach)) AS outreach,
    count(*) FILTER (WHERE participant_id IN (
        SELECT r.participant_id
        FROM rm_responses r
        JOIN outreach o USING (participant_id, outreach_id)
        WHERE r.programme_id = $1
            AND rm_counts(r.position, r.tx, r.occurred_at, r.voided_at, r.voided_position, r.voided_tx, $2, $3, $4)
    )) AS response,
    count(*) FILTER (WHERE participant_id IN (
        SELECT participant_id
        FROM rm_meetings
        WHERE programme_id = $1
            AND rm_counts(position, tx, occurred_at, voided_at, voided_position, voided_tx, $2, $3, $4)
    )) AS meeting,
    count(*) FILTER (WHERE participant_id IN (
        SELECT participant_id
        FROM rm_referrals
        WHERE programme_id = $1
            AND rm_counts(position, tx, occurred_at, voided_at, voided_position, voided_tx, $2, $3, $4)
    )) AS referral,
    count(*) FILTER (WHERE participant_id IN (SELECT participant_id FROM application)) AS application,
    count(*) FILTER (WHERE participant_id IN (
        SELECT i.participant_id
        FROM rm_interviews i
        JOIN application a USING (participant_id, application_id)
        WHERE i.programme_id = $1
            AND rm_counts(i.position, i.tx, i.occurred_at, i.voided_at, i.voided_position, i.voided_tx, $2, $3, $4)
    )) AS interview,
    count(*) FILTER (WHERE participant_id IN (
        SELECT participant_id
        FROM rm_hires
        WHERE programme_id = $1 AND start_date <= $7::date
            AND rm_counts(position, tx, occurred_at, voided_at, voided_position, voided_tx, $2, $3, $4)
    )) AS hire
FROM participant
