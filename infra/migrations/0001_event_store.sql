-- The event store: one append-only table, plus the stream heads used for
-- optimistic concurrency and existence checks, and the programmes and users
-- that own the streams.

DO $$
BEGIN
    -- The role the application acts as. It owns nothing, so it cannot bypass
    -- the grants or (later) row-level security of the tables it uses.
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'peoplelinks_app') THEN
        CREATE ROLE peoplelinks_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END
$$;

CREATE TABLE programmes (
    programme_id         uuid PRIMARY KEY,
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone            text NOT NULL DEFAULT 'UTC',
    suppress_below       integer NOT NULL DEFAULT 11 CHECK (suppress_below >= 1),
    follow_up_after_days integer NOT NULL DEFAULT 7 CHECK (follow_up_after_days >= 1),
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    user_id       uuid PRIMARY KEY,
    programme_id  uuid NOT NULL REFERENCES programmes (programme_id),
    email         text NOT NULL CHECK (email = lower(email)),
    role          text NOT NULL CHECK (role IN ('admin', 'staff', 'counselor', 'funder')),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled_at   timestamptz
);
-- A login names one user of one programme.
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_programme_idx ON users (programme_id);

-- One row a stream, written by the append that creates it: whether its
-- record exists (removed once its creation event is voided), so that
-- references from other streams are checked with one indexed lookup. The
-- stream's version lives only in events, whose unique key judges concurrent
-- appends; this row is never updated on an ordinary append, so appends to
-- different streams never wait on each other here.
CREATE TABLE streams (
    programme_id uuid NOT NULL REFERENCES programmes (programme_id),
    stream_id    text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('participant', 'contact', 'employer')),
    removed      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (programme_id, stream_id)
);

CREATE TABLE events (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    programme_id    uuid NOT NULL,
    stream_id       text NOT NULL,
    stream_version  integer NOT NULL CHECK (stream_version >= 1),
    event_id        uuid NOT NULL,
    type            text NOT NULL,
    schema_version  smallint NOT NULL,
    data            jsonb NOT NULL,
    metadata        jsonb NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The writing transaction. Positions are drawn in sequence order but
    -- become visible in commit order; readers follow (tx_id, global_position)
    -- below the oldest transaction still in flight, which never changes
    -- behind them (see infra/event_store.py).
    tx_id           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT events_stream_version_key UNIQUE (programme_id, stream_id, stream_version),
    CONSTRAINT events_event_id_key UNIQUE (programme_id, event_id)
);
CREATE INDEX events_tx_order_idx ON events (tx_id, global_position);

-- Append-only, whoever asks: refuse UPDATE, DELETE and TRUNCATE.
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

GRANT USAGE ON SCHEMA public TO peoplelinks_app;
GRANT SELECT, INSERT ON events TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE ON streams TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE ON programmes TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE ON users TO peoplelinks_app;

-- The store's status shows the age of the oldest open transaction (the
-- horizon readers wait on); seeing other sessions needs this.
DO $$
BEGIN
    GRANT pg_read_all_stats TO peoplelinks_app;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pg_read_all_stats not granted: the status will only see the application''s own sessions';
END
$$;
