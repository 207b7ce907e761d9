-- The payload values the store filters on, as columns filled at intake from the typed payload:
-- the engine's history queries (a host's last failure, a segment's recent failures, an
-- instance's earlier recoveries) become index lookups instead of matching JSON text. Rows
-- stored before this revision are filled from their payloads here, field by field (the store
-- has always written payloads as JSON text).
ALTER TABLE notifications ADD COLUMN event TEXT;
ALTER TABLE notifications ADD COLUMN instance_uuid TEXT;
ALTER TABLE notifications ADD COLUMN host_status TEXT;

UPDATE notifications SET
    event = CASE WHEN jsonb_typeof(payload::jsonb -> 'event') = 'string'
        THEN payload::jsonb ->> 'event' END,
    instance_uuid = CASE WHEN type = 'VM' AND jsonb_typeof(payload::jsonb -> 'instance_uuid') = 'string'
        THEN payload::jsonb ->> 'instance_uuid' END,
    host_status = CASE WHEN type = 'COMPUTE_HOST' AND jsonb_typeof(payload::jsonb -> 'host_status') = 'string'
        THEN payload::jsonb ->> 'host_status' END;

CREATE INDEX notifications_host_event ON notifications (source_host_uuid, type, event, generated_time);
CREATE INDEX notifications_instance ON notifications (instance_uuid, generated_time);

-- Fencing for the work queue: every claim takes the next generation, and every write on behalf
-- of a claim names the generation it holds. An engine whose lease expired cannot write after
-- another claim, even one under the same owner name (an engine restarted with its old name).
ALTER TABLE notifications ADD COLUMN lease_generation BIGINT NOT NULL DEFAULT 0;
