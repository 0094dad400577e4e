-- What the relay last knew of the stream it publishes to, to notice when NATS lost its data.

-- One row per stream: when JetStream created it, and the highest stream sequence this schema's
-- relay got in an acknowledgement. A stream created at another time, or whose last sequence is
-- below last_seq, lost messages: the relay then publishes every outbox row still kept again.
CREATE TABLE outbox_stream (
    stream      text PRIMARY KEY,
    created     timestamptz NOT NULL,
    last_seq    bigint NOT NULL DEFAULT 0,
    checked_at  timestamptz NOT NULL DEFAULT now()
);
