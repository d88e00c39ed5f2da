-- Stored follow-up answers that outlive a contact's change and a new day (issue 9).
--
-- Until now one contact's employer change (or a void of a contact's row) moved the mark of the programme's
-- whole contact directory (the nil uuid in rm_change_marks), and every stored follow-up answer of the programme
-- stopped standing: each counselor's next queue was computed afresh (about 1 s at 1M events) and the worker's
-- next hourly preparation computed every participant again (34 s at 1M). Now such an event marks the contact
-- itself (subject_id = the contact's id), and each stored answer names the contacts it read (`contacts`: every
-- contact its participant's records name, which is all of the directory its computation can look up); an
-- answer stands while neither its participant nor any of those contacts changed beyond the ask's position or
-- horizon (projections/follow_up_answers/stored.sql).
--
-- Answers are kept per day (`as_of` joins the key), so the worker can prepare the next day's answers in the
-- last hour of the day without replacing today's (projections/participant_views.py, prepare_follow_ups), and a
-- counselor who opens the queue just after midnight is served stored answers. The preparation deletes the
-- answers of days before the programme's today.

-- The contacts' marks, from what the read models hold (as migration 0022 made the directory's), instead of the
-- directory's one.
DELETE FROM rm_change_marks WHERE subject_id = '00000000-0000-0000-0000-000000000000';
INSERT INTO rm_change_marks AS m (programme_id, subject_id, position, tx)
SELECT programme_id, contact_id, max(position), max(tx)
FROM (
    SELECT programme_id, contact_id, greatest(position, voided_position) AS position,
        greatest(tx, voided_tx) AS tx
    FROM rm_contact_employers
    UNION ALL
    SELECT programme_id, contact_id, voided_position, voided_tx
    FROM rm_contacts WHERE voided_at IS NOT NULL
) marks
GROUP BY programme_id, contact_id
ON CONFLICT (programme_id, subject_id) DO UPDATE
SET position = greatest(m.position, excluded.position), tx = greatest(m.tx, excluded.tx);

-- The answers kept so far name no contacts, and the code that computes them changed (their `definition` no
-- longer matches): none would be served again.
DELETE FROM follow_up_answers;
ALTER TABLE follow_up_answers ADD COLUMN contacts uuid[] NOT NULL;
ALTER TABLE follow_up_answers DROP CONSTRAINT follow_up_answers_pkey;
ALTER TABLE follow_up_answers ADD PRIMARY KEY (programme_id, participant_id, as_of);
