-- The identity service: accounts, what it keeps of the registry, sign-in attempts and codes,
-- refresh tokens and signing keys.

-- The registry's communities (to know the street of each) and members (to sign them in).
CREATE TABLE community (
    id          text PRIMARY KEY,
    street_id   text NOT NULL
);

CREATE TABLE member (
    id          text PRIMARY KEY,
    phone       text NOT NULL,
    community_id text NOT NULL,
    active      boolean NOT NULL,
    version     timestamptz NOT NULL
);
CREATE INDEX member_phone ON member (phone);

-- Staff and service accounts. The password is an argon2id hash; the TOTP seed is sealed.
CREATE TABLE account (
    id              uuid PRIMARY KEY,
    user_name       text NOT NULL UNIQUE,
    role            text NOT NULL,
    community_ids   text[] NOT NULL DEFAULT '{}',
    street_ids      text[] NOT NULL DEFAULT '{}',
    password_hash   text NOT NULL,
    totp_sealed     bytea NOT NULL DEFAULT '',
    totp_enrolled   boolean NOT NULL DEFAULT false,
    disabled        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Attempts counted in a window, by key: failed sign-ins per user name or phone, codes asked
-- per phone and per caller.
CREATE TABLE attempt (
    key         text PRIMARY KEY,
    count       integer NOT NULL,
    window_ends timestamptz NOT NULL
);

-- The sign-in code last sent to a phone, as its SHA-256.
CREATE TABLE phone_code (
    phone       text PRIMARY KEY,
    code_hash   bytea NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Refresh tokens, as their SHA-256. A family is one sign-in: each use spends a token and adds
-- its successor; a spent one used again revokes the family.
CREATE TABLE refresh_token (
    token_hash  bytea PRIMARY KEY,
    family      uuid NOT NULL,
    kind        text NOT NULL,
    subject     text NOT NULL,
    expires_at  timestamptz NOT NULL,
    spent_at    timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_token_family ON refresh_token (family);
CREATE INDEX refresh_token_subject ON refresh_token (kind, subject);

-- Token signing keys: the private key sealed, the public one as a JWK.
CREATE TABLE signing_key (
    kid             text PRIMARY KEY,
    private_sealed  bytea NOT NULL,
    public_jwk      jsonb NOT NULL,
    created_at      timestamptz NOT NULL,
    retired_at      timestamptz,
    published_until timestamptz
);
