-- Offline payments, version 10 (PostgreSQL). Same as sqlite/0011_offline.sql but for types.

-- Devices and what the node counts as still on each (`held`, minor units): deposits and
-- collected vouchers in, withdrawals and redeemed vouchers out. The money itself is in the
-- ledger's `offline` account, whose balance is the sum of `held` (checked by the audit).
CREATE TABLE offline_devices (
    device_key    bytea PRIMARY KEY,
    owner         text NOT NULL,
    label         text NOT NULL,
    currency      text NOT NULL,
    certificate   text NOT NULL,
    registration_signature bytea NOT NULL,
    -- The last deposit or withdrawal number (the device's i).
    movements     bigint NOT NULL DEFAULT 0,
    held          bigint NOT NULL DEFAULT 0,
    status        text NOT NULL,
    reason        text,
    status_at_ms  bigint,
    created_at_ms bigint NOT NULL
);
CREATE INDEX offline_devices_owner ON offline_devices (owner);

-- Every entry of every device's chain the node has seen, checked before it was stored.
CREATE TABLE offline_entries (
    device_key bytea NOT NULL,
    seq        bigint NOT NULL,
    entry      text NOT NULL,
    PRIMARY KEY (device_key, seq)
);

-- Deposits the node confirmed and withdrawals it credited (`paid`: at most what was held).
-- `booked` is 1 once the ledger transfer is committed.
CREATE TABLE offline_movements (
    device_key  bytea NOT NULL,
    i           bigint NOT NULL,
    kind        text NOT NULL,
    amount      bigint NOT NULL,
    paid        bigint NOT NULL,
    command_id  text UNIQUE,
    transfer_id text NOT NULL,
    booked      bigint NOT NULL,
    time_ms     bigint NOT NULL,
    PRIMARY KEY (device_key, i)
);
CREATE INDEX offline_movements_unbooked ON offline_movements (booked) WHERE booked = 0;

-- Each voucher redeemed once: claimed online or collected onto a device. Its money came
-- `from_device` (what the paying device held) and `from_losses` (the operator's policy).
CREATE TABLE offline_redemptions (
    voucher_hash bytea PRIMARY KEY,
    device_key   bytea NOT NULL,
    kind         text NOT NULL,
    claimant     text NOT NULL,
    collector    bytea,
    amount       bigint NOT NULL,
    from_device  bigint NOT NULL,
    from_losses  bigint NOT NULL,
    refused      bigint NOT NULL,
    payment_id   text,
    booked       bigint NOT NULL,
    time_ms      bigint NOT NULL,
    voucher      text NOT NULL
);
CREATE INDEX offline_redemptions_device ON offline_redemptions (device_key);
CREATE INDEX offline_redemptions_unbooked ON offline_redemptions (booked) WHERE booked = 0;

-- What a cheating device did: both conflicting entries, kept as they came.
CREATE TABLE offline_evidence (
    device_key  bytea NOT NULL,
    evidence    text NOT NULL,
    kind        text NOT NULL,
    description text NOT NULL,
    first       text NOT NULL,
    second      text,
    time_ms     bigint NOT NULL,
    PRIMARY KEY (device_key, evidence)
);

-- The revocation list: one version per device put on it.
CREATE TABLE offline_revocations (
    version    bigint PRIMARY KEY,
    device_key bytea NOT NULL UNIQUE,
    time_ms    bigint NOT NULL
);
