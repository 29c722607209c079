-- Node state, version 1 (SQLite). Same tables as postgres/0001_node.sql; only types differ.

CREATE TABLE users (
    handle                 TEXT PRIMARY KEY NOT NULL,
    identity_key           BLOB NOT NULL UNIQUE,
    encryption_key         BLOB NOT NULL,
    registration_signature BLOB NOT NULL,
    certificate            TEXT NOT NULL,
    auto_accept            TEXT NOT NULL DEFAULT 'off',
    created_at_ms          INTEGER NOT NULL
);

-- One-time login challenges; a challenge is deleted when used.
CREATE TABLE challenges (
    nonce         BLOB PRIMARY KEY NOT NULL,
    handle        TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

-- Session tokens are stored hashed: a database leak does not log anyone in.
CREATE TABLE sessions (
    token_hash    BLOB PRIMARY KEY NOT NULL,
    handle        TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);

CREATE TABLE conversations (
    id            TEXT PRIMARY KEY NOT NULL,
    kind          TEXT NOT NULL,
    next_seq      INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE members (
    conversation_id TEXT NOT NULL,
    handle          TEXT NOT NULL,
    PRIMARY KEY (conversation_id, handle)
);
CREATE INDEX members_by_handle ON members (handle);

-- Envelopes: the node keeps the sealed body (ciphertext only) and the sender's signature.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    sender          TEXT NOT NULL,
    kind            TEXT NOT NULL,
    time_ms         INTEGER NOT NULL,
    payment         TEXT,
    body            TEXT NOT NULL,
    command         TEXT,
    signature       BLOB,
    UNIQUE (conversation_id, seq)
);

-- Each user's mailbox: every message for them, in delivery order; wallets sync from a cursor.
CREATE TABLE inbox (
    handle     TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (handle, seq)
);
CREATE TABLE inbox_heads (
    handle   TEXT PRIMARY KEY NOT NULL,
    next_seq INTEGER NOT NULL
);
