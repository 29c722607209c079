//! `chit admin audit`: the operator's check of a node's whole store (see
//! [`chit_node::audit`]), printed as a report; exit 1 on any violation.

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::out::Out;

pub fn audit(data_dir: &std::path::Path, database: Option<&str>, out: Out) -> Result<()> {
    if !data_dir.join("node.key").exists() {
        bail!(
            "no node in {}: it has no node.key (give the node's --data-dir)",
            data_dir.display()
        );
    }
    let key = chit_node::storage::load_or_create_node_key(data_dir).context("node key")?;
    let at = match database {
        Some(url) => chit_node::StorageAt::Postgres(url),
        None => chit_node::StorageAt::Directory(data_dir),
    };
    let (db, ledger) = chit_node::open_storage(at, std::sync::Arc::new(chit_ledger::SystemClock))
        .context("open storage (node database and ledger)")?;
    let r = chit_node::audit::audit(&db, &ledger, &key.public()).context("audit")?;
    let ledger_violations: Vec<String> =
        r.ledger.violations.iter().map(|v| v.to_string()).collect();
    let violations: Vec<&String> = ledger_violations.iter().chain(&r.violations).collect();
    out.print(
        &json!({
            "clean": r.is_clean(),
            "users": r.users,
            "messages": r.messages,
            "signatures_checked": r.signatures,
            "receipts_checked": r.receipts,
            "api_keys": r.api_keys,
            "payments": r.payments,
            "devices": r.devices,
            "device_entries": r.device_entries,
            "vouchers": r.vouchers,
            "accounts": r.ledger.accounts,
            "transfers": r.ledger.transfers,
            "violations": violations,
            "repairs_pending": r.repairs_pending,
        }),
        || {
            let mut text = format!(
                "audited {}: {} users, {} messages, {} signatures and {} receipts checked, \
                 {} API keys, {} payments against the ledger, {} offline devices ({} chain entries, \
                 {} vouchers) re-verified, {} accounts recomputed from {} transfers",
                database.map_or_else(|| data_dir.display().to_string(), str::to_owned),
                r.users,
                r.messages,
                r.signatures,
                r.receipts,
                r.api_keys,
                r.payments,
                r.devices,
                r.device_entries,
                r.vouchers,
                r.ledger.accounts,
                r.ledger.transfers,
            );
            for v in &violations {
                text.push_str(&format!("\nviolation: {v}"));
            }
            for p in &r.repairs_pending {
                text.push_str(&format!("\nrepair pending (the node's workers finish it): {p}"));
            }
            text.push_str(if r.is_clean() { "\nclean" } else { "" });
            text
        },
    );
    if !r.is_clean() {
        bail!("the audit found {} violations", violations.len());
    }
    Ok(())
}
