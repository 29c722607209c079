-- Login challenges are no longer stored (they are MAC'd by the node and checked by it); expired
-- sessions are swept by a worker, oldest first. Version 8 (SQLite); postgres/0007_sessions.sql.
DROP TABLE challenges;
CREATE INDEX sessions_by_expiry ON sessions (expires_at_ms);
