-- Lists filtered by status (and type) and sorted by generated_time, as monitors and operators
-- ask for them (`status=new&type=VM&sort_key=generated_time`): the filters are the index's
-- leading columns and the sort its rest, so a page is one ordered range read, whether few rows
-- match or most do. Without them SQLite picked the status index and sorted every match, and a
-- walk of notifications_generated that skips rows is slow when few match.
CREATE INDEX notifications_status_type_generated ON notifications (status, type, generated_time, created_at, id);
CREATE INDEX notifications_status_generated ON notifications (status, generated_time, created_at, id);
