-- The payload values the store filters on, as columns filled at intake from the typed payload:
-- the engine's history queries (a host's last failure, a segment's recent failures, an
-- instance's earlier recoveries) become index lookups instead of matching JSON text. Rows
-- stored before this revision are filled from their payloads here, field by field.
ALTER TABLE notifications ADD COLUMN event VARCHAR(255);
ALTER TABLE notifications ADD COLUMN instance_uuid VARCHAR(255);
ALTER TABLE notifications ADD COLUMN host_status VARCHAR(255);

UPDATE notifications SET
    event = CASE WHEN JSON_VALID(payload) AND JSON_TYPE(JSON_EXTRACT(payload, '$.event')) = 'STRING'
        THEN JSON_UNQUOTE(JSON_EXTRACT(payload, '$.event')) END,
    instance_uuid = CASE WHEN type = 'VM' AND JSON_VALID(payload)
        AND JSON_TYPE(JSON_EXTRACT(payload, '$.instance_uuid')) = 'STRING'
        THEN JSON_UNQUOTE(JSON_EXTRACT(payload, '$.instance_uuid')) END,
    host_status = CASE WHEN type = 'COMPUTE_HOST' AND JSON_VALID(payload)
        AND JSON_TYPE(JSON_EXTRACT(payload, '$.host_status')) = 'STRING'
        THEN JSON_UNQUOTE(JSON_EXTRACT(payload, '$.host_status')) END;

CREATE INDEX notifications_host_event ON notifications (source_host_uuid, type, event, generated_time);
CREATE INDEX notifications_instance ON notifications (instance_uuid, generated_time);

-- Fencing for the work queue: every claim takes the next generation, and every write on behalf
-- of a claim names the generation it holds. An engine whose lease expired cannot write after
-- another claim, even one under the same owner name (an engine restarted with its old name).
ALTER TABLE notifications ADD COLUMN lease_generation BIGINT NOT NULL DEFAULT 0;
