-- Lists sorted by generated_time (what operators and monitors ask for) walk an index instead of
-- sorting every row.
CREATE INDEX notifications_generated ON notifications (generated_time, created_at, id);
