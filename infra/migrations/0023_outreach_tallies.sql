-- Outreach tallies (issue 9: the staff outcome report scanned and joined the programme's whole outreach,
-- 690,000 rows at 1M events, on every request: 0.7-0.8 s against an aim of 100 ms).
--
-- rm_outreach_tallies, kept by the read_models projection in the same transaction as the rows: for each
-- participant, how many of their outreach rows are live (not voided) and how many of those have a live
-- response. "Live" is the view at the projection's own position with no date bound; a report at (P, H) and
-- by the end of as_of (E) reads the tally of a participant whose change mark (migration 0022) is within P and
-- H (every row of theirs counts positionally, so only dates can differ), and corrects it by the few outreach
-- whose dates make them differ: dated outside the report's window, voided on or after E, or with a response
-- dated or voided on or after E (projections/outcome_queries/outcome_groups.sql). Participants changed beyond
-- P or H are counted from their rows.
CREATE TABLE rm_outreach_tallies (
    programme_id   uuid NOT NULL,
    participant_id uuid NOT NULL,
    sent           integer NOT NULL,
    answered       integer NOT NULL,
    PRIMARY KEY (programme_id, participant_id)
);
GRANT SELECT ON rm_outreach_tallies TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE ON rm_outreach_tallies TO peoplelinks_worker;
SELECT peoplelinks_secure_table('rm_outreach_tallies', true);

INSERT INTO rm_outreach_tallies (programme_id, participant_id, sent, answered)
SELECT o.programme_id, o.participant_id, count(*),
    count(*) FILTER (WHERE EXISTS (
        SELECT 1 FROM rm_responses r
        WHERE r.programme_id = o.programme_id AND r.outreach_id = o.outreach_id
            AND r.participant_id = o.participant_id AND r.voided_at IS NULL
    ))
FROM rm_outreach o
WHERE o.voided_at IS NULL
GROUP BY o.programme_id, o.participant_id;

-- The corrections' look-ups: a participant's outreach before the window, and what is dated or voided on or
-- after the end of as_of (few rows for a report as of a recent day).
DROP INDEX rm_outreach_programme_id_participant_id_idx;
CREATE INDEX ON rm_outreach (programme_id, participant_id, occurred_at);
DROP INDEX rm_outreach_programme_id_idx;
CREATE INDEX ON rm_outreach (programme_id, voided_at) WHERE voided_at IS NOT NULL;
CREATE INDEX ON rm_responses (programme_id, occurred_at);
CREATE INDEX ON rm_responses (programme_id, voided_at) WHERE voided_at IS NOT NULL;
