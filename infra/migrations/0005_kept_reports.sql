-- Reports the worker keeps (the monthly outcome report of each programme), in
-- both audiences, exactly as answered, with their position and hash.
CREATE TABLE kept_reports (
    programme_id    uuid NOT NULL REFERENCES programmes (programme_id),
    kind            text NOT NULL CHECK (kind IN ('monthly_outcomes')),
    as_of           date NOT NULL,
    audience        text NOT NULL CHECK (audience IN ('staff', 'funder')),
    period_from     date NOT NULL,
    period_to       date NOT NULL,
    global_position bigint NOT NULL,
    hash            text NOT NULL,
    body            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, kind, as_of, audience)
);
GRANT SELECT, INSERT ON kept_reports TO peoplelinks_app;
