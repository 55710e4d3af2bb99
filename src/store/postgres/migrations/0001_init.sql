-- hookshot schema, version 1. `__SCHEMA__` is replaced by the schema the
-- application chose. Ids and tenants use the "C" collation so that they sort
-- by bytes, as cursors and the in-memory backend expect.

CREATE TABLE __SCHEMA__.endpoints (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant      TEXT COLLATE "C" NOT NULL,
    active      BOOLEAN NOT NULL,
    deleted     BOOLEAN NOT NULL,
    -- NULL: every event type. Otherwise names and `group.*` patterns.
    event_types TEXT[],
    -- The whole stored endpoint, secrets included.
    record      JSONB NOT NULL
);
CREATE INDEX endpoints_listing ON __SCHEMA__.endpoints (tenant, id) WHERE NOT deleted;
-- Subscriber lookup: endpoints taking every type, and those naming the type
-- or a pattern covering it, so that it grows with subscribers, not endpoints.
CREATE INDEX endpoints_take_all ON __SCHEMA__.endpoints (tenant, id)
    WHERE event_types IS NULL AND active AND NOT deleted;
CREATE INDEX endpoints_by_type ON __SCHEMA__.endpoints USING GIN (event_types)
    WHERE active AND NOT deleted;

CREATE TABLE __SCHEMA__.event_types (
    name   TEXT COLLATE "C" PRIMARY KEY,
    record JSONB NOT NULL
);

CREATE TABLE __SCHEMA__.idempotency (
    tenant      TEXT COLLATE "C" NOT NULL,
    scope       TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, scope, key)
);
CREATE INDEX idempotency_expiry ON __SCHEMA__.idempotency (expires_at);

CREATE TABLE __SCHEMA__.events (
    id         TEXT COLLATE "C" PRIMARY KEY,
    tenant     TEXT COLLATE "C" NOT NULL,
    event_type TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Times are Unix milliseconds.
CREATE TABLE __SCHEMA__.deliveries (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    tenant               TEXT COLLATE "C" NOT NULL,
    event_id             TEXT COLLATE "C" NOT NULL
                         REFERENCES __SCHEMA__.events (id) ON DELETE CASCADE,
    endpoint_id          TEXT COLLATE "C" NOT NULL,
    event_type           TEXT COLLATE "C" NOT NULL,
    status               TEXT NOT NULL,
    attempts             BIGINT NOT NULL,
    scheduled_attempts   BIGINT NOT NULL,
    next_trigger         TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    last_attempt_at      BIGINT,
    next_attempt_at      BIGINT,
    last_response_status INTEGER,
    failure_reason       TEXT,
    -- The lease of a claimed delivery, and its status before the claim.
    lease_worker         TEXT,
    lease_expires_at     BIGINT,
    status_before        TEXT,
    -- When the delivery is next claimable: next_attempt_at while queued,
    -- the lease's expiry while leased, NULL once final. Only rows with a
    -- due time are in the claim index, so finished history costs claims
    -- nothing.
    due_at               BIGINT
);
CREATE INDEX deliveries_due ON __SCHEMA__.deliveries (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX deliveries_listing ON __SCHEMA__.deliveries (tenant, id);
CREATE INDEX deliveries_by_status ON __SCHEMA__.deliveries (tenant, status, id);
CREATE INDEX deliveries_by_endpoint ON __SCHEMA__.deliveries (tenant, endpoint_id, id);
CREATE INDEX deliveries_by_type ON __SCHEMA__.deliveries (tenant, event_type, id);
CREATE INDEX deliveries_by_created ON __SCHEMA__.deliveries (tenant, created_at);
CREATE INDEX deliveries_by_event ON __SCHEMA__.deliveries (event_id);
-- Retention: finished deliveries by their last activity.
CREATE INDEX deliveries_finished ON __SCHEMA__.deliveries
    ((COALESCE(last_attempt_at, created_at))) WHERE due_at IS NULL;

CREATE TABLE __SCHEMA__.attempts (
    seq         BIGSERIAL PRIMARY KEY,
    delivery_id TEXT COLLATE "C" NOT NULL
                REFERENCES __SCHEMA__.deliveries (id) ON DELETE CASCADE,
    record      JSONB NOT NULL
);
CREATE INDEX attempts_by_delivery ON __SCHEMA__.attempts (delivery_id, seq);
