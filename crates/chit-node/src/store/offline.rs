//! Offline devices, their chains, deposits and withdrawals, redemptions, evidence and the
//! revocation list (see [`crate::offline`]).

use chit_ledger::StoreError;
use chit_offline::api::DeviceStatus;
use chit_offline::entry::{SignedEntry, Voucher};
use chit_offline::statements::DeviceCertificate;
use chit_proto::{Handle, IdentityKey, PaymentId};

use super::{corrupt, from_json, json, key32, ms};
use crate::db::{Conn, Row, Value};

/// A registered device and the node's counters for it.
#[derive(Clone, Debug)]
pub struct DeviceRow {
    pub certificate: DeviceCertificate,
    pub label: String,
    pub status: DeviceStatus,
    pub reason: Option<String>,
    pub movements: u64,
    pub held: u64,
}

impl DeviceRow {
    pub fn key(&self) -> IdentityKey {
        self.certificate.device_key
    }

    pub fn owner(&self) -> &Handle {
        &self.certificate.owner
    }
}

fn key_value(key: &IdentityKey) -> Value {
    Value::Blob(key.as_bytes().to_vec())
}

fn amount(v: u64) -> Value {
    Value::Int(i64::try_from(v).expect("offline amounts are bounded by the limits"))
}

fn unsigned(r: &Row, i: usize) -> Result<u64, StoreError> {
    u64::try_from(r.int(i)?).map_err(|_| corrupt("negative offline amount"))
}

const DEVICE_COLUMNS: &str = "certificate, label, status, reason, movements, held";

fn device_row(r: &Row) -> Result<DeviceRow, StoreError> {
    let status = r.text(2)?;
    Ok(DeviceRow {
        certificate: from_json(&r.text(0)?, "device certificate")?,
        label: r.text(1)?,
        status: status
            .parse()
            .map_err(|_| corrupt(&format!("device status {status:?}")))?,
        reason: r.opt_text(3)?,
        movements: unsigned(r, 4)?,
        held: unsigned(r, 5)?,
    })
}

pub fn insert_device(
    c: &mut dyn Conn,
    certificate: &DeviceCertificate,
    label: &str,
    registration_signature: &chit_proto::Signature,
    now_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO offline_devices (device_key, owner, label, currency, certificate, \
         registration_signature, status, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
        &[
            key_value(&certificate.device_key),
            certificate.owner.as_str().into(),
            label.into(),
            certificate.currency.as_str().into(),
            json(certificate).into(),
            Value::Blob(registration_signature.0.to_vec()),
            ms(now_ms),
        ],
    )?;
    Ok(())
}

pub fn device(c: &mut dyn Conn, key: &IdentityKey) -> Result<Option<DeviceRow>, StoreError> {
    c.query_opt(
        &format!("SELECT {DEVICE_COLUMNS} FROM offline_devices WHERE device_key = $1"),
        &[key_value(key)],
    )?
    .map(|r| device_row(&r))
    .transpose()
}

pub fn devices_of(c: &mut dyn Conn, owner: &Handle) -> Result<Vec<DeviceRow>, StoreError> {
    c.query(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM offline_devices WHERE owner = $1 ORDER BY created_at_ms, device_key"
        ),
        &[owner.as_str().into()],
    )?
    .iter()
    .map(device_row)
    .collect()
}

/// Every device, a page at a time after `after` (for the audit).
pub fn devices_page(
    c: &mut dyn Conn,
    after: &[u8],
    limit: usize,
) -> Result<Vec<DeviceRow>, StoreError> {
    c.query(
        &format!(
            "SELECT {DEVICE_COLUMNS} FROM offline_devices WHERE device_key > $1 ORDER BY device_key LIMIT $2"
        ),
        &[Value::Blob(after.to_vec()), Value::Int(limit as i64)],
    )?
    .iter()
    .map(device_row)
    .collect()
}

pub fn set_device_counters(
    c: &mut dyn Conn,
    key: &IdentityKey,
    movements: u64,
    held: u64,
) -> Result<(), StoreError> {
    c.execute(
        "UPDATE offline_devices SET movements = $1, held = $2 WHERE device_key = $3",
        &[amount(movements), amount(held), key_value(key)],
    )?;
    Ok(())
}

