-- Payments as messages, version 2 (PostgreSQL). Same as sqlite/0002_payments.sql but for types.

ALTER TABLE messages ADD COLUMN receipt text;

-- One row per offer or request: its visible money part and where it stands. The id is the
-- message id and the ledger's pending transfer id.
CREATE TABLE payments (
    id              text PRIMARY KEY NOT NULL,
    kind            text NOT NULL,
    conversation_id text NOT NULL,
    payer           text NOT NULL,
    payee           text NOT NULL,
    amount          text NOT NULL,
    state           text NOT NULL,
    expires_at_ms   bigint NOT NULL,
    body_digest     text NOT NULL,
    created_at_ms   bigint NOT NULL
);
CREATE INDEX payments_due ON payments (expires_at_ms) WHERE state = 'pending';
