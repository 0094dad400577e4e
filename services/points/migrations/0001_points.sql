-- The points service: a double-entry ledger (movements, each two entries that sum to zero,
-- never changed), what it keeps of the registry, and the years whose reset is done.

-- The registry's communities (the street of each) and members (their community).
CREATE TABLE community (
    id          text PRIMARY KEY,
    street_id   text NOT NULL
);

CREATE TABLE member (
    id           text PRIMARY KEY,
    community_id text NOT NULL,
    erased       boolean NOT NULL DEFAULT false,
    version      timestamptz NOT NULL
);

-- A movement of points between a member's account and a community's. `amount` is what the
-- member's account is credited (hundredths of a point; negative: debited). The pair
-- (kind, source_id) is unique: an hours record is awarded once, a movement reversed once, a
-- redemption's request booked once, a year's reset made once per member and community.
CREATE TABLE movement (
    seq           bigserial UNIQUE,
    id            uuid PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('award', 'redemption', 'reversal', 'reset')),
    member_id     text NOT NULL,
    community_id  text NOT NULL,
    amount        bigint NOT NULL CHECK (amount <> 0),
    source_id     text NOT NULL,
    reason        text NOT NULL,
    booked_at     timestamptz NOT NULL,
    category      text NOT NULL DEFAULT '',
    year          integer NOT NULL DEFAULT 0,
    reverses      uuid REFERENCES movement (id),
    reverses_kind text,
    actor         text NOT NULL DEFAULT '',
    UNIQUE (kind, source_id),
    CHECK ((kind = 'reversal') = (reverses IS NOT NULL)),
    CHECK ((kind = 'reversal') = (reverses_kind IS NOT NULL))
);
CREATE INDEX movement_member ON movement (member_id, booked_at DESC, id DESC);
CREATE INDEX movement_community ON movement (community_id);
CREATE INDEX movement_booked ON movement (booked_at);
-- A movement is reversed at most once.
CREATE UNIQUE INDEX movement_reversed_once ON movement (reverses) WHERE reverses IS NOT NULL;

-- The two entries of each movement: "member:<id>" and "community:<id>".
CREATE TABLE entry (
    movement_id uuid NOT NULL REFERENCES movement (id),
    account     text NOT NULL,
    amount      bigint NOT NULL,
    PRIMARY KEY (movement_id, account)
);
CREATE INDEX entry_account ON entry (account);

-- Hours records a correction replaced: one arriving late earns nothing.
CREATE TABLE superseded_record (
    record_id  text PRIMARY KEY,
    member_id  text NOT NULL
);

-- The local years whose reset is done (where the settings reset balances).
CREATE TABLE year_end (
    year     integer PRIMARY KEY,
    done_at  timestamptz NOT NULL
);

-- The ledger is append-only: no row of it is ever changed or removed, whoever asks.
CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the points ledger is append-only: % on % refused (book a reversal)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER movement_append_only BEFORE UPDATE OR DELETE ON movement
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER movement_no_truncate BEFORE TRUNCATE ON movement
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entry_append_only BEFORE UPDATE OR DELETE ON entry
    FOR EACH ROW EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER entry_no_truncate BEFORE TRUNCATE ON entry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- At commit, every movement written has exactly two entries, one the member's for its amount,
-- and they sum to zero: checked after all the rows of the transaction are in (deferred).
CREATE FUNCTION movement_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m movement%ROWTYPE;
    n integer;
    total bigint;
    mine bigint;
BEGIN
    SELECT * INTO m FROM movement WHERE id = NEW.id;
    SELECT count(*), coalesce(sum(amount), 0),
           coalesce(sum(amount) FILTER (WHERE account = 'member:' || m.member_id), 0)
      INTO n, total, mine
      FROM entry WHERE movement_id = NEW.id;
    IF n <> 2 OR total <> 0 OR mine <> m.amount THEN
        RAISE EXCEPTION 'movement % is not balanced: % entries summing to %', NEW.id, n, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER movement_balanced AFTER INSERT ON movement
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION movement_balanced();

-- An entry added later to a movement already in place would unbalance it: checked the same way.
CREATE FUNCTION entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    total bigint;
BEGIN
    SELECT count(*), coalesce(sum(amount), 0) INTO n, total
      FROM entry WHERE movement_id = NEW.movement_id;
    IF n <> 2 OR total <> 0 THEN
        RAISE EXCEPTION 'movement % is not balanced: % entries summing to %',
            NEW.movement_id, n, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER entry_balanced AFTER INSERT ON entry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION entry_balanced();
