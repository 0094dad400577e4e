-- The affairs service: the ledger's items, their append-only history, the tasks posted for
-- them, and what it keeps of the registry (the street of each community).

CREATE TABLE community (
    id          text PRIMARY KEY,
    street_id   text NOT NULL
);

-- One row per item: the columns the ledger filters and sorts by, the resident's contact in
-- columns of its own (personal data, never in `data` nor in events), the rest in `data`.
CREATE TABLE item (
    id              uuid PRIMARY KEY,
    request_id      text NOT NULL UNIQUE,
    created_by      text NOT NULL,
    community_id    text NOT NULL,
    street_id       text NOT NULL,
    grid_id         text NOT NULL,
    category        text NOT NULL,
    stage           text NOT NULL,
    overdue         boolean NOT NULL DEFAULT false,
    handler_subject text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    due_at          timestamptz,
    contact_name    text NOT NULL,
    contact_phone   text NOT NULL DEFAULT '',
    contact_by      text NOT NULL DEFAULT '',
    data            jsonb NOT NULL
);
CREATE INDEX item_newest ON item (created_at DESC, id DESC);
CREATE INDEX item_community ON item (community_id, created_at DESC);
CREATE INDEX item_street ON item (street_id, created_at DESC);
CREATE INDEX item_handler ON item (handler_subject) WHERE handler_subject <> '';
-- What the overdue sweep looks for.
CREATE INDEX item_due ON item (due_at) WHERE NOT overdue AND due_at IS NOT NULL;

-- The history: entries are added, never changed nor removed (the trigger refuses it).
CREATE TABLE item_entry (
    item_id     uuid NOT NULL REFERENCES item (id),
    seq         integer NOT NULL,
    at          timestamptz NOT NULL,
    actor       text NOT NULL,
    action      text NOT NULL,
    note        text NOT NULL,
    stage       text NOT NULL,
    request_id  text NOT NULL DEFAULT '',
    PRIMARY KEY (item_id, seq)
);
CREATE UNIQUE INDEX item_entry_request ON item_entry (item_id, request_id) WHERE request_id <> '';

CREATE FUNCTION item_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the history of an item is append-only';
END;
$$;
CREATE TRIGGER item_entry_append_only
    BEFORE UPDATE OR DELETE ON item_entry
    FOR EACH ROW EXECUTE FUNCTION item_entry_append_only();

-- Tasks posted for an item (a wish, a role's task): their completion is evidence on it.
CREATE TABLE item_task (
    task_id     text NOT NULL,
    item_id     uuid NOT NULL REFERENCES item (id),
    PRIMARY KEY (task_id, item_id)
);
