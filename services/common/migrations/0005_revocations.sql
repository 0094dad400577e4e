-- The sign-in revocations this service has heard of: access tokens of `subject` (of its sign-in
-- `session` only, when not empty) issued before `revoked_before` are refused. Pruned once older
-- than the longest access-token lifetime.
CREATE TABLE revocation (
    subject         text NOT NULL,
    session         text NOT NULL DEFAULT '',
    revoked_before  timestamptz NOT NULL,
    PRIMARY KEY (subject, session)
);
