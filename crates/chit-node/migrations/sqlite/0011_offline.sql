-- Offline payments, version 11 (SQLite). Same as postgres/0010_offline.sql but for types.

-- Devices and what the node counts as still on each (`held`, minor units): deposits and
-- collected vouchers in, withdrawals and redeemed vouchers out. The money itself is in the
-- ledger's `offline` account, whose balance is the sum of `held` (checked by the audit).
CREATE TABLE offline_devices (
    device_key    BLOB PRIMARY KEY,
    owner         TEXT NOT NULL,
    label         TEXT NOT NULL,
    currency      TEXT NOT NULL,
    certificate   TEXT NOT NULL,
    registration_signature BLOB NOT NULL,
    -- The last deposit or withdrawal number (the device's i).
    movements     INTEGER NOT NULL DEFAULT 0,
    held          INTEGER NOT NULL DEFAULT 0,
    status        TEXT NOT NULL,
    reason        TEXT,
    status_at_ms  INTEGER,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX offline_devices_owner ON offline_devices (owner);

-- Every entry of every device's chain the node has seen, checked before it was stored.
CREATE TABLE offline_entries (
    device_key BLOB NOT NULL,
    seq        INTEGER NOT NULL,
    entry      TEXT NOT NULL,
    PRIMARY KEY (device_key, seq)
);

-- Deposits the node confirmed and withdrawals it credited (`paid`: at most what was held).
-- `booked` is 1 once the ledger transfer is committed.
CREATE TABLE offline_movements (
    device_key  BLOB NOT NULL,
    i           INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    paid        INTEGER NOT NULL,
    command_id  TEXT UNIQUE,
    transfer_id TEXT NOT NULL,
    booked      INTEGER NOT NULL,
    time_ms     INTEGER NOT NULL,
    PRIMARY KEY (device_key, i)
);
CREATE INDEX offline_movements_unbooked ON offline_movements (booked) WHERE booked = 0;

-- Each voucher redeemed once: claimed online or collected onto a device. Its money came
-- `from_device` (what the paying device held) and `from_losses` (the operator's policy).
CREATE TABLE offline_redemptions (
    voucher_hash BLOB PRIMARY KEY,
    device_key   BLOB NOT NULL,
    kind         TEXT NOT NULL,
    claimant     TEXT NOT NULL,
    collector    BLOB,
    amount       INTEGER NOT NULL,
    from_device  INTEGER NOT NULL,
    from_losses  INTEGER NOT NULL,
    refused      INTEGER NOT NULL,
    payment_id   TEXT,
    booked       INTEGER NOT NULL,
    time_ms      INTEGER NOT NULL,
    voucher      TEXT NOT NULL
);
CREATE INDEX offline_redemptions_device ON offline_redemptions (device_key);
CREATE INDEX offline_redemptions_unbooked ON offline_redemptions (booked) WHERE booked = 0;

-- What a cheating device did: both conflicting entries, kept as they came.
CREATE TABLE offline_evidence (
    device_key  BLOB NOT NULL,
    evidence    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    first       TEXT NOT NULL,
    second      TEXT,
    time_ms     INTEGER NOT NULL,
    PRIMARY KEY (device_key, evidence)
);

-- The revocation list: one version per device put on it.
CREATE TABLE offline_revocations (
    version    INTEGER PRIMARY KEY,
    device_key BLOB NOT NULL UNIQUE,
    time_ms    INTEGER NOT NULL
);
