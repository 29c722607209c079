-- Node state, version 1 (PostgreSQL). Same tables as sqlite/0001_node.sql; only types differ.

CREATE TABLE users (
    handle                 text PRIMARY KEY NOT NULL,
    identity_key           bytea NOT NULL UNIQUE,
    encryption_key         bytea NOT NULL,
    registration_signature bytea NOT NULL,
    certificate            text NOT NULL,
    auto_accept            text NOT NULL DEFAULT 'off',
    created_at_ms          bigint NOT NULL
);

-- One-time login challenges; a challenge is deleted when used.
CREATE TABLE challenges (
    nonce         bytea PRIMARY KEY NOT NULL,
    handle        text NOT NULL,
    expires_at_ms bigint NOT NULL
);

-- Session tokens are stored hashed: a database leak does not log anyone in.
CREATE TABLE sessions (
    token_hash    bytea PRIMARY KEY NOT NULL,
    handle        text NOT NULL,
    expires_at_ms bigint NOT NULL
);

CREATE TABLE conversations (
    id            text PRIMARY KEY NOT NULL,
    kind          text NOT NULL,
    next_seq      bigint NOT NULL,
    created_at_ms bigint NOT NULL
);

CREATE TABLE members (
    conversation_id text NOT NULL,
    handle          text NOT NULL,
    PRIMARY KEY (conversation_id, handle)
);
CREATE INDEX members_by_handle ON members (handle);

-- Envelopes: the node keeps the sealed body (ciphertext only) and the sender's signature.
CREATE TABLE messages (
    id              text PRIMARY KEY NOT NULL,
    conversation_id text NOT NULL,
    seq             bigint NOT NULL,
    sender          text NOT NULL,
    kind            text NOT NULL,
    time_ms         bigint NOT NULL,
    payment         text,
    body            text NOT NULL,
    command         text,
    signature       bytea,
    UNIQUE (conversation_id, seq)
);

-- Each user's mailbox: every message for them, in delivery order; wallets sync from a cursor.
CREATE TABLE inbox (
    handle     text NOT NULL,
    seq        bigint NOT NULL,
    message_id text NOT NULL,
    PRIMARY KEY (handle, seq)
);
CREATE TABLE inbox_heads (
    handle   text PRIMARY KEY NOT NULL,
    next_seq bigint NOT NULL
);
