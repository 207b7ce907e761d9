-- Vigil's initial schema (MySQL/MariaDB). Times are microseconds since the Unix epoch, UTC.
-- Soft delete follows Masakari: `deleted` is 0 while live and the row's id once deleted, so
-- unique(name, deleted) allows re-using a deleted name. Binary collation: names compare exactly,
-- as on SQLite and PostgreSQL (Nova host names are case-sensitive).

CREATE TABLE segments (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL,
    service_type VARCHAR(255) NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    description TEXT,
    recovery_method VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    UNIQUE KEY segments_name (name, deleted),
    KEY segments_created (created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE hosts (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    name VARCHAR(255) NOT NULL,
    segment_id BIGINT NOT NULL,
    type VARCHAR(255),
    control_attributes TEXT,
    reserved BIGINT NOT NULL DEFAULT 0,
    on_maintenance BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    UNIQUE KEY hosts_name (name, deleted),
    KEY hosts_segment (segment_id, created_at, id),
    FOREIGN KEY (segment_id) REFERENCES segments (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE notifications (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    notification_uuid VARCHAR(36) NOT NULL UNIQUE,
    generated_time BIGINT NOT NULL,
    type VARCHAR(36) NOT NULL,
    payload TEXT NOT NULL,
    -- SHA-256 of the payload with sorted keys: makes the duplicate check an index lookup.
    payload_digest VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    source_host_uuid VARCHAR(36) NOT NULL,
    failover_segment_uuid VARCHAR(36),
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    KEY notifications_created (created_at, id),
    KEY notifications_status (status, created_at, id),
    KEY notifications_dedup (source_host_uuid, type, payload_digest, generated_time)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE vmoves (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    uuid VARCHAR(36) NOT NULL UNIQUE,
    notification_uuid VARCHAR(36) NOT NULL,
    instance_uuid VARCHAR(36) NOT NULL,
    instance_name VARCHAR(255) NOT NULL,
    source_host VARCHAR(255),
    dest_host VARCHAR(255),
    start_time BIGINT,
    end_time BIGINT,
    type VARCHAR(36) NOT NULL,
    status VARCHAR(36) NOT NULL,
    message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0,
    UNIQUE KEY vmoves_instance (notification_uuid, instance_uuid, deleted)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The recovery log of a notification: one row per executed step, in execution order.
CREATE TABLE recovery_steps (
    notification_uuid VARCHAR(36) NOT NULL,
    position BIGINT NOT NULL,
    name VARCHAR(255) NOT NULL,
    state VARCHAR(32) NOT NULL,
    progress DOUBLE NOT NULL DEFAULT 0,
    progress_details TEXT NOT NULL,
    output TEXT,
    message TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (notification_uuid, position)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
