-- Outreach threads: the attempt number, thread root and date of the outreaches that earlier batches
-- wrote and that this batch's follow-ups name. The append rules make a follow-up's parent an
-- earlier live outreach of the same participant, so it is in this batch or already in the table.
-- Parameters: programme_id, participant_id, outreach_id, as arrays.

-- name: outreach_threads
SELECT o.programme_id, o.participant_id, o.outreach_id, o.attempt, o.thread_root, o.occurred_at
FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS k(programme_id, participant_id, outreach_id)
JOIN rm_outreach AS o
    ON o.programme_id = k.programme_id AND o.outreach_id = k.outreach_id AND o.participant_id = k.participant_id
ORDER BY o.position;
