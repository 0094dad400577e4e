-- Planning over a term: weekly slots and their standing members, teams, paired units,
-- over-booked events, and runs kept as drafts for review, edited and published.

-- A role occurrence's weekly slot (role, local weekday and time; '' for a wish), whether its
-- skills are asked of a team together, the role's paired unit, and an event's over-booking cap.
ALTER TABLE task ADD COLUMN slot text NOT NULL DEFAULT '';
ALTER TABLE task ADD COLUMN team boolean NOT NULL DEFAULT false;
ALTER TABLE task ADD COLUMN unit_id text NOT NULL DEFAULT '';
ALTER TABLE task ADD COLUMN overbook_cap integer NOT NULL DEFAULT 0;
-- The slot of the task an assignment is on: a member who served a slot stands in it.
ALTER TABLE assignment ADD COLUMN slot text NOT NULL DEFAULT '';
-- The unit a member works in (a role's paired unit prefers its own).
ALTER TABLE member ADD COLUMN unit_id text NOT NULL DEFAULT '';

-- A draft: planned and kept for review; nobody is proposed until it is published.
ALTER TABLE match_run DROP CONSTRAINT match_run_state_check;
ALTER TABLE match_run ADD CONSTRAINT match_run_state_check
    CHECK (state IN ('running', 'succeeded', 'failed', 'draft'));
ALTER TABLE match_run ADD COLUMN published_at timestamptz;

-- Staff's changes to a draft: a pinned pair stays in every re-plan, a removed one never returns.
CREATE TABLE match_draft_edit (
    run_id     uuid NOT NULL REFERENCES match_run (id),
    task_id    uuid NOT NULL,
    member_id  uuid NOT NULL,
    action     text NOT NULL CHECK (action IN ('pin', 'remove')),
    PRIMARY KEY (run_id, task_id, member_id)
);
