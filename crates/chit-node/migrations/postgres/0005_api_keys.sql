-- API keys, version 5 (PostgreSQL). Same as sqlite/0005_api_keys.sql but for types.

-- Keys a user granted (`chit token create`): the public key derived from the token, never the
-- token. A key acts only within its scope, before it expires and unless revoked.
CREATE TABLE api_keys (
    key              bytea PRIMARY KEY,
    handle           text NOT NULL,
    scope            text NOT NULL,
    label            text NOT NULL,
    created_at_ms    bigint NOT NULL,
    expires_at_ms    bigint NOT NULL,
    revoked_at_ms    bigint,
    grant_command    text NOT NULL,
    grant_signature  bytea NOT NULL
);
CREATE INDEX api_keys_by_handle ON api_keys (handle);

-- The API key that signed a message's command, when not the sender's identity key.
ALTER TABLE messages ADD COLUMN signer bytea;
