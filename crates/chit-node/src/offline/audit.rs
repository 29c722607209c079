//! The offline part of `chit admin audit`: every device certificate against the node key;
//! every device's stored chain re-verified from its first entry (signatures, links, balances,
//! counters), and a device whose chain does not follow must be revoked; every redemption's
//! voucher checked again (PayVerify against its receiver) and its money adding up; and the
//! ledger's `offline` account equal to what the devices hold, give or take what is decided but
//! not booked yet (which the workers book).

use std::collections::BTreeMap;

use chit_ledger::{Ledger, StoreError};
use chit_offline::api::DeviceStatus;
use chit_offline::chain::DeviceChain;
use chit_offline::pay_verify::pay_verify;
use chit_proto::{b64, IdentityKey};

use super::offline_account_of;
use crate::db::Db;
use crate::store;

const PAGE: usize = 500;

#[derive(Debug, Default)]
pub struct OfflineAudit {
    pub devices: u64,
    pub entries: u64,
    pub redemptions: u64,
    pub violations: Vec<String>,
    pub repairs_pending: Vec<String>,
}

/// Audits the offline state stored in `db` against `ledger`.
pub fn audit_offline(
    db: &Db,
    ledger: &Ledger,
    node_key: &IdentityKey,
) -> Result<OfflineAudit, StoreError> {
    let mut report = OfflineAudit::default();
    // Per currency: what the `offline` account should hold, and what is not booked yet.
    let mut expected: BTreeMap<String, i128> = BTreeMap::new();
    let mut pending: BTreeMap<String, u64> = BTreeMap::new();
    let mut after = Vec::new();
    loop {
        let page = db.read(|c| store::devices_page(c, &after, PAGE))?;
        for row in &page {
            check_device(db, row, node_key, &mut report, &mut expected, &mut pending)?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.key().as_bytes().to_vec(),
            _ => break,
        }
    }
    let mut after = Vec::new();
    loop {
        let page = db.read(|c| store::redemptions_page(c, &after, PAGE))?;
        for r in &page {
            check_redemption(r, node_key, &mut report, &mut expected, &mut pending);
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.hash.to_vec(),
            _ => break,
        }
    }
    for (currency, want) in expected {
        let held = ledger
            .account(offline_account_of(&currency))
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .map_or(0, |a| a.balance());
        if held != want {
            let what = format!(
                "the {currency} offline account holds {held}, devices and unbooked transfers account for {want}"
            );
            if pending.get(&currency).copied().unwrap_or(0) > 0 {
                report.repairs_pending.push(what);
            } else {
                report.violations.push(what);
            }
        }
    }
    Ok(report)
}

fn check_device(
    db: &Db,
    row: &store::DeviceRow,
    node_key: &IdentityKey,
    report: &mut OfflineAudit,
    expected: &mut BTreeMap<String, i128>,
    pending: &mut BTreeMap<String, u64>,
) -> Result<(), StoreError> {
    report.devices += 1;
    let key = row.key();
    let name = b64::encode(key.as_bytes());
    if row.certificate.verify(node_key).is_err() {
        report
            .violations
            .push(format!("device {name}: its certificate is not the node's"));
    }
    let currency = row.certificate.currency.clone();
    *expected.entry(currency.clone()).or_default() += i128::from(row.held);
    let mut chain = DeviceChain::new(key, &currency);
    let movements = db.read(|c| store::movements(c, &key))?;
    for m in &movements {
        if m.deposit {
            chain.confirmed_deposit(m.i, m.amount);
        } else if !m.booked {
            *expected.entry(currency.clone()).or_default() += i128::from(m.paid);
            *pending.entry(currency.clone()).or_default() += 1;
        }
    }
    let mut broken = false;
    for e in db.read(|c| store::entries(c, &key))? {
        report.entries += 1;
        match chain.observe(&e) {
            Err(rejected) => report.violations.push(format!(
                "device {name}: stored entry {} is refused: {rejected}",
                e.entry.seq
            )),
            Ok(Err(_)) => broken = true,
            Ok(Ok(_)) => {}
        }
    }
    if broken && row.status != DeviceStatus::Revoked {
        report.violations.push(format!(
            "device {name}: its chain does not follow but it is not revoked"
        ));
    }
    Ok(())
}

fn check_redemption(
    r: &store::RedemptionRow,
    node_key: &IdentityKey,
    report: &mut OfflineAudit,
    expected: &mut BTreeMap<String, i128>,
    pending: &mut BTreeMap<String, u64>,
) {
    report.redemptions += 1;
    let name = b64::encode(&r.hash);
    if r.voucher.entry.hash() != r.hash {
        report.violations.push(format!(
            "redemption {name}: the stored voucher is another one"
        ));
    }
    match pay_verify(&r.voucher, node_key, &r.claimant, None) {
        Ok(amount) if amount == r.amount => {}
        Ok(_) => report.violations.push(format!(
            "redemption {name}: the amount is not the voucher's"
        )),
        Err(e) => report.violations.push(format!(
            "redemption {name}: the voucher does not verify: {e}"
        )),
    }
    if r.from_device + r.from_losses + r.refused != r.amount {
        report.violations.push(format!(
            "redemption {name}: its parts do not add up to its amount"
        ));
    }
    if !r.booked {
        let currency = r.voucher.entry.entry.currency.clone();
        let still_in_offline = if r.claimed {
            i128::from(r.from_device)
        } else {
            -i128::from(r.from_losses)
        };
        *expected.entry(currency.clone()).or_default() += still_in_offline;
        *pending.entry(currency).or_default() += 1;
    }
}
