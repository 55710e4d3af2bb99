-- hookshot schema, version 2: the JSON records of endpoints, event types and
-- attempts get shapes of their own (src/store/postgres/records.rs) instead
-- of the public JSON of the model types, which may change with the API.
-- Each carries "version": 2. Keys that have columns (an endpoint's id and
-- tenant, an event type's name, an attempt's delivery) leave the record,
-- and times become Unix milliseconds, as in every other column.
--
-- Rows written by version 1 are converted here. A value that version 1
-- could not have written is carried over as it is rather than failing the
-- whole migration: the row stays unreadable, and reading it names it.

-- A version 1 time (RFC 3339 as hookshot wrote it, in UTC with
-- milliseconds) as Unix milliseconds.
CREATE FUNCTION __SCHEMA__.v1_millis(t TEXT) RETURNS JSONB LANGUAGE sql AS $$
    SELECT CASE
        WHEN t ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
             AND left(t, 4) <> '0000'
        THEN to_jsonb(round(extract(epoch FROM t::timestamptz) * 1000)::bigint)
        ELSE to_jsonb(t)
    END
$$;

-- Whole seconds as milliseconds.
CREATE FUNCTION __SCHEMA__.v1_secs_to_millis(secs JSONB) RETURNS JSONB LANGUAGE sql AS $$
    SELECT CASE WHEN jsonb_typeof(secs) = 'number'
        THEN to_jsonb((secs #>> '{}')::numeric * 1000)
        ELSE secs
    END
$$;

-- Version 1 kept {"endpoint": <the public Endpoint>, "secret", "retired",
-- "deleted_at", "failing_since"}, the endpoint's status flattened into it.
CREATE FUNCTION __SCHEMA__.v1_endpoint(r JSONB) RETURNS JSONB LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'version', 2,
        'name', e->'name',
        'description', e->'description',
        'url', e->'url',
        'event_types', e->'event_types',
        'disabled', CASE e->>'status'
            WHEN 'active' THEN NULL
            WHEN 'disabled' THEN jsonb_build_object(
                'reason', e->'disabled_reason',
                'since_ms', __SCHEMA__.v1_millis(e->>'disabled_at'))
            ELSE to_jsonb(COALESCE(e->>'status', '(no status)'))
        END,
        'timeout_ms', __SCHEMA__.v1_secs_to_millis(e->'timeout_secs'),
        'rate_limit_per_sec', e->'rate_limit_per_sec',
        'headers', COALESCE(e->'headers', '{}'),
        'metadata', COALESCE(e->'metadata', '{}'),
        'has_signing_secret', e->'has_signing_secret',
        'created_at_ms', __SCHEMA__.v1_millis(e->>'created_at'),
        'updated_at_ms', __SCHEMA__.v1_millis(e->>'updated_at'),
        'last_triggered_at_ms', __SCHEMA__.v1_millis(e->>'last_triggered_at'),
        'secret', r->'secret',
        'retired', CASE WHEN jsonb_typeof(r->'retired') = 'array' THEN (
            SELECT COALESCE(jsonb_agg(jsonb_build_object(
                    'secret', old->'secret',
                    'expires_at_ms', __SCHEMA__.v1_millis(old->>'expires_at'))
                ORDER BY n), '[]')
            FROM jsonb_array_elements(r->'retired') WITH ORDINALITY AS o(old, n))
            ELSE r->'retired'
        END,
        'deleted_at_ms', __SCHEMA__.v1_millis(r->>'deleted_at'),
        'failing_since_ms', __SCHEMA__.v1_millis(r->>'failing_since'))
    FROM (SELECT r->'endpoint' AS e) AS v1
$$;

-- Version 1 kept the public EventType, its name included.
CREATE FUNCTION __SCHEMA__.v1_event_type(r JSONB) RETURNS JSONB LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'version', 2,
        'group', r->'group',
        'title', r->'title',
        'description', r->'description',
        'example', r->'example',
        'deprecated', COALESCE(r->'deprecated', 'false'))
$$;

-- Version 1 kept the public Attempt, its delivery id and its outcome
-- flattened into it.
CREATE FUNCTION __SCHEMA__.v1_attempt(r JSONB) RETURNS JSONB LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'version', 2,
        'number', r->'number',
        'trigger', r->'trigger',
        'started_at_ms', __SCHEMA__.v1_millis(r->>'started_at'),
        'duration_ms', r->'duration_ms',
        'outcome', CASE r->>'outcome'
            WHEN 'response' THEN jsonb_build_object(
                'type', 'response',
                'status', r->'status',
                'body', r->'body',
                'body_truncated', r->'body_truncated')
            WHEN 'error' THEN jsonb_build_object(
                'type', 'error',
                'kind', r->'kind',
                'message', r->'message')
            ELSE r->'outcome'
        END)
$$;

UPDATE __SCHEMA__.endpoints SET record = __SCHEMA__.v1_endpoint(record)
    WHERE NOT record ? 'version';
UPDATE __SCHEMA__.event_types SET record = __SCHEMA__.v1_event_type(record)
    WHERE NOT record ? 'version';
UPDATE __SCHEMA__.attempts SET record = __SCHEMA__.v1_attempt(record)
    WHERE NOT record ? 'version';

DROP FUNCTION __SCHEMA__.v1_attempt(JSONB);
DROP FUNCTION __SCHEMA__.v1_event_type(JSONB);
DROP FUNCTION __SCHEMA__.v1_endpoint(JSONB);
DROP FUNCTION __SCHEMA__.v1_secs_to_millis(JSONB);
DROP FUNCTION __SCHEMA__.v1_millis(TEXT);
