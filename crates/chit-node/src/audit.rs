//! The operator's check of a whole node (`chit admin audit`): every stored signature
//! (certificates, commands, API-key grants, receipts), the ledger's own audit (every balance
//! recomputed from the transfer history, every invariant of DESIGN §3), and the node's payment
//! states against the ledger. Read-only; each finding names what it is about.
//!
//! Two kinds of finding. A *violation* is something that must never be (a payment the node
//! calls accepted whose money never moved). A *repair pending* is the window a crash can leave
//! between a ledger commit and the node's record of it, which the node's workers close on
//! their next run (an accept the ledger posted but the node has not yet recorded).

use chit_ledger::{Ledger, PendingState, StoreError};
use chit_proto::api::Envelope;
use chit_proto::{Handle, IdentityKey, MessageId, PaymentId};

use crate::db::{Db, Value};
use crate::store;

/// Rows read per query.
const PAGE: usize = 500;

#[derive(Debug, Default)]
pub struct NodeAudit {
    pub users: u64,
    pub messages: u64,
    pub signatures: u64,
    pub receipts: u64,
    pub api_keys: u64,
    pub payments: u64,
    /// Offline devices, their stored chain entries and redeemed vouchers checked.
    pub devices: u64,
    pub device_entries: u64,
    pub vouchers: u64,
    pub ledger: chit_ledger::AuditReport,
    pub violations: Vec<String>,
    pub repairs_pending: Vec<String>,
}

impl NodeAudit {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty() && self.ledger.is_clean()
    }
}

/// Audits the node stored in `db` and `ledger`, whose key is `node_key`.
pub fn audit(db: &Db, ledger: &Ledger, node_key: &IdentityKey) -> Result<NodeAudit, StoreError> {
    let mut report = NodeAudit {
        ledger: ledger.audit().map_err(ledger_failure)?,
        ..NodeAudit::default()
    };
    check_users(db, node_key, &mut report)?;
    let mut keys = Keys::default();
    check_api_keys(db, &mut keys, &mut report)?;
    check_messages(db, node_key, &mut keys, &mut report)?;
    check_payments(db, ledger, &mut report)?;
    let offline = crate::offline::audit::audit_offline(db, ledger, node_key)?;
    report.devices = offline.devices;
    report.device_entries = offline.entries;
    report.vouchers = offline.redemptions;
    report.violations.extend(offline.violations);
    report.repairs_pending.extend(offline.repairs_pending);
    Ok(report)
}

fn ledger_failure(e: chit_ledger::LedgerError) -> StoreError {
    match e {
        chit_ledger::LedgerError::Store(s) => s,
        other => StoreError::Backend(other.to_string()),
    }
}

/// Calls `f` with every value of `column` of `table`, in order, reading a page at a time (a
/// node's tables need not fit in memory).
fn for_each_key(
    db: &Db,
    table: &str,
    column: &str,
    mut f: impl FnMut(Value) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut after: Option<Value> = None;
    loop {
        let rows = db.read(|c| match &after {
            None => c.query(
                &format!("SELECT {column} FROM {table} ORDER BY {column} LIMIT $1"),
                &[Value::Int(PAGE as i64)],
            ),
            Some(last) => c.query(
                &format!(
                    "SELECT {column} FROM {table} WHERE {column} > $1 ORDER BY {column} LIMIT $2"
                ),
                &[last.clone(), Value::Int(PAGE as i64)],
            ),
        })?;
        let done = rows.len() < PAGE;
        after = rows.last().map(|r| r.0[0].clone());
        for row in rows {
            f(row.0.into_iter().next().expect("one column"))?;
        }
        if done {
            return Ok(());
        }
    }
}

/// Identity keys by handle, read once each: every message names its actor.
#[derive(Default)]
struct Keys(std::collections::HashMap<Handle, Option<IdentityKey>>);

impl Keys {
    fn of(&mut self, db: &Db, handle: &Handle) -> Result<Option<IdentityKey>, StoreError> {
        if let Some(key) = self.0.get(handle) {
            return Ok(*key);
        }
        let key = db.read(|c| store::user(c, handle))?.map(|u| u.identity_key);
        self.0.insert(handle.clone(), key);
        Ok(key)
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        other => format!("{other:?}"),
    }
}

