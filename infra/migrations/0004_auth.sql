-- Authentication: sessions with rotating refresh tokens, login attempts for
-- throttling, and the append-only access log of reads of one participant.

-- A session is one login. Its id is the `sid` claim of every access token it
-- issues, so revoking it (logout, a refresh token used twice) ends those
-- tokens at once: every request looks the session up (primary key) joined to
-- its user, which also ends the tokens of a disabled user.
CREATE TABLE sessions (
    session_id     uuid PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES users (user_id),
    programme_id   uuid NOT NULL REFERENCES programmes (programme_id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Absolute end: refreshing never takes a session past it.
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text CHECK (revoked_reason IN ('logout', 'refresh_token_reused')),
    CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Refresh tokens are opaque random strings; only their SHA-256 is stored, so
-- a copy of this table opens no session. Each refresh marks the token used and
-- issues the next one of the same session: a used token presented again means
-- it was copied, and the whole session is revoked.
CREATE TABLE refresh_tokens (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    session_id uuid NOT NULL REFERENCES sessions (session_id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- One row a login attempt, counted for throttling. The e-mail is kept as its
-- SHA-256 only (unknown addresses are counted the same way as known ones).
-- An attempt is written as 'pending' before the password is checked, so that
-- concurrent guesses count against each other.
CREATE TABLE login_attempts (
    attempt_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_hash     bytea NOT NULL CHECK (length(email_hash) = 32),
    client_address text NOT NULL CHECK (length(client_address) <= 100),
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    outcome        text NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'failed', 'succeeded', 'refused'))
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email_hash, at);
CREATE INDEX login_attempts_client_idx ON login_attempts (client_address, at);
CREATE INDEX login_attempts_at_idx ON login_attempts (at);

GRANT SELECT, INSERT, UPDATE, DELETE ON sessions TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON refresh_tokens TO peoplelinks_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON login_attempts TO peoplelinks_app;

-- Who read which participant's record, when, through which route. Ids only:
-- no names, no e-mail addresses. Append-only like events.
CREATE TABLE access_log (
    position       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    programme_id   uuid NOT NULL,
    user_id        uuid NOT NULL,
    role           text NOT NULL,
    participant_id uuid NOT NULL,
    action         text NOT NULL,
    request_id     uuid NOT NULL,
    at             timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- Read newest first, by programme, and by participant or user within it.
CREATE INDEX access_log_programme_idx ON access_log (programme_id, position);
CREATE INDEX access_log_participant_idx ON access_log (programme_id, participant_id, position);
CREATE INDEX access_log_user_idx ON access_log (programme_id, user_id, position);

-- Refused for everyone, the owner included; the grants below refuse the
-- application role before the trigger is reached.
CREATE FUNCTION access_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the access log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER access_log_no_update_delete BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_refuse_change();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_refuse_change();

REVOKE ALL ON access_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON access_log FROM peoplelinks_app;
GRANT SELECT, INSERT ON access_log TO peoplelinks_app;
