-- The last TOTP time step an account signed in with: a code is accepted once (RFC 6238, 5.2).
ALTER TABLE account ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;
