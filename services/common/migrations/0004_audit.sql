-- The audit log of personal data (services/common/audit.py writes it): who changed what through a
-- call, and who was shown a full phone, an exact home, a resident's address or an exact distance.
-- Append-only: the owner cannot be refused UPDATE or DELETE by REVOKE, so a trigger refuses them;
-- the one change allowed is erasure's, which replaces a member's id by a pseudonym and nothing else.

CREATE TABLE audit_entry (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    actor_role  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('write', 'reveal')),
    action      text NOT NULL,
    member_id   text NOT NULL DEFAULT '',
    task_id     text NOT NULL DEFAULT '',
    revealed    text[] NOT NULL DEFAULT '{}',
    method      text NOT NULL,
    request_id  text NOT NULL
);
CREATE INDEX audit_entry_member ON audit_entry (member_id, id) WHERE member_id <> '';
CREATE INDEX audit_entry_actor ON audit_entry (actor, id);
CREATE INDEX audit_entry_at ON audit_entry (at);

CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND (NEW.member_id = OLD.member_id OR NEW.member_id LIKE 'erased-%')
        AND (NEW.actor = OLD.actor OR NEW.actor LIKE 'erased-%')
        AND (NEW.id, NEW.at, NEW.actor_role, NEW.kind, NEW.action, NEW.task_id, NEW.revealed,
             NEW.method, NEW.request_id)
            IS NOT DISTINCT FROM
            (OLD.id, OLD.at, OLD.actor_role, OLD.kind, OLD.action, OLD.task_id, OLD.revealed,
             OLD.method, OLD.request_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_entry_append_only
    BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();

-- TRUNCATE skips row triggers: refused by a statement trigger of its own.
CREATE TRIGGER audit_entry_no_truncate
    BEFORE TRUNCATE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only();
