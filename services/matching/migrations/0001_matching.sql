-- The matching service: its read model (from the registry's and the task service's events) and
-- the record of its runs.

CREATE TABLE community (
    id         text PRIMARY KEY,
    street_id  text NOT NULL
);

-- From linli.registry.member.*; `version` is the registry's update time.
CREATE TABLE member (
    id               uuid PRIMARY KEY,
    community_id     text,
    street_id        text,
    active           boolean NOT NULL,
    reported_in      boolean NOT NULL,
    lat              double precision,
    lng              double precision,
    skills           jsonb NOT NULL DEFAULT '{}',   -- {"tutoring": 3, ...}
    availability     jsonb NOT NULL DEFAULT '[]',   -- [[day, start_minute, end_minute], ...]
    hours_per_month  integer NOT NULL DEFAULT 0,
    version          timestamptz NOT NULL
);
CREATE INDEX member_community ON member (community_id);

-- From linli.tasks.task.* and the task snapshots in linli.tasks.assignment.*.
CREATE TABLE task (
    id            uuid PRIMARY KEY,
    community_id  text NOT NULL,
    street_id     text NOT NULL,
    street_wide   boolean NOT NULL,
    lat           double precision NOT NULL,
    lng           double precision NOT NULL,
    skills        jsonb NOT NULL DEFAULT '[]',     -- [["tutoring", 2], ...]
    headcount     integer NOT NULL,
    places_taken  integer NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    flexible      boolean NOT NULL,
    effort_hours  double precision NOT NULL,
    beneficiary   text NOT NULL,
    status        text NOT NULL,
    posted_at     timestamptz NOT NULL,
    version       timestamptz NOT NULL
);
CREATE INDEX task_open ON task (community_id) WHERE status = 'open';

-- A member's places on tasks (proposed, accepted, done), from linli.tasks.assignment.* and
-- linli.tasks.task.completed: their busy times, hours this month and record of turning up.
CREATE TABLE commitment (
    assignment_id  uuid PRIMARY KEY,
    member_id      uuid NOT NULL,
    task_id        uuid NOT NULL,
    state          text NOT NULL,
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    flexible       boolean NOT NULL,
    effort_hours   double precision NOT NULL,
    hours          double precision NOT NULL DEFAULT 0,
    version        timestamptz NOT NULL
);
CREATE INDEX commitment_member ON commitment (member_id);
CREATE INDEX commitment_task ON commitment (task_id);

-- Members never to propose again for a task: they declined, let it expire, or could not take it.
CREATE TABLE refusal (
    task_id    uuid NOT NULL,
    member_id  uuid NOT NULL,
    reason     text NOT NULL,
    PRIMARY KEY (task_id, member_id)
);

CREATE TABLE match_run (
    id                  uuid PRIMARY KEY,
    scope_kind          text NOT NULL CHECK (scope_kind IN ('community', 'street', 'district')),
    scope_id            text NOT NULL DEFAULT '',
    state               text NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
    dry_run             boolean NOT NULL,
    method              text NOT NULL,
    figures             jsonb NOT NULL DEFAULT '{}',
    error               text NOT NULL DEFAULT '',
    requested_by        text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz
);
CREATE INDEX match_run_scope ON match_run (scope_kind, scope_id, created_at DESC);
CREATE INDEX match_run_recent ON match_run (created_at DESC, id);

CREATE TABLE match_assignment (
    run_id        uuid NOT NULL REFERENCES match_run (id),
    position      integer NOT NULL,
    task_id       uuid NOT NULL,
    member_id     uuid NOT NULL,
    score         double precision NOT NULL,
    distance_m    double precision NOT NULL,
    explanation   text NOT NULL,
    alternatives  jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (run_id, position)
);

CREATE TABLE match_unfilled (
    run_id      uuid NOT NULL REFERENCES match_run (id),
    position    integer NOT NULL,
    task_id     uuid NOT NULL,
    places      integer NOT NULL,
    reason      text NOT NULL,
    candidates  integer NOT NULL,
    PRIMARY KEY (run_id, position)
);
