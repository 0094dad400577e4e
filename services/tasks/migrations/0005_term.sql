-- Planning over a term: a role's paired unit reaches its tasks, skills asked of a team, and
-- large one-off events that hold proposals beyond their headcount (never more accepted).

ALTER TABLE role
    ADD COLUMN team boolean NOT NULL DEFAULT false,
    ADD COLUMN overbook_cap integer NOT NULL DEFAULT 0 CHECK (overbook_cap BETWEEN 0 AND 100);
ALTER TABLE wish ADD COLUMN team boolean NOT NULL DEFAULT false;

ALTER TABLE task
    ADD COLUMN unit_id text NOT NULL DEFAULT '',
    ADD COLUMN team boolean NOT NULL DEFAULT false,
    ADD COLUMN overbook_cap integer NOT NULL DEFAULT 0 CHECK (overbook_cap BETWEEN 0 AND 100);
-- Places held may reach headcount + overbook_cap; accepted places never pass the headcount.
DO $$
DECLARE
    found text;
BEGIN
    SELECT conname INTO found FROM pg_constraint
     WHERE conrelid = 'task'::regclass AND contype = 'c'
       AND pg_get_constraintdef(oid) LIKE '%places_taken >= 0%headcount%';
    EXECUTE format('ALTER TABLE task DROP CONSTRAINT %I', found);
END $$;
ALTER TABLE task ADD CONSTRAINT task_places_held
    CHECK (places_taken BETWEEN 0 AND headcount + overbook_cap);
ALTER TABLE task ADD CONSTRAINT task_accepted_within_headcount CHECK (accepted <= headcount);
