-- Rails, version 4 (SQLite). Same as postgres/0004_rails.sql but for types.

-- External accounts a user linked, after the rail verified them.
CREATE TABLE linked_accounts (
    handle         TEXT NOT NULL,
    rail           TEXT NOT NULL,
    reference      TEXT NOT NULL,
    verified_at_ms INTEGER NOT NULL,
    PRIMARY KEY (handle, rail)
);
