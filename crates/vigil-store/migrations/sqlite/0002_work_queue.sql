-- The engines' work queue lives in the notifications table: an engine claims a row by writing
-- its name and a lease expiry, renews the lease while it works, and any engine may take over a
-- row whose lease has expired. attempts counts claims; next_attempt_at schedules a retry of an
-- errored notification.
ALTER TABLE notifications ADD COLUMN lease_owner TEXT;
ALTER TABLE notifications ADD COLUMN lease_expires INTEGER;
ALTER TABLE notifications ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN next_attempt_at INTEGER;

-- A step that ended its flow early records how ("finished" or "ignored: <why>"), so a resumed
-- flow ends the same way.
ALTER TABLE recovery_steps ADD COLUMN ending TEXT;
