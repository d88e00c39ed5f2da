-- What funders may see: reports released for fixed quarters, once each.
--
-- A funder who could ask for any from/to/as_of/as_of_position could difference
-- two answers (from=2026-01-01 and from=2026-01-02) and recover the one person
-- between them, whatever each answer suppresses. Funders therefore read only
-- releases: an admin releases a calendar quarter once the quarter is over, at
-- one as_of and one position, and the funder editions of the outcome report and
-- of the response-rate dashboard (overall and every group a funder may see) are
-- kept exactly as released. Quarters never overlap or nest, and a release is
-- never made again, so no two answers a funder can get cover nested groups of
-- people (docs/security.md, Funders and differencing).
CREATE TABLE report_releases (
    programme_id    uuid NOT NULL REFERENCES programmes (programme_id),
    period          text NOT NULL CHECK (period ~ '^[0-9]{4}-Q[1-4]$'),
    period_from     date NOT NULL,
    period_to       date NOT NULL,
    as_of           date NOT NULL CHECK (as_of > period_to),
    global_position bigint NOT NULL,
    outcomes        jsonb NOT NULL,
    dashboards      jsonb NOT NULL,
    released_by     uuid NOT NULL,
    released_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (programme_id, period)
);
GRANT SELECT, INSERT ON report_releases TO peoplelinks_app;
GRANT SELECT ON report_releases TO peoplelinks_worker;
SELECT peoplelinks_secure_table('report_releases', true);
