-- A report-in waits for the community's staff to accept it, and a claimed skill that needs proof
-- counts once staff have verified a certificate for it.

-- 'none' (no community), 'pending', 'accepted', 'refused'. Members who reported in before staff
-- decided report-ins are accepted: their community has served with them already.
ALTER TABLE member ADD COLUMN report_in_state text NOT NULL DEFAULT 'none'
    CHECK (report_in_state IN ('none', 'pending', 'accepted', 'refused'));
ALTER TABLE member ADD COLUMN report_in_reason text NOT NULL DEFAULT '';
ALTER TABLE member ADD COLUMN report_in_decided_at timestamptz;
UPDATE member SET report_in_state = 'accepted', report_in_decided_at = reported_in_at
    WHERE community_id IS NOT NULL AND reported_in_at IS NOT NULL;
-- The verification queue of a community: its pending report-ins.
CREATE INDEX member_report_in_pending ON member (community_id, id)
    WHERE report_in_state = 'pending';

-- [{"skill": "medical", "certificate_number": "...", "expires_at": "2027-05-01T00:00:00+00:00",
--   "reminded": false}, ...]: one entry per verified skill.
ALTER TABLE member ADD COLUMN verifications jsonb NOT NULL DEFAULT '[]';
-- The expiry loop looks only at members holding a certificate.
CREATE INDEX member_verifications ON member (id) WHERE verifications <> '[]'::jsonb;
