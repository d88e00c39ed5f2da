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
-- The contacts' marks beyond the oldest of those answers (its position or horizon): the contacts changed since
-- any of them was computed, usually none or a few. Probed one by one instead, a counselor's 250 answers naming
-- 30 contacts each cost 7,500 index probes (9 ms at 1M events).
changed AS MATERIALIZED (
    SELECT c.subject_id, c.position, c.tx
    FROM rm_change_marks c
    WHERE c.programme_id = $1 AND (c.position > (SELECT min(p) FROM answer) OR c.tx >= (SELECT min(h) FROM answer))
        AND EXISTS (SELECT 1 FROM rm_contacts k WHERE k.programme_id = $1 AND k.contact_id = c.subject_id)
),
-- Each answer's contacts, one row a pair: hashed against those marks, whatever the planner guesses of the
-- answers (a CTE it cannot see into).
named AS MATERIALIZED (
    SELECT a.participant_id, a.p, a.h, contact.id
    FROM answer a
    CROSS JOIN LATERAL unnest(a.contacts) AS contact (id)
),
-- The answers one of whose contacts changed since (a contact with no mark never changed).
stale AS (
    SELECT DISTINCT n.participant_id
    FROM named n
    JOIN changed c ON c.subject_id = n.id
    WHERE c.position > n.p OR c.tx >= n.h
)
SELECT participant_id, items FROM answer WHERE participant_id NOT IN (SELECT participant_id FROM stale)
