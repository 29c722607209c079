-- Read markers and payment lookups, version 7 (SQLite). Same as postgres/0006_read_markers.sql
-- but for types.

-- Each member's read marker: every message of the conversation up to this number is read (by
-- any of the member's devices). Unread = later messages from others.
ALTER TABLE members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;

-- The open payments a user has to decide on (replayed to an IMPT client at login).
CREATE INDEX payments_by_payer ON payments (payer, state);
CREATE INDEX payments_by_payee ON payments (payee, state);
