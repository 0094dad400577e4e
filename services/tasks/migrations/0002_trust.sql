-- What a role's creating call answered, so that a repeat of its request_id answers the same.
ALTER TABLE role ADD COLUMN tasks_generated integer NOT NULL DEFAULT 0;

-- Read model, from linli.registry.unit.created: a role may be created on behalf of a known unit.
CREATE TABLE unit (
    id            text PRIMARY KEY,
    community_id  text NOT NULL
);
