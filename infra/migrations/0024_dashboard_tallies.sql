-- Dashboard tallies (issue 9: the response-rate dashboard over a year scanned and joined a year of outreach,
-- 430,000 rows at 1M events, and every response since the year's start, on every request: p50 630 ms against
-- an aim of 100 ms).
--
-- Kept by the read_models projection in the same transaction as the rows, over the *live* units: every outreach
-- not voided, of a participant whose enrolment is not voided, with the participant's live counselor (the
-- latest assignment not voided, else the enrolment's), cohort, and the outreach's attempt as numbered when
-- sent (rm_outreach.attempt). A batch takes the units of every outreach it may change out of both tables
-- before its rows are written and puts them back after (projections/read_models/dashboard.sql), so a
-- replayed batch changes nothing.
--
-- rm_dashboard_days: how many live units were sent on each local day, once for each dimension of the dashboard
--   ('all' with key '', 'channel', 'purpose', 'attempt', 'counselor', 'cohort'); weeks add days up.
-- rm_dashboard_replies: one row per live unit with a live response: its earliest live response (the instant, and
--   the days to it) and its earliest live positive one, for the answered counts and the medians. A dashboard as of
--   an earlier day counts the unit answered if the earliest is before the end of that day, positive if the
--   earliest positive is: responses dated after as_of need no correction.
-- rm_dashboard_zones: the time zone the days are local to. A programme whose zone changes is counted again in
--   the new zone by the worker's next batch; until then its dashboard is computed from the rows.
--
-- A dashboard at (P, H) by the end of as_of (E) reads them and corrects them by the few units that may differ:
-- of participants changed beyond P or H, enrolled, voided or reassigned on or after E; outreach voided on or
-- after E; outreach with a response voided on or after E; outreach whose attempt a void renumbers
-- (projections/response_rate_queries/response_rates.sql, docs/decisions.md "Dashboard tallies").
CREATE TABLE rm_dashboard_zones (
    programme_id uuid PRIMARY KEY,
    time_zone    text NOT NULL
);

-- Keys compare byte by byte (COLLATE "C"): by the locale's rules, sorting a batch's keys cost more than the rest
-- of its tallies.
CREATE TABLE rm_dashboard_days (
    programme_id uuid NOT NULL,
    dim          text COLLATE "C" NOT NULL,
    day          date NOT NULL,
    key          text COLLATE "C" NOT NULL,
    sent         integer NOT NULL,
    PRIMARY KEY (programme_id, dim, day, key)
);

CREATE TABLE rm_dashboard_replies (
    programme_id   uuid NOT NULL,
    participant_id uuid NOT NULL,
    outreach_id    uuid NOT NULL,
    occurred_at    timestamptz NOT NULL,
    first_at       timestamptz NOT NULL,
    days           float8 NOT NULL,
    first_positive_at timestamptz,
    channel        text NOT NULL,
    purpose        text NOT NULL,
    attempt        integer NOT NULL,
    counselor_id   uuid NOT NULL,
    cohort         text,
    PRIMARY KEY (programme_id, participant_id, outreach_id)
);
-- A period's replies in one index-only range scan.
CREATE INDEX ON rm_dashboard_replies (programme_id, occurred_at)
    INCLUDE (participant_id, outreach_id, first_at, days, first_positive_at, channel, purpose, attempt, counselor_id,
        cohort);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rm_dashboard_zones', 'rm_dashboard_days', 'rm_dashboard_replies'] LOOP
        EXECUTE format('GRANT SELECT ON %I TO peoplelinks_app', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO peoplelinks_worker', t);
        PERFORM peoplelinks_secure_table(t::regclass, true);
    END LOOP;
END
$$;

-- What the read models hold already is counted by the worker: the read_models projection's next batch counts
-- every programme it finds without a zone row (projections/read_models/dashboard.sql, dashboard_zones).

-- A follow-up dated before the outreach it follows up (a late entry of the earlier one, say): the one way an
-- outreach dated on or after the end of as_of can be the uncounted parent of one counted in a period before it.
-- The dashboard's attempt numbers walk from uncounted parents (projections/response_rate_queries): from those
-- dated late, only to these (few) children, not a look-up for each outreach of the month after as_of.
ALTER TABLE rm_outreach ADD COLUMN dated_before_parent boolean NOT NULL DEFAULT false;
UPDATE rm_outreach c SET dated_before_parent = true
FROM rm_outreach p
WHERE c.follow_up_of IS NOT NULL AND p.programme_id = c.programme_id AND p.participant_id = c.participant_id
    AND p.outreach_id = c.follow_up_of AND c.occurred_at < p.occurred_at;
CREATE INDEX ON rm_outreach (programme_id) WHERE dated_before_parent;
