-- Report positions that no later commit can move (docs/decisions.md, Reading:
-- reports computed at a settled position).
--
-- A report answers at (P, H): P a global_position every visible event at or
-- below which the read model holds, H the transaction horizon
-- pg_snapshot_xmin(pg_current_snapshot()) when P was first answered. What the
-- report counts is what an event at or below P stored by a transaction below H
-- made. The first pin of a P wins (INSERT ... ON CONFLICT DO NOTHING), so
-- asking again with as_of_position = P finds the same H and the same figures.
CREATE TABLE report_positions (
    programme_id uuid NOT NULL REFERENCES programmes (programme_id),
    position     bigint NOT NULL CHECK (position >= 0),
    horizon      bigint NOT NULL,
    pinned_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, position)
);
GRANT SELECT, INSERT ON report_positions TO peoplelinks_app, peoplelinks_worker;
SELECT peoplelinks_secure_table('report_positions', true);

-- Each fact row carries the transaction id of its event and of its void: a
-- report at (P, H) holds a row when position <= P and tx < H.
ALTER TABLE report_facts ADD COLUMN tx bigint, ADD COLUMN voided_tx bigint;
UPDATE report_facts r SET tx = e.tx_id::text::bigint
FROM events e WHERE e.programme_id = r.programme_id AND e.event_id = r.event_id;
UPDATE report_facts r SET voided_tx = e.tx_id::text::bigint
FROM events e WHERE r.voided_position IS NOT NULL AND e.global_position = r.voided_position;
-- A row whose event is gone from the store (none should be) is held by every position, as before.
UPDATE report_facts SET tx = 0 WHERE tx IS NULL;
UPDATE report_facts SET voided_tx = 0 WHERE voided_position IS NOT NULL AND voided_tx IS NULL;
ALTER TABLE report_facts ALTER COLUMN tx SET NOT NULL;

-- A kept report keeps the horizon of its position beside the position.
ALTER TABLE kept_reports ADD COLUMN horizon bigint;
