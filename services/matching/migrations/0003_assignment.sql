-- One word for one thing: a member's place on a task is an assignment, in the read model as in
-- the task service and the protos.
ALTER TABLE commitment RENAME TO assignment;
ALTER INDEX commitment_pkey RENAME TO assignment_pkey;
ALTER INDEX commitment_member RENAME TO assignment_member;
ALTER INDEX commitment_task RENAME TO assignment_task;
