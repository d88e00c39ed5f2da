-- What /health/ready and /metrics may tell without a tenant: the store's head
-- and how far each projection named is behind it, over every programme (the
-- API's role sees one programme's events at a time). Counts only: no id, no
-- programme. The count follows the runner's order, (tx_id, position) after the
-- checkpoint's cursor (a projection that never ran is at the start); events of
-- a held programme past its hold count as applied here (holds are reported
-- apart, by peoplelinks_projection_holds). It stops at ``cap``: a probe every
-- few seconds must not count a hundred million rows behind a new projection.
CREATE FUNCTION peoplelinks_projection_lag(names text[], cap bigint)
RETURNS TABLE (name text, head bigint, lag bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT n.name,
           (SELECT coalesce(max(global_position), 0) FROM events),
           (SELECT count(*) FROM (
                SELECT 1 FROM events e
                WHERE (e.tx_id, e.global_position) > (coalesce(c.tx_id, '0'::xid8), coalesce(c.position, 0))
                ORDER BY e.tx_id, e.global_position
                LIMIT cap) AS behind)
    FROM unnest(names) AS n(name) LEFT JOIN projection_checkpoints c ON c.name = n.name
    ORDER BY n.name
$$;
REVOKE ALL ON FUNCTION peoplelinks_projection_lag(text[], bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peoplelinks_projection_lag(text[], bigint) TO peoplelinks_app, peoplelinks_worker;
