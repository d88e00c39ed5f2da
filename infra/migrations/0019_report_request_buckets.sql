-- One token bucket per user and programme for report requests (reports,
-- exports, dashboards, kept reports, releases): each request takes a token;
-- tokens come back at a steady rate up to the burst (infra/report_quota.py).
-- Kept here rather than in Redis or in each API process: PostgreSQL is the
-- one thing every API replica shares and the API already depends on, so the
-- limit holds across replicas and restarts, and a Redis outage lifts nothing.
-- One row a user who ever asked: a full bucket is the same as no row.
CREATE TABLE report_request_buckets (
    programme_id uuid NOT NULL REFERENCES programmes (programme_id),
    user_id      uuid NOT NULL,
    tokens       double precision NOT NULL,
    refilled_at  timestamptz NOT NULL,
    PRIMARY KEY (programme_id, user_id)
);
GRANT SELECT, INSERT, UPDATE ON report_request_buckets TO peoplelinks_app;
SELECT peoplelinks_secure_table('report_request_buckets', false);
