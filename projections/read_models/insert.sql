-- Inserts of the read_models projection: one statement a record kind, its rows as arrays
-- (unnest), so a batch of any size costs one round trip a kind. ON CONFLICT DO NOTHING makes
-- a replayed batch change nothing. Parameters: $1 programme_id, $2 event_id, the record's fields
-- in order, then position, tx and occurred_at.

-- name: insert_participants
INSERT INTO rm_participants (programme_id, event_id, participant_id, enrolled_on, counselor_id, cohort, age_band, gender, race_ethnicity, veteran, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::date[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], $10::boolean[], $11::bigint[], $12::bigint[], $13::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_counselor_assignments
INSERT INTO rm_counselor_assignments (programme_id, event_id, participant_id, counselor_id, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[], $7::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_contacts
INSERT INTO rm_contacts (programme_id, event_id, contact_id, employer_id, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[], $7::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_contact_employers
INSERT INTO rm_contact_employers (programme_id, event_id, contact_id, employer_id, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::bigint[], $6::bigint[], $7::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_relationships_noted
INSERT INTO rm_relationships_noted (programme_id, event_id, participant_id, contact_id, closeness, how_known, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_outreach
-- Each outreach inserted (not one a replay finds there) is live: one more sent in its participant's tally.
WITH inserted AS (
    INSERT INTO rm_outreach (programme_id, event_id, participant_id, outreach_id, contact_id, channel, purpose, follow_up_of, attempt, thread_root, dated_before_parent, position, tx, occurred_at)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::uuid[], $9::integer[], $10::uuid[], $11::boolean[], $12::bigint[], $13::bigint[], $14::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING programme_id, participant_id
)
INSERT INTO rm_outreach_tallies AS t (programme_id, participant_id, sent, answered)
SELECT programme_id, participant_id, count(*), 0 FROM inserted GROUP BY programme_id, participant_id
ON CONFLICT (programme_id, participant_id) DO UPDATE SET sent = t.sent + excluded.sent;

-- name: insert_responses
-- A live outreach that had no live response before this statement (its snapshot does not see the rows it
-- inserts) and gets one now is one more answered in its participant's tally.
WITH inserted AS (
    INSERT INTO rm_responses (programme_id, event_id, participant_id, outreach_id, outcome, position, tx, occurred_at)
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[])
    ON CONFLICT DO NOTHING
    RETURNING programme_id, participant_id, outreach_id
),
newly_answered AS (
    SELECT DISTINCT i.programme_id, i.participant_id, i.outreach_id
    FROM inserted i
    JOIN rm_outreach o
        ON o.programme_id = i.programme_id AND o.outreach_id = i.outreach_id AND o.participant_id = i.participant_id
    WHERE o.voided_at IS NULL
        AND NOT EXISTS (
            SELECT 1 FROM rm_responses r
            WHERE r.programme_id = i.programme_id AND r.outreach_id = i.outreach_id
                AND r.participant_id = i.participant_id AND r.voided_at IS NULL
        )
)
INSERT INTO rm_outreach_tallies AS t (programme_id, participant_id, sent, answered)
SELECT programme_id, participant_id, 0, count(*) FROM newly_answered GROUP BY programme_id, participant_id
ON CONFLICT (programme_id, participant_id) DO UPDATE SET answered = t.answered + excluded.answered;

-- name: insert_meetings
INSERT INTO rm_meetings (programme_id, event_id, participant_id, meeting_id, contact_id, format, kind, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_referrals
INSERT INTO rm_referrals (programme_id, event_id, participant_id, referral_id, contact_id, employer_id, to_contact_id, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::bigint[], $9::bigint[], $10::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_applications
INSERT INTO rm_applications (programme_id, event_id, participant_id, application_id, employer_id, route, referral_id, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::uuid[], $8::bigint[], $9::bigint[], $10::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_interviews
INSERT INTO rm_interviews (programme_id, event_id, participant_id, application_id, round, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::integer[], $6::bigint[], $7::bigint[], $8::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_application_closures
INSERT INTO rm_application_closures (programme_id, event_id, participant_id, application_id, outcome, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_hires
INSERT INTO rm_hires (programme_id, event_id, participant_id, job_id, employer_id, start_date, source, hourly_wage, hours_per_week, application_id, via_contact_id, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::date[], $7::text[], $8::numeric[], $9::float8[], $10::uuid[], $11::uuid[], $12::bigint[], $13::bigint[], $14::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_verifications
INSERT INTO rm_verifications (programme_id, event_id, participant_id, job_id, verified_on, method, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::date[], $6::text[], $7::bigint[], $8::bigint[], $9::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_promotions
INSERT INTO rm_promotions (programme_id, event_id, participant_id, job_id, promoted_on, new_hourly_wage, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::date[], $6::numeric[], $7::bigint[], $8::bigint[], $9::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_job_ends
INSERT INTO rm_job_ends (programme_id, event_id, participant_id, job_id, ended_on, reason, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::date[], $6::text[], $7::bigint[], $8::bigint[], $9::timestamptz[])
ON CONFLICT DO NOTHING;

-- name: insert_exits
INSERT INTO rm_exits (programme_id, event_id, participant_id, exited_on, reason, position, tx, occurred_at)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::date[], $5::text[], $6::bigint[], $7::bigint[], $8::timestamptz[])
ON CONFLICT DO NOTHING;
