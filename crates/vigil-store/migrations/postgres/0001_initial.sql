-- Vigil's initial schema (PostgreSQL). Times are microseconds since the Unix epoch, UTC.
-- Soft delete follows Masakari: `deleted` is 0 while live and the row's id once deleted, so
-- unique(name, deleted) allows re-using a deleted name.

CREATE TABLE segments (
    id BIGSERIAL PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    name TEXT NOT NULL,
    service_type TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    description TEXT,
    recovery_method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    UNIQUE (name, deleted)
);
CREATE INDEX segments_created ON segments (created_at, id);

CREATE TABLE hosts (
    id BIGSERIAL PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    name TEXT NOT NULL,
    segment_id BIGINT NOT NULL REFERENCES segments (id),
    type TEXT,
    control_attributes TEXT,
    reserved BIGINT NOT NULL DEFAULT 0,
    on_maintenance BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    UNIQUE (name, deleted)
);
CREATE INDEX hosts_segment ON hosts (segment_id, created_at, id);

CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    notification_uuid VARCHAR(36) NOT NULL UNIQUE,
    generated_time BIGINT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    -- SHA-256 of the payload with sorted keys: makes the duplicate check an index lookup.
    payload_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    source_host_uuid TEXT NOT NULL,
    failover_segment_uuid TEXT,
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX notifications_created ON notifications (created_at, id);
CREATE INDEX notifications_status ON notifications (status, created_at, id);
CREATE INDEX notifications_dedup ON notifications (source_host_uuid, type, payload_digest, generated_time);

CREATE TABLE vmoves (
    id BIGSERIAL PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    notification_uuid TEXT NOT NULL,
    instance_uuid TEXT NOT NULL,
    instance_name TEXT NOT NULL,
    source_host TEXT,
    dest_host TEXT,
    start_time BIGINT,
    end_time BIGINT,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    UNIQUE (notification_uuid, instance_uuid, deleted)
);

-- The recovery log of a notification: one row per executed step, in execution order.
CREATE TABLE recovery_steps (
    notification_uuid TEXT NOT NULL,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    progress DOUBLE PRECISION NOT NULL DEFAULT 0,
    progress_details TEXT NOT NULL DEFAULT '[]',
    output TEXT,
    message TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (notification_uuid, position)
);
