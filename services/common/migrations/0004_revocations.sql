-- The sign-in revocations this service has heard of: access tokens of `subject` issued before
-- `revoked_before` are refused. Pruned once older than the longest access-token lifetime.
CREATE TABLE revocation (
    subject         text PRIMARY KEY,
    revoked_before  timestamptz NOT NULL
);
