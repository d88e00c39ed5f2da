-- Tenant isolation in the database itself: row-level security, forced, on
-- every table that holds a programme's data.
--
-- The API acts as peoplelinks_app, which owns no table and cannot bypass
-- row-level security: it sees and writes only the rows of the programme named
-- by the session setting peoplelinks.programme_id (set for each request from
-- the authenticated user; see infra/db.py), and nothing when it is unset.
-- The worker acts as peoplelinks_worker, which reads the store and keeps the
-- read models of every programme and serves no user.
-- The owner (migrations, `peoplelinks programme create`, rebuilds' DDL) keeps
-- access through its own policy, so that FORCE does not lock it out.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'peoplelinks_worker') THEN
        CREATE ROLE peoplelinks_worker NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO peoplelinks_worker;
GRANT SELECT ON events, programmes TO peoplelinks_worker;
GRANT SELECT, INSERT, UPDATE ON report_facts, projection_checkpoints TO peoplelinks_worker;
GRANT USAGE ON SEQUENCE report_facts_changes TO peoplelinks_worker;
GRANT SELECT, INSERT ON kept_reports TO peoplelinks_worker;
GRANT SELECT, DELETE ON sessions, login_attempts TO peoplelinks_worker;
GRANT SELECT, DELETE ON refresh_tokens TO peoplelinks_worker;

-- The programme the current session acts for, or NULL.
CREATE FUNCTION peoplelinks_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('peoplelinks.programme_id', true), '')::uuid
$$;

-- Applies the standard policies to one table with a programme_id column
-- (also used by rebuilds for the fresh tables they swap in).
CREATE FUNCTION peoplelinks_secure_table(target regclass, worker_access boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', target);
    EXECUTE format('CREATE POLICY tenant_isolation ON %s TO peoplelinks_app '
                   'USING (programme_id = peoplelinks_tenant()) WITH CHECK (programme_id = peoplelinks_tenant())',
                   target);
    EXECUTE format('CREATE POLICY owner_access ON %s TO %I USING (true) WITH CHECK (true)', target, current_user);
    IF worker_access THEN
        EXECUTE format('CREATE POLICY worker_access ON %s TO peoplelinks_worker USING (true) WITH CHECK (true)',
                       target);
    END IF;
END
$$;

SELECT peoplelinks_secure_table('programmes', true);
SELECT peoplelinks_secure_table('users', false);
SELECT peoplelinks_secure_table('streams', false);
SELECT peoplelinks_secure_table('events', true);
SELECT peoplelinks_secure_table('sessions', true);
SELECT peoplelinks_secure_table('access_log', false);
SELECT peoplelinks_secure_table('report_facts', true);
SELECT peoplelinks_secure_table('kept_reports', true);

-- Before a request knows its programme: the login looks its user up by
-- e-mail, and a refresh finds the programme of its session. Each function
-- answers exactly that one question, as the owner.
CREATE FUNCTION peoplelinks_login_lookup(login_email text)
RETURNS TABLE (user_id uuid, programme_id uuid, email text, role text, password_hash text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT u.user_id, u.programme_id, u.email, u.role, u.password_hash
    FROM users u WHERE u.email = login_email AND u.disabled_at IS NULL
$$;

CREATE FUNCTION peoplelinks_refresh_programme(digest bytea) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT s.programme_id FROM refresh_tokens r JOIN sessions s ON s.session_id = r.session_id
    WHERE r.token_hash = digest
$$;

REVOKE ALL ON FUNCTION peoplelinks_login_lookup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION peoplelinks_refresh_programme(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION peoplelinks_login_lookup(text) TO peoplelinks_app;
GRANT EXECUTE ON FUNCTION peoplelinks_refresh_programme(bytea) TO peoplelinks_app;
