-- Check-in on site and hours records. Codes are never stored: each is a MAC of its time step.

-- A member's check-in and check-out at a task, once each; a repeat answers the first. The
-- member's location is not kept: only whether it was inside the geofence (the evidence).
CREATE TABLE attendance (
    task_id      uuid NOT NULL REFERENCES task (id),
    member_id    uuid NOT NULL,
    purpose      text NOT NULL CHECK (purpose IN ('check_in', 'check_out')),
    at           timestamptz NOT NULL,
    evidence     text NOT NULL CHECK (evidence IN ('code_and_place', 'code_only')),
    PRIMARY KEY (task_id, member_id, purpose)
);
CREATE INDEX attendance_member ON attendance (member_id);

-- Hours records: append-only but for their state; a correction is a new row that supersedes.
CREATE TABLE hours_record (
    id                 uuid PRIMARY KEY,
    task_id            uuid NOT NULL REFERENCES task (id),
    member_id          uuid NOT NULL,
    community_id       text NOT NULL,
    street_id          text NOT NULL,
    state              text NOT NULL
                           CHECK (state IN ('requested', 'confirmed', 'refused', 'superseded')),
    minutes            integer NOT NULL CHECK (minutes BETWEEN 0 AND 1440),
    evidence           text NOT NULL
                           CHECK (evidence IN ('code_and_place', 'code_only', 'staff_word')),
    reason             text NOT NULL DEFAULT '',
    supersedes         uuid REFERENCES hours_record (id),
    category           text NOT NULL,
    scheduled_minutes  integer NOT NULL,
    hard_to_fill       boolean NOT NULL,
    occurred_at        timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    decided_at         timestamptz
);
-- At most one current (requested or confirmed) record per member and task.
CREATE UNIQUE INDEX hours_record_current ON hours_record (task_id, member_id)
    WHERE state IN ('requested', 'confirmed');
CREATE INDEX hours_record_member ON hours_record (member_id, created_at DESC, id);
CREATE INDEX hours_record_community ON hours_record (community_id, created_at DESC, id);
CREATE INDEX hours_record_task ON hours_record (task_id);
