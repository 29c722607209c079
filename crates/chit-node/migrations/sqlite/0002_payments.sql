-- Payments as messages, version 2 (SQLite). Same as postgres/0002_payments.sql but for types.

ALTER TABLE messages ADD COLUMN receipt TEXT;

-- One row per offer or request: its visible money part and where it stands. The id is the
-- message id and the ledger's pending transfer id.
CREATE TABLE payments (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    payer           TEXT NOT NULL,
    payee           TEXT NOT NULL,
    amount          TEXT NOT NULL,
    state           TEXT NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    body_digest     TEXT NOT NULL,
    created_at_ms   INTEGER NOT NULL
);
CREATE INDEX payments_due ON payments (expires_at_ms) WHERE state = 'pending';