/// Retires an active device, or revokes any not revoked yet (a revoked one keeps its first
/// reason).
pub fn set_device_status(
    c: &mut dyn Conn,
    key: &IdentityKey,
    status: DeviceStatus,
    reason: &str,
    now_ms: u64,
) -> Result<bool, StoreError> {
    // Only an active device is retired; any but a revoked one is revoked.
    let from = match status {
        DeviceStatus::Revoked => "status <> 'revoked'",
        _ => "status = 'active'",
    };
    let changed = c.execute(
        &format!(
            "UPDATE offline_devices SET status = $1, reason = $2, status_at_ms = $3 \
             WHERE device_key = $4 AND {from}"
        ),
        &[
            status.as_str().into(),
            reason.into(),
            ms(now_ms),
            key_value(key),
        ],
    )?;
    Ok(changed > 0)
}

/// The device's chain as stored, in order.
pub fn entries(c: &mut dyn Conn, key: &IdentityKey) -> Result<Vec<SignedEntry>, StoreError> {
    c.query(
        "SELECT entry FROM offline_entries WHERE device_key = $1 ORDER BY seq",
        &[key_value(key)],
    )?
    .iter()
    .map(|r| from_json(&r.text(0)?, "offline entry"))
    .collect()
}

pub fn insert_entry(c: &mut dyn Conn, e: &SignedEntry) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO offline_entries (device_key, seq, entry) VALUES ($1, $2, $3)",
        &[
            key_value(&e.entry.device_key),
            amount(e.entry.seq),
            json(e).into(),
        ],
    )?;
    Ok(())
}

/// A deposit confirmed or a withdrawal credited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovementRow {
    pub device: IdentityKey,
    pub i: u64,
    pub deposit: bool,
    pub amount: u64,
    /// What moved online: a deposit's amount; a withdrawal's, at most what was held.
    pub paid: u64,
    pub command_id: Option<String>,
    pub transfer_id: String,
    pub booked: bool,
}

const MOVEMENT_COLUMNS: &str = "device_key, i, kind, amount, paid, command_id, transfer_id, booked";

fn movement_row(r: &Row) -> Result<MovementRow, StoreError> {
    Ok(MovementRow {
        device: IdentityKey::from_bytes(key32(r.blob(0)?)?).map_err(|_| corrupt("device key"))?,
        i: unsigned(r, 1)?,
        deposit: r.text(2)? == "deposit",
        amount: unsigned(r, 3)?,
        paid: unsigned(r, 4)?,
        command_id: r.opt_text(5)?,
        transfer_id: r.text(6)?,
        booked: r.int(7)? != 0,
    })
}

pub fn insert_movement(c: &mut dyn Conn, m: &MovementRow, now_ms: u64) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO offline_movements (device_key, i, kind, amount, paid, command_id, transfer_id, booked, time_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            key_value(&m.device),
            amount(m.i),
            match (m.deposit, m.i) {
                (true, _) => "deposit",
                (false, 0) => "release",
                _ => "withdraw",
            }
            .into(),
            amount(m.amount),
            amount(m.paid),
            m.command_id.clone().into(),
            m.transfer_id.as_str().into(),
            Value::Int(i64::from(m.booked)),
            ms(now_ms),
        ],
    )?;
    Ok(())
}

pub fn movements(c: &mut dyn Conn, key: &IdentityKey) -> Result<Vec<MovementRow>, StoreError> {
    c.query(
        &format!(
            "SELECT {MOVEMENT_COLUMNS} FROM offline_movements WHERE device_key = $1 ORDER BY i"
        ),
        &[key_value(key)],
    )?
    .iter()
    .map(movement_row)
    .collect()
}

pub fn movement_by_command(
    c: &mut dyn Conn,
    command_id: &str,
) -> Result<Option<MovementRow>, StoreError> {
    c.query_opt(
        &format!("SELECT {MOVEMENT_COLUMNS} FROM offline_movements WHERE command_id = $1"),
        &[command_id.into()],
    )?
    .map(|r| movement_row(&r))
    .transpose()
}

pub fn unbooked_movements(c: &mut dyn Conn, limit: usize) -> Result<Vec<MovementRow>, StoreError> {
    c.query(
        &format!("SELECT {MOVEMENT_COLUMNS} FROM offline_movements WHERE booked = 0 LIMIT $1"),
        &[Value::Int(limit as i64)],
    )?
    .iter()
    .map(movement_row)
    .collect()
}

pub fn mark_movement_booked(c: &mut dyn Conn, key: &IdentityKey, i: u64) -> Result<(), StoreError> {
    c.execute(
        "UPDATE offline_movements SET booked = 1 WHERE device_key = $1 AND i = $2",
        &[key_value(key), amount(i)],
    )?;
    Ok(())
}

