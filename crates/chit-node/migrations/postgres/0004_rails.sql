-- Rails, version 4 (PostgreSQL). Same as sqlite/0004_rails.sql but for types.

-- External accounts a user linked, after the rail verified them.
CREATE TABLE linked_accounts (
    handle         text NOT NULL,
    rail           text NOT NULL,
    reference      text NOT NULL,
    verified_at_ms bigint NOT NULL,
    PRIMARY KEY (handle, rail)
);
