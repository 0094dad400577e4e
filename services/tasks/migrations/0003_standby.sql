-- The member's month: standby lists, confirming an accepted place, staff's changes to a task.

-- Members waiting for a place on a full task, in joining order. An entry ends (is deleted, with
-- its StandbyLeft event) when the member leaves, takes a place, can no longer take one, or the
-- task stops taking places.
CREATE TABLE standby (
    task_id    uuid NOT NULL REFERENCES task (id),
    member_id  uuid NOT NULL,
    joined_at  timestamptz NOT NULL,
    PRIMARY KEY (task_id, member_id)
);
CREATE INDEX standby_member ON standby (member_id, joined_at);

-- Asked once, `confirm_before` the start; overdue_at marks the staff alert (sent once).
ALTER TABLE assignment
    ADD COLUMN confirm_requested_at timestamptz,
    ADD COLUMN answer_by timestamptz,
    ADD COLUMN confirmed_at timestamptz,
    ADD COLUMN overdue_at timestamptz;
ALTER TABLE assignment DROP CONSTRAINT assignment_source_check;
ALTER TABLE assignment ADD CONSTRAINT assignment_source_check
    CHECK (source IN ('claim', 'matching', 'standby'));
-- The reminder loop's questions: accepted places not yet asked, asked and not answered.
CREATE INDEX assignment_to_confirm ON assignment (lower(during))
    WHERE state = 'accepted' AND confirmed_at IS NULL;

-- '' means the service's setting.
ALTER TABLE role ADD COLUMN no_answer text NOT NULL DEFAULT ''
    CHECK (no_answer IN ('', 'alert', 'release'));

-- revision: raised by each change staff make (the calendar's SEQUENCE). empty_alerted_at: when
-- staff were told of places still empty close to the start (once per task).
ALTER TABLE task
    ADD COLUMN revision integer NOT NULL DEFAULT 0,
    ADD COLUMN empty_alerted_at timestamptz;
