-- Keep freshly computed answers (one row a participant and day: the latest computation replaces the one before).
-- $1 programme, $2 participants, $3 as_of, $4 time zone, $5 follow-up interval, $6 definition, $7 P, $8 H,
-- $9 the items of each participant (msgpack), in the order of $2; $10 and $11 the contacts each one's records
-- name, as (participant, contact) pairs.
WITH named AS (
    SELECT participant_id, array_agg(contact_id) AS contacts
    FROM unnest($10::uuid[], $11::uuid[]) AS pair (participant_id, contact_id)
    GROUP BY participant_id
)
INSERT INTO follow_up_answers AS a
    (programme_id, participant_id, as_of, time_zone, follow_up_after_days, definition, position, horizon, items,
    contacts)
SELECT $1, fresh.participant_id, $3, $4, $5, $6, $7, $8, fresh.items, coalesce(named.contacts, '{}')
FROM unnest($2::uuid[], $9::bytea[]) AS fresh (participant_id, items)
LEFT JOIN named USING (participant_id)
ON CONFLICT (programme_id, participant_id, as_of) DO UPDATE
SET time_zone = excluded.time_zone, follow_up_after_days = excluded.follow_up_after_days,
    definition = excluded.definition, position = excluded.position, horizon = excluded.horizon,
    items = excluded.items, contacts = excluded.contacts, computed_at = now()
