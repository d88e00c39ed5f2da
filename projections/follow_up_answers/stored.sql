-- The stored follow-up answers that stand for an ask at report position (P, H): computed for the same
-- as_of, time zone, interval and definition, and neither the participant nor the contact directory
-- changed beyond either position or horizon (every row of theirs counts at both: the same answer).
-- $1 programme, $2 participants, $3 as_of, $4 time zone, $5 follow-up interval, $6 definition, $7 P, $8 H.
SELECT a.participant_id, a.items
FROM follow_up_answers a
JOIN rm_change_marks m ON m.programme_id = a.programme_id AND m.subject_id = a.participant_id
LEFT JOIN rm_change_marks d
    ON d.programme_id = a.programme_id AND d.subject_id = '00000000-0000-0000-0000-000000000000'::uuid
WHERE a.programme_id = $1 AND a.participant_id = ANY($2::uuid[])
    AND a.as_of = $3 AND a.time_zone = $4 AND a.follow_up_after_days = $5 AND a.definition = $6
    AND m.position <= least($7::bigint, a.position) AND m.tx < least($8::bigint, a.horizon)
    AND (d.subject_id IS NULL OR (d.position <= least($7::bigint, a.position) AND d.tx < least($8::bigint, a.horizon)))
