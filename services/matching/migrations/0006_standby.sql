-- From linli.tasks.standby.*: the members waiting on a full task's standby list, offered a
-- freed place first.
CREATE TABLE standby (
    task_id    uuid NOT NULL,
    member_id  uuid NOT NULL,
    joined_at  timestamptz NOT NULL,
    PRIMARY KEY (task_id, member_id)
);

-- A standby offer is made outside any run.
ALTER TABLE pending_proposal ALTER COLUMN run_id DROP NOT NULL;
