-- A member's own phone change waits for a one-time code sent to the new number; phone changes
-- and staff's phone conflicts are counted so that they can be limited per day.

CREATE TABLE phone_change (
    member_id    uuid PRIMARY KEY REFERENCES member (id),
    phone        text NOT NULL,
    -- sha256 of the member id and the code: the code itself is never stored. NULL when the new
    -- number is already taken: no code was sent, so none can ever match.
    code_hash    text,
    attempts     integer NOT NULL DEFAULT 0,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per counted act: a phone change asked for (kind 'change', of member_id, by caller) or
-- a registration refused because its phone is taken (kind 'conflict', by caller).
CREATE TABLE phone_attempt (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('change', 'conflict')),
    caller      text NOT NULL,
    member_id   uuid,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX phone_attempt_caller ON phone_attempt (caller, kind, at);
CREATE INDEX phone_attempt_member ON phone_attempt (member_id, at) WHERE member_id IS NOT NULL;
