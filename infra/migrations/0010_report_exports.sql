-- Report exports that take long (the PDF) are rendered by the worker, not in
-- the API process. The API stores the report body it answered (figures only:
-- suppressed for funders, no personal data) under the body's hash; the worker
-- claims pending rows, renders them and stores the file; the API serves it.
-- A rendered file is kept, so the same report downloads again at once.
CREATE TABLE report_exports (
    programme_id uuid NOT NULL REFERENCES programmes (programme_id),
    hash         text NOT NULL,
    format       text NOT NULL CHECK (format IN ('csv', 'xlsx', 'pdf')),
    body         jsonb NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    claimed_at   timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    rendered_at  timestamptz,
    content      bytea,
    failure      text,
    PRIMARY KEY (programme_id, hash, format)
);
CREATE INDEX report_exports_pending_idx ON report_exports (requested_at) WHERE content IS NULL AND failure IS NULL;
GRANT SELECT, INSERT ON report_exports TO peoplelinks_app;
GRANT SELECT, UPDATE ON report_exports TO peoplelinks_worker;
SELECT peoplelinks_secure_table('report_exports', true);
