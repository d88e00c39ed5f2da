-- Projections: a checkpoint per read model, and the report facts read model.

-- Where each projection stands in the store's gap-free order (see
-- infra/event_store.py): after (tx_id, position). Advanced in the same
-- transaction as the read-model writes of the events it covers.
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    tx_id      xid8 NOT NULL DEFAULT '0'::xid8,
    position   bigint NOT NULL DEFAULT 0,
    events     bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row a report fact (domain/reporting/facts.py): the record an event
-- makes, marked when an entry_voided names it. Reports decide what counts for
-- their as_of and as_of_position, so one row serves every date.
CREATE TABLE report_facts (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid,
    kind            text NOT NULL,
    position        bigint NOT NULL,
    record          jsonb NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX report_facts_programme_idx ON report_facts (programme_id, position);

GRANT SELECT, INSERT, UPDATE ON projection_checkpoints TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE ON report_facts TO peoplelinks_app;
