-- Encryption at rest of personal fields (infra/crypto.py): one data key per
-- participant or contact, stored only wrapped under the master key, which is
-- never stored in the database. Erasing a person sets the wrapped key to NULL:
-- their name, e-mail address and phone number, sealed under it in events that
-- can never change, are unreadable from then on. The row stays, with when and
-- by whom, so that nothing personal can be recorded for them again.
CREATE TABLE subject_keys (
    programme_id uuid NOT NULL REFERENCES programmes (programme_id),
    kind         text NOT NULL CHECK (kind IN ('participant', 'contact')),
    -- The uuid of the participant's or contact's stream.
    subject_id   uuid NOT NULL,
    -- nonce (12) + AES-256-GCM of the 32-byte key + tag (16).
    wrapped_key  bytea CHECK (length(wrapped_key) = 60),
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz,
    -- The admin who erased (NULL when an operator re-applied the erasure ledger).
    erased_by    uuid,
    PRIMARY KEY (programme_id, kind, subject_id),
    CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL)),
    CHECK (erased_by IS NULL OR erased_at IS NOT NULL)
);

-- No DELETE: an erasure is an UPDATE that keeps the row.
GRANT SELECT, INSERT, UPDATE ON subject_keys TO peoplelinks_app;
-- The worker keeps read models, which hold no personal field: no access.
SELECT peoplelinks_secure_table('subject_keys', false);
