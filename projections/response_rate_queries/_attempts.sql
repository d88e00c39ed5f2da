-- Attempt numbers (only when grouped by attempt, $9): rm_outreach.attempt numbers every outreach of its thread as
-- sent; domain.reporting.snapshot.attempt_numbers numbers the counted outreach only, a counted outreach whose
-- parent does not count starting a thread of its own. So only the counted descendants of such a "break" are
-- numbered again (`renumbered`): the break 1, each counted follow-up of a renumbered one the next. The parent of
-- a break is voided or beyond P or H (found through indexes), or dated on or after the end of as_of (E): then
-- the break is dated before its parent, which the worker marks (rm_outreach.dated_before_parent, migration
-- 0024), and it is found from the few so marked, not by a look-up for each outreach of the days after as_of.
-- Parameters as in the queries that include it: $1 programme, $2 P, $3 H, $4 E, $9 the grouping.
uncounted AS (
    SELECT o.participant_id, o.outreach_id
    FROM rm_outreach o
    WHERE $9::text = 'attempt' AND o.programme_id = $1
        AND (o.voided_at IS NOT NULL OR o.position > $2 OR o.tx >= $3)
        AND NOT rm_counts(o.position, o.tx, o.occurred_at, o.voided_at, o.voided_position, o.voided_tx, $2, $3, $4)
),
renumbered (participant_id, outreach_id, attempt) AS (
    SELECT c.participant_id, c.outreach_id, 1
    FROM uncounted u
    JOIN rm_outreach c ON c.programme_id = $1 AND c.follow_up_of = u.outreach_id AND c.participant_id = u.participant_id
    WHERE rm_counts(c.position, c.tx, c.occurred_at, c.voided_at, c.voided_position, c.voided_tx, $2, $3, $4)
    UNION ALL
    -- Parents uncounted for their date alone (the others are uncounted's).
    SELECT c.participant_id, c.outreach_id, 1
    FROM rm_outreach c
    JOIN rm_outreach p ON p.programme_id = $1 AND p.outreach_id = c.follow_up_of AND p.participant_id = c.participant_id
    WHERE $9::text = 'attempt' AND c.programme_id = $1 AND c.dated_before_parent
        AND p.occurred_at >= $4 AND p.voided_at IS NULL AND p.position <= $2 AND p.tx < $3
        AND rm_counts(c.position, c.tx, c.occurred_at, c.voided_at, c.voided_position, c.voided_tx, $2, $3, $4)
    UNION ALL
    SELECT c.participant_id, c.outreach_id, r.attempt + 1
    FROM renumbered r
    JOIN rm_outreach c ON c.programme_id = $1 AND c.follow_up_of = r.outreach_id AND c.participant_id = r.participant_id
    WHERE rm_counts(c.position, c.tx, c.occurred_at, c.voided_at, c.voided_position, c.voided_tx, $2, $3, $4)
)
