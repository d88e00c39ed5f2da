-- A projection that meets an event it cannot apply holds back only that
-- event's programme (projections/holds.py): the other programmes go on, and
-- the held one waits, visibly, until the event can be applied (a fixed
-- worker) or an operator skips it for the read models (the store stays
-- append-only: the event is kept, only the read models leave it out).

-- One row per (checkpoint, programme) held: the first event that could not be
-- applied, and why. The programme's later events are passed over by the live
-- runner and applied, in order, when the hold is released.
CREATE TABLE projection_holds (
    name           text NOT NULL,
    programme_id   uuid NOT NULL,
    event_id       uuid NOT NULL,
    tx_id          xid8 NOT NULL,
    position       bigint NOT NULL,
    error          text NOT NULL,
    first_seen     timestamptz NOT NULL DEFAULT now(),
    last_tried     timestamptz NOT NULL DEFAULT now(),
    attempts       integer NOT NULL DEFAULT 1,
    PRIMARY KEY (name, programme_id)
);

-- Events an operator chose to leave out of every read model (`peoplelinks
-- projections skip`), with who said so and why. Nothing is deleted.
CREATE TABLE projection_skips (
    programme_id uuid NOT NULL,
    event_id     uuid NOT NULL,
    reason       text NOT NULL,
    skipped_by   text NOT NULL,
    skipped_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, event_id)
);

GRANT SELECT ON projection_holds, projection_skips TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON projection_holds TO peoplelinks_worker;
GRANT SELECT ON projection_skips TO peoplelinks_worker;
SELECT peoplelinks_secure_table('projection_holds', true);
SELECT peoplelinks_secure_table('projection_skips', true);

-- What /health/ready may tell without a tenant: which projections hold
-- programmes back, how many, since when and the kind of error (no ids).
CREATE FUNCTION peoplelinks_projection_holds()
RETURNS TABLE (name text, programmes bigint, since timestamptz, errors text[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT name, count(*), min(first_seen), array_agg(DISTINCT split_part(error, ':', 1) ORDER BY split_part(error, ':', 1))
    FROM projection_holds GROUP BY name ORDER BY name
$$;
REVOKE ALL ON FUNCTION peoplelinks_projection_holds() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peoplelinks_projection_holds() TO peoplelinks_app;
