-- The provider's state, its outbox, the endpoints it delivers to, and the delivery log.
-- Every table is prefixed so that it can share a database with other topics' tables.
-- Times are BIGINT milliseconds since the Unix epoch: the compressed retry schedule of the demo
-- and the tests waits milliseconds, and an integer compares the same way on both backends.

CREATE TABLE IF NOT EXISTS webhooks_orders (
    id         TEXT   PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL
);

-- `seq` is the polling cursor (`since=`); `id` is the `webhook-id` a consumer deduplicates on.
CREATE TABLE IF NOT EXISTS webhooks_outbox_events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT   NOT NULL UNIQUE,
    event_type TEXT   NOT NULL,
    payload    TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- During a rotation the previous secret still signs, until `previous_secret_expires_at`.
CREATE TABLE IF NOT EXISTS webhooks_endpoints (
    id                         TEXT    PRIMARY KEY,
    url                        TEXT    NOT NULL,
    secret                     TEXT    NOT NULL,
    previous_secret            TEXT,
    previous_secret_expires_at BIGINT,
    enabled                    BOOLEAN NOT NULL,
    disabled_reason            TEXT,
    disabled_at                BIGINT,
    consecutive_failures       INTEGER NOT NULL,
    created_at                 BIGINT  NOT NULL
);

-- One row per attempt: the table is the delivery log. A pending row is an attempt not yet made.
CREATE TABLE IF NOT EXISTS webhooks_deliveries (
    id              TEXT    PRIMARY KEY,
    event_id        TEXT    NOT NULL REFERENCES webhooks_outbox_events (id),
    endpoint_id     TEXT    NOT NULL REFERENCES webhooks_endpoints (id),
    attempt         INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    response_status INTEGER,
    error           TEXT,
    scheduled_at    BIGINT  NOT NULL,
    locked_until    BIGINT,
    attempted_at    BIGINT,
    next_attempt_at BIGINT
);

-- What the dispatcher's claim seeks: the due pending attempts, oldest first.
CREATE INDEX IF NOT EXISTS webhooks_deliveries_due_idx
    ON webhooks_deliveries (status, scheduled_at);
CREATE INDEX IF NOT EXISTS webhooks_deliveries_event_idx
    ON webhooks_deliveries (event_id, endpoint_id);
