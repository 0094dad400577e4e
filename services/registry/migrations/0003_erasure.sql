-- Members erased at their request: the row stays (its id is named by assignments and hours, its
-- community by anonymous figures), with everything that told who they were removed.

ALTER TABLE member ADD COLUMN erased_at timestamptz;
-- Why, as the erasing caller gave it (no personal data; at most 200 characters).
ALTER TABLE member ADD COLUMN erasure_reason text NOT NULL DEFAULT '';

-- An erased member has no home, and neither grid nor building group: only the community stays.
ALTER TABLE member ALTER COLUMN home_lat DROP NOT NULL;
ALTER TABLE member ALTER COLUMN home_lng DROP NOT NULL;
ALTER TABLE member DROP CONSTRAINT member_check;
ALTER TABLE member ADD CONSTRAINT member_reported_in_place
    CHECK (erased_at IS NOT NULL OR (community_id IS NULL) = (grid_id IS NULL));
ALTER TABLE member ADD CONSTRAINT member_erased_home
    CHECK ((erased_at IS NULL) = (home_lat IS NOT NULL AND home_lng IS NOT NULL));
