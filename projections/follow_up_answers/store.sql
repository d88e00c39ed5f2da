-- Keep freshly computed answers (one row a participant: the latest computation replaces the one before).
-- $1 programme, $2 participants, $3 as_of, $4 time zone, $5 follow-up interval, $6 definition, $7 P, $8 H,
-- $9 the items of each participant (msgpack), in the order of $2.
INSERT INTO follow_up_answers AS a
    (programme_id, participant_id, as_of, time_zone, follow_up_after_days, definition, position, horizon, items)
SELECT $1, participant_id, $3, $4, $5, $6, $7, $8, items
FROM unnest($2::uuid[], $9::bytea[]) AS fresh (participant_id, items)
ON CONFLICT (programme_id, participant_id) DO UPDATE
SET as_of = excluded.as_of, time_zone = excluded.time_zone, follow_up_after_days = excluded.follow_up_after_days,
    definition = excluded.definition, position = excluded.position, horizon = excluded.horizon,
    items = excluded.items, computed_at = now()
