-- The trace context of the call that wrote an outbox row, so that its consumers join the trace.

-- W3C trace context (traceparent, tracestate) current when the event was written; the relay
-- sends it as NATS headers, never inside the sealed payload. NULL when tracing was off.
ALTER TABLE outbox
    ADD COLUMN traceparent text,
    ADD COLUMN tracestate  text;
