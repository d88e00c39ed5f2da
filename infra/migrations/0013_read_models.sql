-- Typed read models (projections/read_models.py): one table per record kind of
-- domain/reporting/facts.py, kept by the worker's `read_models` projection
-- with one checkpoint. Each row carries where its event sits (position =
-- global_position, tx = the event's tx_id) and, once an entry_voided names it,
-- the void's instant and place, so one set of tables answers any as_of, any
-- from/to and any report position (P, H): a row exists at (P, H) iff
-- position <= P AND tx < H.
--
-- Indexes are left unnamed on purpose: a rebuild creates the fresh tables
-- with LIKE ... INCLUDING ALL in a schema of its own, where PostgreSQL
-- generates the same names, so the swapped-in tables keep them.

CREATE TABLE rm_participants (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    enrolled_on     date NOT NULL,
    counselor_id    uuid NOT NULL,
    cohort          text,
    age_band        text,
    gender          text,
    race_ethnicity  text,
    veteran         boolean,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_participants (programme_id, participant_id);
CREATE INDEX ON rm_participants (programme_id, enrolled_on);

CREATE TABLE rm_counselor_assignments (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    counselor_id    uuid NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_counselor_assignments (programme_id, participant_id);

CREATE TABLE rm_contacts (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    contact_id      uuid NOT NULL,
    employer_id     uuid,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_contacts (programme_id, contact_id);

CREATE TABLE rm_contact_employers (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    contact_id      uuid NOT NULL,
    employer_id     uuid NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_contact_employers (programme_id, contact_id);

CREATE TABLE rm_relationships_noted (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    contact_id      uuid NOT NULL,
    closeness       text NOT NULL,
    how_known       text NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_relationships_noted (programme_id, participant_id);

-- attempt and thread_root follow follow_up_of at the time the outreach was
-- sent (the append rules make its parent an earlier live outreach of the same
-- participant), whatever is voided later: 1 and the outreach itself without
-- a parent, else 1 + the parent's attempt and the parent's root.
CREATE TABLE rm_outreach (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    outreach_id     uuid NOT NULL,
    contact_id      uuid NOT NULL,
    channel         text NOT NULL,
    purpose         text NOT NULL,
    follow_up_of    uuid,
    attempt         integer NOT NULL,
    thread_root     uuid NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_outreach (programme_id, participant_id);
CREATE INDEX ON rm_outreach (programme_id, occurred_at);
CREATE INDEX ON rm_outreach (programme_id, outreach_id);

CREATE TABLE rm_responses (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    outreach_id     uuid NOT NULL,
    outcome         text NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_responses (programme_id, participant_id);
CREATE INDEX ON rm_responses (programme_id, outreach_id);

CREATE TABLE rm_meetings (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    meeting_id      uuid NOT NULL,
    contact_id      uuid NOT NULL,
    format          text NOT NULL,
    kind            text NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_meetings (programme_id, participant_id);

CREATE TABLE rm_referrals (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    referral_id     uuid NOT NULL,
    contact_id      uuid NOT NULL,
    employer_id     uuid,
    to_contact_id   uuid,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_referrals (programme_id, participant_id);

CREATE TABLE rm_applications (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    application_id  uuid NOT NULL,
    employer_id     uuid NOT NULL,
    route           text NOT NULL,
    referral_id     uuid,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_applications (programme_id, participant_id);

CREATE TABLE rm_interviews (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    application_id  uuid NOT NULL,
    round           integer,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_interviews (programme_id, participant_id);

CREATE TABLE rm_application_closures (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    application_id  uuid NOT NULL,
    outcome         text NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_application_closures (programme_id, participant_id);

-- hours_per_week is a float in the domain (double precision keeps it exact);
-- wages are decimal strings in events (numeric keeps them exact).
CREATE TABLE rm_hires (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    job_id          uuid NOT NULL,
    employer_id     uuid NOT NULL,
    start_date      date NOT NULL,
    source          text NOT NULL,
    hourly_wage     numeric,
    hours_per_week  double precision,
    application_id  uuid,
    via_contact_id  uuid,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_hires (programme_id, participant_id);
CREATE INDEX ON rm_hires (programme_id, job_id);

CREATE TABLE rm_verifications (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    job_id          uuid NOT NULL,
    verified_on     date NOT NULL,
    method          text NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_verifications (programme_id, participant_id);
CREATE INDEX ON rm_verifications (programme_id, job_id);

CREATE TABLE rm_promotions (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    job_id          uuid NOT NULL,
    promoted_on     date NOT NULL,
    new_hourly_wage numeric,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_promotions (programme_id, participant_id);
CREATE INDEX ON rm_promotions (programme_id, job_id);

CREATE TABLE rm_job_ends (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    job_id          uuid NOT NULL,
    ended_on        date NOT NULL,
    reason          text NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_job_ends (programme_id, participant_id);
CREATE INDEX ON rm_job_ends (programme_id, job_id);

CREATE TABLE rm_exits (
    programme_id    uuid NOT NULL,
    event_id        uuid NOT NULL,
    participant_id  uuid NOT NULL,
    exited_on       date NOT NULL,
    reason          text NOT NULL,
    position        bigint NOT NULL,
    tx              bigint NOT NULL,
    occurred_at     timestamptz NOT NULL,
    voided_at       timestamptz,
    voided_position bigint,
    voided_tx       bigint,
    PRIMARY KEY (programme_id, event_id)
);
CREATE INDEX ON rm_exits (programme_id, participant_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'rm_participants', 'rm_counselor_assignments', 'rm_contacts', 'rm_contact_employers',
        'rm_relationships_noted', 'rm_outreach', 'rm_responses', 'rm_meetings', 'rm_referrals',
        'rm_applications', 'rm_interviews', 'rm_application_closures', 'rm_hires', 'rm_verifications',
        'rm_promotions', 'rm_job_ends', 'rm_exits'
    ] LOOP
        EXECUTE format('GRANT SELECT ON %I TO peoplelinks_app', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO peoplelinks_worker', t);
        PERFORM peoplelinks_secure_table(t::regclass, true);
    END LOOP;
END
$$;
