//! A wallet's history: one line per money movement — top-ups, cash-outs, payments made and
//! received, refunds — with the balance after it, and one line per payment that has not moved
//! money (open, declined, rejected, expired …). Built from what the wallet stored (the node's
//! statement and the messages), so it works with the node down.
//!
//! The statement's lines that move the balance add up to it from zero, so the balance after
//! each line is exact as long as the wallet has every page, which [`crate::wallet::Wallet`]
//! fetches from the start.

use std::collections::{BTreeMap, HashSet};

use chit_proto::api::{Delivery, PaymentPart, StatementEntry};
use chit_proto::{Handle, MessageId, PaymentId};

use crate::wallet::Store;

/// One line of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// When the money moved; for a line that moved none, when the payment was made.
    pub time_ms: u64,
    /// The payment's id (offer or request), or the ledger transfer's for a top-up or cash-out.
    pub id: String,
    /// `offer`, `request`, `refund`, `top_up` or `cash_out`.
    pub kind: String,
    /// `in` or `out`, from this wallet's side.
    pub direction: &'static str,
    /// The other user, if any (a top-up's other side is its rail).
    pub counterparty: Option<Handle>,
    pub rail: Option<String>,
    /// Text form, unsigned: `EUR:12.50`.
    pub amount: String,
    /// Where the payment stands now (`completed` for a top-up or cash-out).
    pub state: String,
    /// The balance after this line, when it moved money (text form).
    pub balance_after: Option<String>,
    /// The message whose sealed note belongs to this line.
    pub message: Option<MessageId>,
}

/// An amount's text form split into its code, minor units and decimals (`EUR:12.50` →
/// `("EUR", 1250, 2)`). The node writes every amount with all its decimals.
pub fn split_amount(text: &str) -> Option<(&str, i128, usize)> {
    let (code, number) = text.split_once(':')?;
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{whole}{fraction}");
    Some((code, digits.parse().ok()?, fraction.len()))
}

/// Minor units back to a number with `decimals` places: `(-1250, 2)` → `-12.50`.
pub fn decimal(minor: i128, decimals: usize) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let digits = format!("{:0>width$}", minor.unsigned_abs(), width = decimals + 1);
    let (whole, fraction) = digits.split_at(digits.len() - decimals);
    if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    }
}

/// Where each payment stands according to the messages seen: the state on its latest message.
pub fn payment_states(store: &Store) -> BTreeMap<PaymentId, &PaymentPart> {
    let mut latest: BTreeMap<PaymentId, (u64, &PaymentPart)> = BTreeMap::new();
    for d in store.messages.values() {
        if let Some(p) = &d.message.payment {
            let entry = latest.entry(p.payment).or_insert((d.cursor, p));
            if d.cursor >= entry.0 {
                *entry = (d.cursor, p);
            }
        }
    }
    latest.into_iter().map(|(id, (_, p))| (id, p)).collect()
}

/// Every line of `me`'s history, oldest first.
pub fn lines(store: &Store, me: &Handle) -> Vec<Line> {
    let states = payment_states(store);
    let made: BTreeMap<PaymentId, &Delivery> = store
        .messages
        .values()
        .filter(|d| matches!(d.message.kind.as_str(), "offer" | "request"))
        .map(|d| (PaymentId::from(d.message.id), d))
        .collect();
    let state_of = |id: &PaymentId| states.get(id).map(|p| p.state.to_string());
    let mut out: Vec<(u64, u64, Line)> = Vec::new();
    let mut moved = HashSet::new();
    for entries in store.statements.values() {
        let mut balance: i128 = 0;
        for e in entries.iter().filter(|e| e.moves_balance) {
            let Some((code, minor, decimals)) = split_amount(&e.amount) else {
                continue;
            };
            balance += if e.direction == "in" { minor } else { -minor };
            let kind = statement_kind(e, &made);
            if let Some(p) = &e.payment {
                if kind != "refund" {
                    moved.insert(*p);
                }
            }
            let state = match (&e.payment, kind.as_str()) {
                (_, "top_up" | "cash_out") => "completed".to_owned(),
                (_, "refund") => "refunded".to_owned(),
                (Some(p), _) => state_of(p).unwrap_or_else(|| "settled".into()),
                (None, _) => "completed".to_owned(),
            };
            out.push((
                e.time_ms,
                e.cursor,
                Line {
                    time_ms: e.time_ms,
                    id: e
                        .payment
                        .map_or_else(|| e.transfer.clone(), |p| p.to_string()),
                    kind,
                    direction: if e.direction == "in" { "in" } else { "out" },
                    counterparty: e.counterparty.clone(),
                    rail: e.rail.clone(),
                    amount: e.amount.clone(),
                    state,
                    balance_after: Some(format!("{code}:{}", decimal(balance, decimals))),
                    message: e
                        .payment
                        .filter(|p| made.contains_key(p))
                        .map(MessageId::from),
                },
            ));
        }
    }
    for (id, d) in &made {
        if moved.contains(id) {
            continue;
        }
        let m = &d.message;
        let p = m
            .payment
            .as_ref()
            .expect("offers and requests carry a payment part");
        let out_of_me = &p.payer == me;
        out.push((
            m.time_ms,
            0,
            Line {
                time_ms: m.time_ms,
                id: m.id.to_string(),
                kind: m.kind.clone(),
                direction: if out_of_me { "out" } else { "in" },
                counterparty: Some(if out_of_me {
                    p.payee.clone()
                } else {
                    p.payer.clone()
                }),
                rail: None,
                amount: p.amount.clone(),
                state: state_of(id).unwrap_or_else(|| p.state.to_string()),
                balance_after: None,
                message: Some(m.id),
            },
        ));
    }
    out.sort_by_key(|(time, cursor, _)| (*time, *cursor));
    out.into_iter().map(|(_, _, line)| line).collect()
}

/// What a balance-moving statement line was: the payment's kind when the wallet has it.
fn statement_kind(e: &StatementEntry, made: &BTreeMap<PaymentId, &Delivery>) -> String {
    match e.kind.as_str() {
        "payment" => e
            .payment
            .and_then(|p| made.get(&p))
            .map_or_else(|| "payment".to_owned(), |d| d.message.kind.clone()),
        other => other.to_owned(),
    }
}

/// The balance the statement adds up to, per currency, in minor units (for checking against
/// the node's).
pub fn balances(store: &Store) -> BTreeMap<String, i128> {
    store
        .statements
        .iter()
        .map(|(currency, entries)| {
            let sum = entries
                .iter()
                .filter(|e| e.moves_balance)
                .filter_map(|e| {
                    let (_, minor, _) = split_amount(&e.amount)?;
                    Some(if e.direction == "in" { minor } else { -minor })
                })
                .sum();
            (currency.clone(), sum)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_split_and_print_back() {
        assert_eq!(split_amount("EUR:12.50"), Some(("EUR", 1250, 2)));
        assert_eq!(split_amount("JPY:7"), Some(("JPY", 7, 0)));
        assert_eq!(split_amount("12.50"), None);
        assert_eq!(decimal(-1250, 2), "-12.50");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(-5, 2), "-0.05");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(7, 0), "7");
    }
}