fn check_users(db: &Db, node_key: &IdentityKey, r: &mut NodeAudit) -> Result<(), StoreError> {
    for_each_key(db, "users", "handle", |handle| {
        let Ok(handle) = Handle::new(&text(&handle)) else {
            r.violations
                .push(format!("user {}: not a handle", text(&handle)));
            return Ok(());
        };
        r.users += 1;
        let Some(user) = db.read(|c| store::user(c, &handle))? else {
            return Ok(());
        };
        let cert = &user.certificate;
        if cert.verify(node_key).is_err() {
            r.violations.push(format!(
                "user {handle}: certificate not signed by this node"
            ));
        }
        if cert.handle != handle
            || cert.identity_key != user.identity_key
            || cert.encryption_key != user.encryption_key
        {
            r.violations.push(format!(
                "user {handle}: certificate names other keys than the account"
            ));
        }
        Ok(())
    })
}

fn check_api_keys(db: &Db, keys: &mut Keys, r: &mut NodeAudit) -> Result<(), StoreError> {
    for_each_key(db, "api_keys", "key", |key| {
        r.api_keys += 1;
        let row = db.read(|c| {
            c.query_opt(
                "SELECT handle, grant_command, grant_signature FROM api_keys WHERE key = $1",
                std::slice::from_ref(&key),
            )
        })?;
        let Some(row) = row else {
            return Ok(());
        };
        let handle = row.text(0)?;
        let granted = serde_json::from_str::<chit_proto::Command>(&row.text(1)?)
            .ok()
            .zip(
                <[u8; 64]>::try_from(row.blob(2)?)
                    .ok()
                    .map(chit_proto::Signature),
            );
        let verified = match (granted, Handle::new(&handle)) {
            (Some((command, signature)), Ok(h)) => {
                r.signatures += 1;
                keys.of(db, &h)?.is_some_and(|k| {
                    command.actor == h && k.verify(&command.signing_bytes(), &signature).is_ok()
                })
            }
            _ => false,
        };
        if !verified {
            r.violations.push(format!(
                "API key of @{handle}: its grant is not signed by @{handle}"
            ));
        }
        Ok(())
    })
}

fn check_messages(
    db: &Db,
    node_key: &IdentityKey,
    keys: &mut Keys,
    r: &mut NodeAudit,
) -> Result<(), StoreError> {
    for_each_key(db, "messages", "id", |id| {
        let Ok(id) = text(&id).parse::<MessageId>() else {
            r.violations
                .push(format!("message {}: not an id", text(&id)));
            return Ok(());
        };
        let Some(message) = db.read(|c| store::message(c, &id))? else {
            return Ok(());
        };
        r.messages += 1;
        if let Some(finding) = check_command(db, keys, &message, r)? {
            r.violations.push(format!("message {id}: {finding}"));
        }
        if let Some(receipt) = &message.receipt {
            r.receipts += 1;
            if receipt.verify(node_key).is_err() {
                r.violations.push(format!(
                    "message {id}: its receipt is not signed by this node"
                ));
            }
        }
        Ok(())
    })
}

/// Whether a message's command is signed by its actor (or by a key the actor granted).
fn check_command(
    db: &Db,
    keys: &mut Keys,
    message: &Envelope,
    r: &mut NodeAudit,
) -> Result<Option<&'static str>, StoreError> {
    let (Some(command), Some(signature)) = (&message.command, &message.signature) else {
        return Ok(None); // the node's own update (an expiry, a failed schedule)
    };
    r.signatures += 1;
    let key = match &message.signer {
        Some(key) => {
            let granted = db.read(|c| store::api_key(c, key))?;
            if granted.is_none_or(|k| k.handle != command.actor) {
                return Ok(Some("signed by an API key its actor never granted"));
            }
            *key
        }
        None => match keys.of(db, &command.actor)? {
            Some(key) => key,
            None => return Ok(Some("its actor has no account")),
        },
    };
    Ok(key
        .verify(&command.signing_bytes(), signature)
        .is_err()
        .then_some("its command's signature does not verify"))
}

