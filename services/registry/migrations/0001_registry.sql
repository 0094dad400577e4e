-- The registry: the district's organisation and its members.

CREATE TABLE street (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE community (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    street_id    text NOT NULL REFERENCES street (id),
    station_lat  double precision NOT NULL,
    station_lng  double precision NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX community_street ON community (street_id, id);

CREATE TABLE grid (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    community_id  text NOT NULL REFERENCES community (id),
    center_lat    double precision NOT NULL,
    center_lng    double precision NOT NULL,
    radius_m      integer NOT NULL CHECK (radius_m > 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grid_community ON grid (community_id, id);

CREATE TABLE building_group (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    grid_id     text NOT NULL REFERENCES grid (id),
    lat         double precision,
    lng         double precision,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX building_group_grid ON building_group (grid_id, id);

CREATE TABLE unit (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('government', 'enterprise', 'institution')),
    community_id  text NOT NULL REFERENCES community (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unit_community ON unit (community_id, id);

CREATE TABLE member (
    id                   uuid PRIMARY KEY,
    -- The caller's id for the registration that created the row, and a fingerprint of what it
    -- asked for: a retry finds it here; the same id for something else is refused.
    created_by           text NOT NULL,
    request_id           text NOT NULL,
    request_hash         text NOT NULL,
    name                 text NOT NULL,
    phone                text NOT NULL UNIQUE,
    home_lat             double precision NOT NULL,
    home_lng             double precision NOT NULL,
    community_id         text REFERENCES community (id),
    grid_id              text REFERENCES grid (id),
    building_group_id    text REFERENCES building_group (id),
    unit_id              text REFERENCES unit (id),
    -- [{"skill": "tutoring", "level": 3}, ...]
    skills               jsonb NOT NULL DEFAULT '[]',
    -- [{"day": 1, "start": 1080, "end": 1260}, ...] (ISO weekday, minutes after midnight)
    availability         jsonb NOT NULL DEFAULT '[]',
    hours_per_month      integer NOT NULL CHECK (hours_per_month BETWEEN 0 AND 200),
    active               boolean NOT NULL DEFAULT true,
    deactivation_reason  text NOT NULL DEFAULT '',
    reported_in_at       timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (created_by, request_id),
    CHECK ((community_id IS NULL) = (grid_id IS NULL))
);
CREATE INDEX member_community ON member (community_id, id);
CREATE INDEX member_grid ON member (grid_id, id);
CREATE INDEX member_skills ON member USING gin (skills jsonb_path_ops);
