-- A fragment (read_models/dashboard.sql's statements): the live units of the outreach named by a CTE `touched`
-- (programme_id, participant_id, outreach_id), as `units`: the local day sent (in the zone of
-- rm_dashboard_zones), the dimensions, and the earliest live response and the earliest live positive one (NULL:
-- none). Only of participants counted so far (migration 0025): a programme being counted holds no unit of the
-- others, and the chunk that reaches them counts them whole.
people AS (
    SELECT DISTINCT programme_id, participant_id FROM touched
),
{live_people},
units AS (
    SELECT o.programme_id, o.participant_id, o.outreach_id, o.occurred_at,
        (o.occurred_at AT TIME ZONE z.time_zone)::date AS day, o.channel, o.purpose, o.attempt,
        w.counselor_id, w.cohort, reply.first_at, reply.first_positive_at
    FROM touched t
    JOIN rm_outreach o
        ON o.programme_id = t.programme_id AND o.outreach_id = t.outreach_id AND o.participant_id = t.participant_id
    JOIN live_people w ON w.programme_id = o.programme_id AND w.participant_id = o.participant_id
    JOIN rm_dashboard_zones z ON z.programme_id = o.programme_id
    LEFT JOIN LATERAL (
        SELECT min(r.occurred_at) AS first_at, min(r.occurred_at) FILTER (WHERE r.outcome = 'positive') AS first_positive_at
        FROM rm_responses r
        WHERE r.programme_id = o.programme_id AND r.outreach_id = o.outreach_id
            AND r.participant_id = o.participant_id AND r.voided_at IS NULL
    ) reply ON true
    WHERE o.voided_at IS NULL AND (z.counted_through IS NULL OR o.participant_id <= z.counted_through)
),
unit_days AS (
    -- Each unit once a dimension of the dashboard.
    SELECT u.programme_id, d.dim, u.day, d.key, count(*)::integer AS sent
    FROM units u
    CROSS JOIN LATERAL (
        VALUES ('all', ''), ('channel', u.channel), ('purpose', u.purpose), ('attempt', u.attempt::text),
            ('counselor', u.counselor_id::text), ('cohort', coalesce(u.cohort, 'unknown'))
    ) v(dim, key)
    CROSS JOIN LATERAL (SELECT v.dim COLLATE "C" AS dim, v.key COLLATE "C" AS key) d
    GROUP BY u.programme_id, d.dim, u.day, d.key
)
