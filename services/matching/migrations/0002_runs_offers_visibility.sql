-- Runs that never overlap, offers that are never forgotten, and what staff outside a member's
-- scope may see of a planned assignment.

-- Proposals sent to the task service and not yet answered for (an assignment, or a rejection):
-- their places stay held across runs, reloads of the task's row, and restarts.
CREATE TABLE pending_proposal (
    task_id    uuid NOT NULL,
    member_id  uuid NOT NULL,
    run_id     uuid NOT NULL,
    made_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, member_id)
);

-- The street a run's scope lies in ('' for the district): runs whose scopes overlap (the
-- district and anything; a street and its communities) never run at the same time.
ALTER TABLE match_run ADD COLUMN street_id text NOT NULL DEFAULT '';
-- A running run's process renews this while it plans; a run whose lease has lapsed was cut off
-- with its process and is marked failed (by any replica).
ALTER TABLE match_run ADD COLUMN heartbeat_at timestamptz;
UPDATE match_run r SET street_id = CASE
    WHEN r.scope_kind = 'street' THEN r.scope_id
    ELSE coalesce((SELECT c.street_id FROM community c WHERE c.id = r.scope_id), '')
END;
CREATE INDEX match_run_running ON match_run (created_at) WHERE state = 'running';
CREATE INDEX match_run_street ON match_run (street_id, created_at DESC);

-- The distance from the member's public cell (for callers outside the member's scope), and the
-- facts the explanation is written from, so that it can be written for each caller.
ALTER TABLE match_assignment ADD COLUMN public_distance_m double precision;
ALTER TABLE match_assignment ADD COLUMN facts jsonb NOT NULL DEFAULT '{}';
