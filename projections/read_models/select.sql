-- Reading the tables back as domain records (load_facts_of): a programme's rows of one kind, in
-- store position order; select_<kind>_of those of some participants only ($2), by the index on
-- (programme_id, participant_id).

-- name: select_participants
SELECT * FROM rm_participants WHERE programme_id = $1 ORDER BY position;

-- name: select_participants_of
SELECT * FROM rm_participants WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_counselor_assignments
SELECT * FROM rm_counselor_assignments WHERE programme_id = $1 ORDER BY position;

-- name: select_counselor_assignments_of
SELECT * FROM rm_counselor_assignments WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_contacts
SELECT * FROM rm_contacts WHERE programme_id = $1 ORDER BY position;

-- name: select_contact_employers
SELECT * FROM rm_contact_employers WHERE programme_id = $1 ORDER BY position;

-- name: select_relationships_noted
SELECT * FROM rm_relationships_noted WHERE programme_id = $1 ORDER BY position;

-- name: select_relationships_noted_of
SELECT * FROM rm_relationships_noted WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_outreach
SELECT * FROM rm_outreach WHERE programme_id = $1 ORDER BY position;

-- name: select_outreach_of
SELECT * FROM rm_outreach WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_responses
SELECT * FROM rm_responses WHERE programme_id = $1 ORDER BY position;

-- name: select_responses_of
SELECT * FROM rm_responses WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_meetings
SELECT * FROM rm_meetings WHERE programme_id = $1 ORDER BY position;

-- name: select_meetings_of
SELECT * FROM rm_meetings WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_referrals
SELECT * FROM rm_referrals WHERE programme_id = $1 ORDER BY position;

-- name: select_referrals_of
SELECT * FROM rm_referrals WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_applications
SELECT * FROM rm_applications WHERE programme_id = $1 ORDER BY position;

-- name: select_applications_of
SELECT * FROM rm_applications WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_interviews
SELECT * FROM rm_interviews WHERE programme_id = $1 ORDER BY position;

-- name: select_interviews_of
SELECT * FROM rm_interviews WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_application_closures
SELECT * FROM rm_application_closures WHERE programme_id = $1 ORDER BY position;

-- name: select_application_closures_of
SELECT * FROM rm_application_closures WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_hires
SELECT * FROM rm_hires WHERE programme_id = $1 ORDER BY position;

-- name: select_hires_of
SELECT * FROM rm_hires WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_verifications
SELECT * FROM rm_verifications WHERE programme_id = $1 ORDER BY position;

-- name: select_verifications_of
SELECT * FROM rm_verifications WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_promotions
SELECT * FROM rm_promotions WHERE programme_id = $1 ORDER BY position;

-- name: select_promotions_of
SELECT * FROM rm_promotions WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_job_ends
SELECT * FROM rm_job_ends WHERE programme_id = $1 ORDER BY position;

-- name: select_job_ends_of
SELECT * FROM rm_job_ends WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_exits
SELECT * FROM rm_exits WHERE programme_id = $1 ORDER BY position;

-- name: select_exits_of
SELECT * FROM rm_exits WHERE programme_id = $1 AND participant_id = ANY($2::uuid[]) ORDER BY position;

-- The directory a few participants' views need: the contacts their records name (load_facts_of collects
-- the ids from the participants' rows), and those contacts' employer changes. Every look-up of the
-- directory in domain/reporting is by a contact id that one of the participant's records holds.

-- name: select_contacts_of_contacts
SELECT * FROM rm_contacts WHERE programme_id = $1 AND contact_id = ANY($2::uuid[]) ORDER BY position;

-- name: select_contact_employers_of_contacts
SELECT * FROM rm_contact_employers WHERE programme_id = $1 AND contact_id = ANY($2::uuid[]) ORDER BY position;
