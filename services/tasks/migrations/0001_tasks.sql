-- The task service: wishes, volunteer roles, tasks, assignments, and its read model of members.

-- btree_gist: one member never holds two overlapping accepted tasks (an exclusion constraint).
-- cube + earthdistance: "open tasks near a point" through a GiST index, not a scan.
CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public;
CREATE EXTENSION IF NOT EXISTS cube SCHEMA public;
CREATE EXTENSION IF NOT EXISTS earthdistance SCHEMA public;

-- Read model, from linli.registry.community.created.
CREATE TABLE community (
    id           text PRIMARY KEY,
    street_id    text NOT NULL,
    station_lat  double precision NOT NULL,
    station_lng  double precision NOT NULL
);

-- Read model, from linli.registry.member.*. `version` is the registry's update time: an older
-- snapshot arriving late never overwrites a newer one.
CREATE TABLE member (
    id               uuid PRIMARY KEY,
    community_id     text,
    street_id        text,
    active           boolean NOT NULL,
    reported_in      boolean NOT NULL,
    skills           jsonb NOT NULL DEFAULT '[]',
    availability     jsonb NOT NULL DEFAULT '[]',
    hours_per_month  integer NOT NULL DEFAULT 0,
    home_lat         double precision,
    home_lng         double precision,
    version          timestamptz NOT NULL
);
CREATE INDEX member_community ON member (community_id);

CREATE TABLE wish (
    id            uuid PRIMARY KEY,
    -- The caller's id for the request, and a fingerprint of what it asked (see registry.member).
    request_id    text NOT NULL,
    request_hash  text NOT NULL,
    community_id  text NOT NULL,
    title         text NOT NULL,
    description   text NOT NULL DEFAULT '',
    beneficiary   text NOT NULL,
    lat           double precision NOT NULL,
    lng           double precision NOT NULL,
    address       text NOT NULL DEFAULT '',
    skills        jsonb NOT NULL DEFAULT '[]',
    headcount     integer NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    flexible      boolean NOT NULL,
    effort_hours  double precision NOT NULL,
    task_id       uuid NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, request_id)
);

CREATE TABLE role (
    id               uuid PRIMARY KEY,
    request_id       text NOT NULL,
    request_hash     text NOT NULL,
    community_id     text NOT NULL,
    unit_id          text NOT NULL DEFAULT '',
    title            text NOT NULL,
    description      text NOT NULL DEFAULT '',
    beneficiary      text NOT NULL,
    lat              double precision NOT NULL,
    lng              double precision NOT NULL,
    skills           jsonb NOT NULL DEFAULT '[]',
    headcount        integer NOT NULL,
    effort_hours     double precision NOT NULL,
    -- {"weekly": {"days": [1,2,3,4,5], "start": 990, "end": 1080, "first": "2026-12-01",
    --             "last": null}} or {"once": {"start": "...", "end": "..."}}
    schedule         jsonb NOT NULL,
    street_wide      boolean NOT NULL DEFAULT false,
    ended_at         timestamptz,
    end_reason       text NOT NULL DEFAULT '',
    -- Occurrences starting up to this time exist as tasks.
    generated_until  timestamptz NOT NULL,
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, request_id)
);
CREATE INDEX role_community ON role (community_id, id);
CREATE INDEX role_active ON role (generated_until) WHERE ended_at IS NULL;

CREATE TABLE task (
    id                uuid PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('wish', 'role_occurrence')),
    source_id         uuid NOT NULL,
    community_id      text NOT NULL,
    street_id         text NOT NULL,
    street_wide       boolean NOT NULL DEFAULT false,
    title             text NOT NULL,
    description       text NOT NULL DEFAULT '',
    beneficiary       text NOT NULL,
    lat               double precision NOT NULL,
    lng               double precision NOT NULL,
    address           text NOT NULL DEFAULT '',
    skills            jsonb NOT NULL DEFAULT '[]',
    headcount         integer NOT NULL CHECK (headcount BETWEEN 1 AND 100),
    places_taken      integer NOT NULL DEFAULT 0,
    accepted          integer NOT NULL DEFAULT 0,
    window_start      timestamptz NOT NULL,
    window_end        timestamptz NOT NULL,
    flexible          boolean NOT NULL,
    effort_hours      double precision NOT NULL,
    status            text NOT NULL CHECK (status IN
                          ('open', 'filled', 'closed', 'completed', 'cancelled', 'expired')),
    cancel_reason     text NOT NULL DEFAULT '',
    feedback_score    integer CHECK (feedback_score BETWEEN 1 AND 5),
    feedback_comment  text NOT NULL DEFAULT '',
    completed_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- A role's occurrence becomes a task once, however often generation runs.
    UNIQUE (source_id, window_start),
    -- Capacity is never exceeded, whatever the code above does.
    CHECK (places_taken BETWEEN 0 AND headcount),
    CHECK (accepted BETWEEN 0 AND places_taken),
    CHECK (window_end > window_start)
);
CREATE INDEX task_community ON task (community_id, window_start, id);
CREATE INDEX task_street ON task (street_id, window_start, id) WHERE street_wide;
CREATE INDEX task_near ON task USING gist (ll_to_earth(lat, lng)) WHERE status = 'open';
CREATE INDEX task_due ON task ((CASE WHEN flexible THEN window_end ELSE window_start END))
    WHERE status IN ('open', 'filled');

CREATE TABLE assignment (
    id            uuid PRIMARY KEY,
    task_id       uuid NOT NULL REFERENCES task (id),
    member_id     uuid NOT NULL,
    state         text NOT NULL CHECK (state IN ('proposed', 'accepted', 'declined', 'expired',
                      'withdrawn', 'completed', 'no_show', 'cancelled')),
    source        text NOT NULL CHECK (source IN ('claim', 'matching')),
    expires_at    timestamptz,
    match_run_id  text NOT NULL DEFAULT '',
    hours         double precision NOT NULL DEFAULT 0,
    reason        text NOT NULL DEFAULT '',
    -- The task's window, copied so that the database itself can refuse double-booking.
    during        tstzrange NOT NULL,
    flexible      boolean NOT NULL,
    served_at     timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- No member ever holds two accepted tasks whose fixed windows overlap.
    CONSTRAINT assignment_no_overlap EXCLUDE USING gist (member_id WITH =, during WITH &&)
        WHERE (state = 'accepted' AND NOT flexible)
);
-- At most one live (proposed or accepted) assignment per member and task.
CREATE UNIQUE INDEX assignment_live ON assignment (task_id, member_id)
    WHERE state IN ('proposed', 'accepted');
CREATE INDEX assignment_task ON assignment (task_id, created_at, id);
CREATE INDEX assignment_member ON assignment (member_id, created_at, id);
CREATE INDEX assignment_proposal_expiry ON assignment (expires_at) WHERE state = 'proposed';
CREATE INDEX assignment_served ON assignment (member_id, served_at) WHERE state = 'completed';