fn check_payments(db: &Db, ledger: &Ledger, r: &mut NodeAudit) -> Result<(), StoreError> {
    for_each_key(db, "payments", "id", |id| {
        let Ok(id) = text(&id).parse::<PaymentId>() else {
            r.violations
                .push(format!("payment {}: not an id", text(&id)));
            return Ok(());
        };
        let Some(payment) = db.read(|c| store::payment(c, &id))? else {
            return Ok(());
        };
        r.payments += 1;
        let part = &payment.part;
        let hold = id.transfer();
        let exists = |t| -> Result<bool, StoreError> {
            Ok(ledger.transfer(t).map_err(ledger_failure)?.is_some())
        };
        // The money the ledger moved (an offer's hold, a request's pay) is the amount the
        // payment names, to the minor unit and the currency.
        let moved = if part.kind == "offer" {
            hold
        } else {
            id.step("pay")
        };
        let moved = ledger.transfer(moved).map_err(ledger_failure)?;
        if let (Some(amount), Some(t)) = (payment.amount, &moved) {
            if (t.amount, t.currency) != (amount.minor(), amount.currency().code()) {
                r.violations.push(format!(
                    "payment {id}: the node says {amount}, the ledger moved {} minor units of {}",
                    t.amount, t.currency
                ));
            }
        }
        let refunded = exists(id.step("refund"))?;
        let state = part.state.as_str();
        let finding = if part.kind == "offer" {
            let held = ledger.pending_status(hold).map_err(ledger_failure)?;
            offer_finding(state, held.map(|h| h.state), refunded)
        } else {
            request_finding(state, moved.is_some(), refunded)
        };
        match finding {
            Some(Finding::Violation(what)) => r.violations.push(format!("payment {id}: {what}")),
            Some(Finding::Repair(what)) => r.repairs_pending.push(format!("payment {id}: {what}")),
            None => {}
        }
        Ok(())
    })
}

enum Finding {
    Violation(String),
    Repair(String),
}

/// An offer's state against its hold in the ledger.
fn offer_finding(state: &str, hold: Option<PendingState>, refunded: bool) -> Option<Finding> {
    use PendingState::*;
    let says = |ledger: &str| format!("the node says {state}, the ledger's hold is {ledger}");
    let Some(hold) = hold else {
        return Some(Finding::Violation(format!(
            "the node says {state}, but the ledger holds nothing for it"
        )));
    };
    let ledger = format!("{hold:?}").to_lowercase();
    match (state, hold) {
        ("pending", Pending) => None,
        ("accepted", Posted) | ("declined" | "cancelled", Voided) | ("expired", Expired) => {
            refunded
                .then(|| Finding::Violation(format!("refunded money, but the node says {state}")))
        }
        ("refunded", Posted) if refunded => None,
        ("refunded", _) => Some(Finding::Violation(format!(
            "the node says refunded, but {}",
            if refunded {
                "the hold was never paid out"
            } else {
                "no refund moved"
            }
        ))),
        // The ledger settled first and the node has yet to record it: its workers will.
        ("pending", _) => Some(Finding::Repair(says(&ledger))),
        _ => Some(Finding::Violation(says(&ledger))),
    }
}

/// A request's state against the payment it may have made.
fn request_finding(state: &str, paid: bool, refunded: bool) -> Option<Finding> {
    match (state, paid, refunded) {
        ("paid", true, false) | ("refunded", true, true) => None,
        ("pending" | "scheduled" | "rejected" | "cancelled" | "expired", false, false) => None,
        // A pay interrupted mid-way: the workers finish it or reopen the request.
        ("paying", _, false) => Some(Finding::Repair(format!(
            "being paid ({})",
            if paid {
                "the money moved"
            } else {
                "no money moved yet"
            }
        ))),
        (state, paid, refunded) => Some(Finding::Violation(format!(
            "the node says {state}, but the ledger {} it and {}",
            if paid { "paid" } else { "never paid" },
            if refunded {
                "refunded it"
            } else {
                "made no refund"
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_matched_against_the_ledger() {
        use PendingState::*;
        let clean = |f: Option<Finding>| f.is_none();
        let violation = |f: Option<Finding>| matches!(f, Some(Finding::Violation(_)));
        let repair = |f: Option<Finding>| matches!(f, Some(Finding::Repair(_)));
        assert!(clean(offer_finding("accepted", Some(Posted), false)));
        assert!(clean(offer_finding("refunded", Some(Posted), true)));
        assert!(repair(offer_finding("pending", Some(Posted), false)));
        assert!(violation(offer_finding("accepted", Some(Voided), false)));
        assert!(violation(offer_finding("declined", Some(Pending), false)));
        assert!(violation(offer_finding("pending", None, false)));
        assert!(violation(offer_finding("accepted", Some(Posted), true)));
        assert!(clean(request_finding("paid", true, false)));
        assert!(violation(request_finding("pending", true, false)));
        assert!(violation(request_finding("paid", false, false)));
        assert!(repair(request_finding("paying", true, false)));
    }
}
