-- Ledger schema, version 1. Ids and references are 16-byte big-endian bytea (byte order equals
-- numeric order); amounts and timestamps are bigint (minor units, nanoseconds).

CREATE TABLE accounts (
    id              bytea PRIMARY KEY CHECK (length(id) = 16),
    currency        text NOT NULL,
    kind            smallint NOT NULL CHECK (kind IN (1, 2)),
    code            integer NOT NULL,
    reference       bytea NOT NULL,
    debits_pending  bigint NOT NULL CHECK (debits_pending >= 0),
    debits_posted   bigint NOT NULL CHECK (debits_posted >= 0),
    credits_pending bigint NOT NULL CHECK (credits_pending >= 0),
    credits_posted  bigint NOT NULL CHECK (credits_posted >= 0),
    timestamp       bigint NOT NULL,
    -- A user account never goes below zero, whatever code writes to it.
    CHECK (kind = 2 OR debits_posted::numeric + debits_pending <= credits_posted)
);

CREATE TABLE transfers (
    id                bytea PRIMARY KEY CHECK (length(id) = 16),
    timestamp         bigint NOT NULL UNIQUE,
    debit_account_id  bytea NOT NULL,
    credit_account_id bytea NOT NULL,
    amount            bigint NOT NULL CHECK (amount >= 0),
    currency          text NOT NULL,
    kind              smallint NOT NULL CHECK (kind BETWEEN 0 AND 3),
    pending_id        bytea,
    expires_at        bigint,
    code              integer NOT NULL,
    reference         bytea NOT NULL,
    linked            boolean NOT NULL
);
CREATE INDEX transfers_by_debit ON transfers (debit_account_id, timestamp);
CREATE INDEX transfers_by_credit ON transfers (credit_account_id, timestamp);

-- The one mutable part of a pending transfer: whether it is still pending.
CREATE TABLE pending_transfers (
    id          bytea PRIMARY KEY,
    state       smallint NOT NULL CHECK (state BETWEEN 0 AND 3),
    expires_at  bigint,
    resolved_by bytea UNIQUE,
    resolved_at bigint
);
CREATE INDEX pending_due ON pending_transfers (expires_at) WHERE state = 0 AND expires_at IS NOT NULL;

-- The last timestamp handed out. Locked last in every write transaction, so timestamps
-- increase in commit order across every node writing to this database.
CREATE TABLE ledger_clock (
    singleton integer PRIMARY KEY CHECK (singleton = 1),
    last      bigint NOT NULL
);
INSERT INTO ledger_clock (singleton, last) VALUES (1, 0);
