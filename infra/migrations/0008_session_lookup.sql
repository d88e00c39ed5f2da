-- Every authenticated request checks that its token's session is open and its
-- user active. Before that check the request acts for no programme yet; this
-- definer function answers exactly that question in one round trip, without
-- first setting the tenant on the connection.
CREATE FUNCTION peoplelinks_session_user(the_session uuid, the_user uuid, the_programme uuid)
RETURNS TABLE (user_id uuid, programme_id uuid, role text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.user_id, u.programme_id, u.role
    FROM sessions s JOIN users u ON u.user_id = s.user_id
    WHERE s.session_id = the_session AND s.user_id = the_user AND s.programme_id = the_programme
      AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL
$$;
REVOKE ALL ON FUNCTION peoplelinks_session_user(uuid, uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peoplelinks_session_user(uuid, uuid, uuid) TO peoplelinks_app;
