-- The notifications service: what it keeps of the registry, the task service and the identity
-- service (to know who to tell, and what), the inboxes and their items, reminders sent, the
-- members' channels and the deliveries on them.

CREATE TABLE community (
    id          text PRIMARY KEY,
    street_id   text NOT NULL
);

-- Members: their name for the staff's items, their community, the phone SMS goes to.
CREATE TABLE member (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    community_id text NOT NULL,
    phone       text NOT NULL,
    version     timestamptz NOT NULL
);

-- Staff accounts and their scope: whose staff inboxes an item about a community goes to.
CREATE TABLE account (
    id              text PRIMARY KEY,
    role            text NOT NULL,
    community_ids   text[] NOT NULL DEFAULT '{}',
    street_ids      text[] NOT NULL DEFAULT '{}',
    disabled        boolean NOT NULL DEFAULT false
);

CREATE TABLE task (
    id          text PRIMARY KEY,
    community_id text NOT NULL,
    street_id   text NOT NULL,
    title       text NOT NULL,
    place       text NOT NULL,
    start_time  timestamptz NOT NULL,
    end_time    timestamptz NOT NULL,
    status      text NOT NULL
);

-- Places held on tasks: proposed and accepted ones are told of changes, accepted ones reminded.
CREATE TABLE assignment (
    id          text PRIMARY KEY,
    task_id     text NOT NULL,
    member_id   text NOT NULL,
    state       text NOT NULL,
    accepted_at timestamptz
);
CREATE INDEX assignment_task ON assignment (task_id);
CREATE INDEX assignment_accepted ON assignment (state) WHERE state = 'accepted';

-- Matching's proposals, until the task service turns each into a proposed place: a re-offer or
-- a standby offer is told as such.
CREATE TABLE proposal (
    task_id     text NOT NULL,
    member_id   text NOT NULL,
    reoffer     boolean NOT NULL,
    PRIMARY KEY (task_id, member_id)
);

-- One inbox per member and per staff account: the last cursor given and the day's pushes
-- ("mailbox": the event bus keeps its own table named inbox, of the events applied).
CREATE TABLE mailbox (
    id          text PRIMARY KEY,
    owner       text NOT NULL,
    last_cursor bigint NOT NULL DEFAULT 0,
    push_day    date,
    pushed      integer NOT NULL DEFAULT 0
);

CREATE TABLE inbox_item (
    inbox_id    text NOT NULL REFERENCES mailbox (id) ON DELETE CASCADE,
    cursor      bigint NOT NULL,
    id          uuid NOT NULL UNIQUE,
    key         text NOT NULL,
    kind        text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    task_id     text NOT NULL DEFAULT '',
    assignment_id text NOT NULL DEFAULT '',
    member_id   text NOT NULL DEFAULT '',
    community_id text NOT NULL DEFAULT '',
    record_id   text NOT NULL DEFAULT '',
    urgency     smallint NOT NULL,
    delivery    text NOT NULL,
    read        boolean NOT NULL DEFAULT false,
    create_time timestamptz NOT NULL,
    PRIMARY KEY (inbox_id, cursor),
    UNIQUE (inbox_id, key)
);
CREATE INDEX inbox_item_held ON inbox_item (inbox_id) WHERE delivery = 'held';
CREATE INDEX inbox_item_unread ON inbox_item (inbox_id) WHERE NOT read;

-- Reminders sent (or passed over) per place, offset and the start they were for.
CREATE TABLE reminded (
    assignment_id text NOT NULL,
    offset_s    integer NOT NULL,
    start_time  timestamptz NOT NULL,
    PRIMARY KEY (assignment_id, offset_s, start_time)
);

-- A member's channels beyond the app.
CREATE TABLE preference (
    member_id   text PRIMARY KEY,
    sms         boolean NOT NULL DEFAULT false,
    wechat      boolean NOT NULL DEFAULT false,
    openid      text NOT NULL DEFAULT '',
    wechat_refused boolean NOT NULL DEFAULT false
);

-- A pushed item on one channel: sent, retried with backoff, or given up.
CREATE TABLE delivery (
    inbox_id    text NOT NULL,
    cursor      bigint NOT NULL,
    channel     text NOT NULL,
    state       text NOT NULL DEFAULT 'pending',
    attempts    integer NOT NULL DEFAULT 0,
    next_time   timestamptz NOT NULL,
    error       text NOT NULL DEFAULT '',
    PRIMARY KEY (inbox_id, cursor, channel),
    FOREIGN KEY (inbox_id, cursor) REFERENCES inbox_item (inbox_id, cursor) ON DELETE CASCADE
);
CREATE INDEX delivery_due ON delivery (next_time) WHERE state = 'pending';
