-- The stored follow-up answers that stand for an ask at report position (P, H): computed for the same
-- as_of, time zone, interval and definition, and neither the participant nor any contact its records name
-- (the answer's `contacts`, migration 0026) changed beyond either position or horizon: every row the answer
-- read counts at both, and the answer is the same.
-- $1 programme, $2 participants, $3 as_of, $4 time zone, $5 follow-up interval, $6 definition, $7 P, $8 H.
WITH answer AS MATERIALIZED (
    SELECT a.participant_id, a.items, a.contacts, least($7::bigint, a.position) AS p, least($8::bigint, a.horizon) AS h
    FROM follow_up_answers a
    JOIN rm_change_marks m ON m.programme_id = a.programme_id AND m.subject_id = a.participant_id
    WHERE a.programme_id = $1 AND a.participant_id = ANY($2::uuid[])
        AND a.as_of = $3 AND a.time_zone = $4 AND a.follow_up_after_days = $5 AND a.definition = $6
        AND m.position <= least($7::bigint, a.position) AND m.tx < least($8::bigint, a.horizon)
),
-- The answers one of whose contacts changed since: each (answer, contact) pair joined to the contacts' marks
-- (a contact with no mark never changed).
stale AS (
    SELECT DISTINCT a.participant_id
    FROM answer a
    CROSS JOIN LATERAL unnest(a.contacts) AS named (contact_id)
    JOIN rm_change_marks c ON c.programme_id = $1 AND c.subject_id = named.contact_id
    WHERE c.position > a.p OR c.tx >= a.h
)
SELECT participant_id, items FROM answer WHERE participant_id NOT IN (SELECT participant_id FROM stale)
