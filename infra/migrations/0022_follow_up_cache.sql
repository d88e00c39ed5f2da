-- The follow-up queue from stored answers (issue 9: one counselor's queue at 1M events loaded 58,000 rows
-- and folded them in Python on every request, about 0.6 s).
--
-- rm_change_marks, kept by the read_models projection in the same transaction as the rows: for each
-- participant, the highest position and transaction id of any event that added or voided one of their rows;
-- for the programme's contact directory (subject_id = the nil uuid), the same for contact_updated and voids
-- of contact rows (a contact_added changes no existing participant's queue: whatever refers to the contact
-- comes after it, and marks that participant).
--
-- follow_up_answers: a participant's follow-up items as computed (by the pure function of
-- domain/reporting/follow_ups.py) for one as_of, time zone and follow-up interval, at a report position
-- (position, horizon). A stored answer stands for a later ask at (P, H) when the participant's and the
-- directory's marks are at or below both positions and below both horizons: then every row of theirs is
-- counted in both, and the answer is the same (docs/decisions.md). Any API process may store one; none is
-- ever changed in place except by a newer computation of the same participant. `definition` names the code
-- that computed it, so a deployment with another definition computes afresh.
CREATE TABLE rm_change_marks (
    programme_id uuid NOT NULL,
    subject_id   uuid NOT NULL,
    position     bigint NOT NULL,
    tx           bigint NOT NULL,
    PRIMARY KEY (programme_id, subject_id)
);
GRANT SELECT ON rm_change_marks TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE ON rm_change_marks TO peoplelinks_worker;
SELECT peoplelinks_secure_table('rm_change_marks', true);

-- The marks of what the read models hold already.
INSERT INTO rm_change_marks (programme_id, subject_id, position, tx)
SELECT programme_id, subject_id, max(position), max(tx)
FROM (
    SELECT programme_id, participant_id AS subject_id, greatest(position, voided_position) AS position,
        greatest(tx, voided_tx) AS tx
    FROM (
        SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_participants
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_counselor_assignments
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_relationships_noted
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_outreach
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_responses
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_meetings
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_referrals
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_applications
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_interviews
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_application_closures
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_hires
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_verifications
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_promotions
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_job_ends
        UNION ALL SELECT programme_id, participant_id, position, voided_position, tx, voided_tx FROM rm_exits
    ) participant_rows
    UNION ALL
    SELECT programme_id, '00000000-0000-0000-0000-000000000000', greatest(position, voided_position),
        greatest(tx, voided_tx)
    FROM rm_contact_employers
    UNION ALL
    SELECT programme_id, '00000000-0000-0000-0000-000000000000', voided_position, voided_tx
    FROM rm_contacts WHERE voided_at IS NOT NULL
) marks
GROUP BY programme_id, subject_id;

CREATE TABLE follow_up_answers (
    programme_id        uuid NOT NULL,
    participant_id      uuid NOT NULL,
    as_of               date NOT NULL,
    time_zone           text NOT NULL,
    follow_up_after_days integer NOT NULL,
    definition          text NOT NULL,
    position            bigint NOT NULL,
    horizon             bigint NOT NULL,
    items               bytea NOT NULL,
    computed_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, participant_id)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON follow_up_answers TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON follow_up_answers TO peoplelinks_worker;
SELECT peoplelinks_secure_table('follow_up_answers', true);
