-- The answers of a programme ($1) for days before its today ($2): kept for no ask to come.
DELETE FROM follow_up_answers WHERE programme_id = $1 AND as_of < $2
