-- Ledger schema, version 1. Ids and references are 16-byte big-endian blobs; amounts and
-- timestamps are integers (minor units, nanoseconds) that always fit in 64-bit signed integers.

CREATE TABLE accounts (
    id              BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    currency        TEXT NOT NULL,
    kind            INTEGER NOT NULL CHECK (kind IN (1, 2)),
    code            INTEGER NOT NULL,
    reference       BLOB NOT NULL,
    debits_pending  INTEGER NOT NULL CHECK (debits_pending >= 0),
    debits_posted   INTEGER NOT NULL CHECK (debits_posted >= 0),
    credits_pending INTEGER NOT NULL CHECK (credits_pending >= 0),
    credits_posted  INTEGER NOT NULL CHECK (credits_posted >= 0),
    timestamp       INTEGER NOT NULL,
    -- A user account never goes below zero, whatever code writes to it.
    CHECK (kind = 2 OR debits_posted + debits_pending <= credits_posted)
) WITHOUT ROWID;

-- The timestamp is the rowid: it strictly increases, so new transfers append to the table.
-- There is deliberately no per-account index here: see account_history.
CREATE TABLE transfers (
    timestamp         INTEGER PRIMARY KEY,
    id                BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    debit_account_id  BLOB NOT NULL,
    credit_account_id BLOB NOT NULL,
    amount            INTEGER NOT NULL CHECK (amount >= 0),
    currency          TEXT NOT NULL,
    kind              INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 3),
    pending_id        BLOB,
    expires_at        INTEGER,
    code              INTEGER NOT NULL,
    reference         BLOB NOT NULL,
    linked            INTEGER NOT NULL
);

-- Per-account history, filled in bulk from the transfers after `indexed_upto`. Each pass writes
-- one sorted run; because `run` leads the key, a pass only appends pages (an index keyed by
-- account alone would dirty one page per active account on every pass). A query seeks each run
-- for the account, plus the short unindexed tail of `transfers`.
CREATE TABLE account_history (
    run        INTEGER NOT NULL,
    account_id BLOB NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (run, account_id, timestamp)
) WITHOUT ROWID;
CREATE TABLE history_runs (
    run             INTEGER PRIMARY KEY,
    first_timestamp INTEGER NOT NULL,
    last_timestamp  INTEGER NOT NULL
);
CREATE TABLE history_progress (
    singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
    indexed_upto INTEGER NOT NULL
);
INSERT INTO history_progress (singleton, indexed_upto) VALUES (1, -1);

-- The one mutable part of a pending transfer: whether it is still pending.
CREATE TABLE pending_transfers (
    id          BLOB PRIMARY KEY NOT NULL,
    state       INTEGER NOT NULL CHECK (state BETWEEN 0 AND 3),
    expires_at  INTEGER,
    resolved_by BLOB UNIQUE,
    resolved_at INTEGER
) WITHOUT ROWID;
CREATE INDEX pending_due ON pending_transfers (expires_at) WHERE state = 0 AND expires_at IS NOT NULL;

-- The last timestamp handed out, so timestamps keep increasing across restarts.
CREATE TABLE ledger_clock (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last      INTEGER NOT NULL
);
INSERT INTO ledger_clock (singleton, last) VALUES (1, 0);
