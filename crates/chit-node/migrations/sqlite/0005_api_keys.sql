-- API keys, version 5 (SQLite). Same as postgres/0005_api_keys.sql but for types.

-- Keys a user granted (`chit token create`): the public key derived from the token, never the
-- token. A key acts only within its scope, before it expires and unless revoked.
CREATE TABLE api_keys (
    key              BLOB PRIMARY KEY,
    handle           TEXT NOT NULL,
    scope            TEXT NOT NULL,
    label            TEXT NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    expires_at_ms    INTEGER NOT NULL,
    revoked_at_ms    INTEGER,
    grant_command    TEXT NOT NULL,
    grant_signature  BLOB NOT NULL
);
CREATE INDEX api_keys_by_handle ON api_keys (handle);

-- The API key that signed a message's command, when not the sender's identity key.
ALTER TABLE messages ADD COLUMN signer BLOB;