/// A voucher claimed or collected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedemptionRow {
    pub hash: [u8; 32],
    pub device: IdentityKey,
    pub claimed: bool,
    /// The claimant, or the collecting device's owner.
    pub claimant: Handle,
    pub collector: Option<IdentityKey>,
    pub amount: u64,
    pub from_device: u64,
    pub from_losses: u64,
    pub refused: u64,
    pub payment: Option<PaymentId>,
    pub booked: bool,
    pub voucher: Voucher,
}

const REDEMPTION_COLUMNS: &str = "voucher_hash, device_key, kind, claimant, collector, amount, \
     from_device, from_losses, refused, payment_id, booked, voucher";

fn redemption_row(r: &Row) -> Result<RedemptionRow, StoreError> {
    let device_key =
        |b: Vec<u8>| IdentityKey::from_bytes(key32(b)?).map_err(|_| corrupt("device key"));
    let claimant = r.text(3)?;
    Ok(RedemptionRow {
        hash: key32(r.blob(0)?)?,
        device: device_key(r.blob(1)?)?,
        claimed: r.text(2)? == "claimed",
        claimant: Handle::new(&claimant).map_err(|_| corrupt("claimant"))?,
        collector: match &r.0[4] {
            Value::Null => None,
            _ => Some(device_key(r.blob(4)?)?),
        },
        amount: unsigned(r, 5)?,
        from_device: unsigned(r, 6)?,
        from_losses: unsigned(r, 7)?,
        refused: unsigned(r, 8)?,
        payment: r
            .opt_text(9)?
            .map(|t| t.parse().map_err(|_| corrupt("payment id")))
            .transpose()?,
        booked: r.int(10)? != 0,
        voucher: from_json(&r.text(11)?, "voucher")?,
    })
}

pub fn insert_redemption(
    c: &mut dyn Conn,
    r: &RedemptionRow,
    now_ms: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO offline_redemptions (voucher_hash, device_key, kind, claimant, collector, amount, \
         from_device, from_losses, refused, payment_id, booked, time_ms, voucher) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            Value::Blob(r.hash.to_vec()),
            key_value(&r.device),
            if r.claimed { "claimed" } else { "collected" }.into(),
            r.claimant.as_str().into(),
            r.collector.as_ref().map_or(Value::Null, key_value),
            amount(r.amount),
            amount(r.from_device),
            amount(r.from_losses),
            amount(r.refused),
            r.payment.map(|p| p.as_str().to_owned()).into(),
            Value::Int(i64::from(r.booked)),
            ms(now_ms),
            json(&r.voucher).into(),
        ],
    )?;
    Ok(())
}

pub fn redemption(c: &mut dyn Conn, hash: &[u8; 32]) -> Result<Option<RedemptionRow>, StoreError> {
    c.query_opt(
        &format!("SELECT {REDEMPTION_COLUMNS} FROM offline_redemptions WHERE voucher_hash = $1"),
        &[Value::Blob(hash.to_vec())],
    )?
    .map(|r| redemption_row(&r))
    .transpose()
}

/// Redemptions after `after` (by hash), a page at a time (for the audit).
pub fn redemptions_page(
    c: &mut dyn Conn,
    after: &[u8],
    limit: usize,
) -> Result<Vec<RedemptionRow>, StoreError> {
    c.query(
        &format!(
            "SELECT {REDEMPTION_COLUMNS} FROM offline_redemptions WHERE voucher_hash > $1 \
             ORDER BY voucher_hash LIMIT $2"
        ),
        &[Value::Blob(after.to_vec()), Value::Int(limit as i64)],
    )?
    .iter()
    .map(redemption_row)
    .collect()
}

pub fn unbooked_redemptions(
    c: &mut dyn Conn,
    limit: usize,
) -> Result<Vec<RedemptionRow>, StoreError> {
    c.query(
        &format!("SELECT {REDEMPTION_COLUMNS} FROM offline_redemptions WHERE booked = 0 LIMIT $1"),
        &[Value::Int(limit as i64)],
    )?
    .iter()
    .map(redemption_row)
    .collect()
}

pub fn mark_redemptions_booked(c: &mut dyn Conn, hashes: &[[u8; 32]]) -> Result<(), StoreError> {
    for h in hashes {
        c.execute(
            "UPDATE offline_redemptions SET booked = 1 WHERE voucher_hash = $1",
            &[Value::Blob(h.to_vec())],
        )?;
    }
    Ok(())
}

