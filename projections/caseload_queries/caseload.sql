-- The participants a view covers: those existing as of it, of the cohort and counselor asked for.
WITH
{participants_as_of}
SELECT participant_id FROM participant ORDER BY participant_id