/// Stores evidence once; false if this very evidence was stored before.
#[allow(clippy::too_many_arguments)]
pub fn insert_evidence(
    c: &mut dyn Conn,
    key: &IdentityKey,
    evidence: &str,
    kind: &str,
    description: &str,
    first: &SignedEntry,
    second: Option<&SignedEntry>,
    now_ms: u64,
) -> Result<bool, StoreError> {
    let known = c.query_opt(
        "SELECT 1 FROM offline_evidence WHERE device_key = $1 AND evidence = $2",
        &[key_value(key), evidence.into()],
    )?;
    if known.is_some() {
        return Ok(false);
    }
    c.execute(
        "INSERT INTO offline_evidence (device_key, evidence, kind, description, first, second, time_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            key_value(key),
            evidence.into(),
            kind.into(),
            description.into(),
            json(first).into(),
            second.map(json).into(),
            ms(now_ms),
        ],
    )?;
    Ok(true)
}

/// What the node kept of a device's fraud: both conflicting entries, as they came.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// `fork`, `reused_index` or `inflated`.
    pub kind: String,
    pub description: String,
    pub first: SignedEntry,
    pub second: Option<SignedEntry>,
}

/// The evidence stored against a device, oldest first.
pub fn evidence(c: &mut dyn Conn, key: &IdentityKey) -> Result<Vec<Evidence>, StoreError> {
    c.query(
        "SELECT kind, description, first, second FROM offline_evidence WHERE device_key = $1 ORDER BY time_ms",
        &[key_value(key)],
    )?
    .iter()
    .map(|r| {
        Ok(Evidence {
            kind: r.text(0)?,
            description: r.text(1)?,
            first: from_json(&r.text(2)?, "evidence")?,
            second: r
                .opt_text(3)?
                .map(|t| from_json(&t, "evidence"))
                .transpose()?,
        })
    })
    .collect()
}

/// Puts a device on the revocation list (once): the list's new version.
pub fn add_revocation(c: &mut dyn Conn, key: &IdentityKey, now_ms: u64) -> Result<(), StoreError> {
    if c.query_opt(
        "SELECT 1 FROM offline_revocations WHERE device_key = $1",
        &[key_value(key)],
    )?
    .is_some()
    {
        return Ok(());
    }
    c.execute(
        "INSERT INTO offline_revocations (version, device_key, time_ms) \
         SELECT COALESCE(MAX(version), 0) + 1, $1, $2 FROM offline_revocations",
        &[key_value(key), ms(now_ms)],
    )?;
    Ok(())
}

/// The list as it stands: its version and the revoked devices.
pub fn revocations(c: &mut dyn Conn) -> Result<(u64, Vec<IdentityKey>), StoreError> {
    let rows = c.query(
        "SELECT version, device_key FROM offline_revocations ORDER BY version",
        &[],
    )?;
    let version = rows
        .last()
        .map(|r| unsigned(r, 0))
        .transpose()?
        .unwrap_or(0);
    let keys = rows
        .iter()
        .map(|r| IdentityKey::from_bytes(key32(r.blob(1)?)?).map_err(|_| corrupt("device key")))
        .collect::<Result<_, _>>()?;
    Ok((version, keys))
}

/// Hashes of `device`'s vouchers that were redeemed.
pub fn redeemed_of(
    c: &mut dyn Conn,
    device: &IdentityKey,
) -> Result<std::collections::BTreeSet<[u8; 32]>, StoreError> {
    c.query(
        "SELECT voucher_hash FROM offline_redemptions WHERE device_key = $1",
        &[key_value(device)],
    )?
    .iter()
    .map(|r| key32(r.blob(0)?))
    .collect()
}

/// Retired devices that still hold money, retired at or before `cutoff_ms`.
pub fn retired_holding(
    c: &mut dyn Conn,
    cutoff_ms: u64,
    limit: usize,
) -> Result<Vec<IdentityKey>, StoreError> {
    c.query(
        "SELECT device_key FROM offline_devices WHERE status = 'retired' AND held > 0 \
         AND status_at_ms <= $1 LIMIT $2",
        &[ms(cutoff_ms), Value::Int(limit as i64)],
    )?
    .iter()
    .map(|r| IdentityKey::from_bytes(key32(r.blob(0)?)?).map_err(|_| corrupt("device key")))
    .collect()
}
