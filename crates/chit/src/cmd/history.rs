//! What people file: the history (every money movement and payment, with the balance after
//! each line; table, CSV or JSON) and the node-signed receipts, checked offline. Both work with
//! the node down, from what the wallet stored.

use anyhow::{bail, Result};
use chit_client::history::{balances, decimal, lines, split_amount, Line};
use chit_client::ids::{resolve, short};
use chit_client::wallet::Wallet;
use chit_proto::{MessageId, Receipt};
use serde_json::{json, Value};

use super::{parse_moment, show_time};
use crate::cli::HistoryFormat;
use crate::out::say;
use crate::out::{csv_cell, Out};

/// Fetches what is new (messages and statement) if the node answers; says so if it does not.
/// When it answers, the statement's sum is checked against the balance the node reports.
fn refresh(wallet: &mut Wallet) {
    let synced = wallet.sync().and_then(|_| wallet.sync_statements());
    if let Err(e) = synced {
        eprintln!("note: showing what this wallet has stored ({e})");
        return;
    }
    let (Ok(node), Ok(store)) = (
        wallet.with_session(|w| w.client.balances()),
        wallet.load_store(),
    ) else {
        return;
    };
    let ours = balances(&store);
    for b in node.balances {
        let Some(sum) = ours.get(&b.currency) else {
            continue;
        };
        let theirs = split_amount(&b.balance).map(|(_, minor, _)| minor);
        if theirs != Some(*sum) {
            eprintln!(
                "note: the statement adds up to {} {} (minor units), the node says {} (a payment settling just now?)",
                b.currency,
                sum,
                b.balance
            );
        }
    }
}

fn note(wallet: &Wallet, line: &Line, store: &chit_client::wallet::Store) -> String {
    line.message
        .as_ref()
        .and_then(|id| store.messages.get(id))
        .and_then(|d| wallet.open_text(&d.message))
        .unwrap_or_default()
}

/// The amount with its sign from this wallet's side, as a plain number (`-12.50`).
fn signed(line: &Line) -> (String, String) {
    let Some((code, minor, decimals)) = split_amount(&line.amount) else {
        return (line.amount.clone(), String::new());
    };
    let minor = if line.direction == "out" {
        -minor
    } else {
        minor
    };
    (decimal(minor, decimals), code.to_owned())
}

fn other_side(line: &Line) -> String {
    match (&line.counterparty, &line.rail) {
        (Some(h), _) => h.to_string(),
        (None, Some(rail)) => rail.clone(),
        (None, None) => String::new(),
    }
}

pub fn history(
    wallet: &mut Wallet,
    format: HistoryFormat,
    since: Option<&str>,
    until: Option<&str>,
    out: Out,
) -> Result<()> {
    let since = since.map(|t| parse_moment(t, true)).transpose()?;
    let until = until.map(|t| parse_moment(t, true)).transpose()?;
    refresh(wallet);
    let store = wallet.load_store()?;
    let all = lines(&store, &wallet.identity.handle);
    let shown: Vec<&Line> = all
        .iter()
        .filter(|l| since.is_none_or(|s| l.time_ms >= s) && until.is_none_or(|u| l.time_ms < u))
        .collect();
    let format = if out.json {
        HistoryFormat::Json
    } else {
        format
    };
    match format {
        HistoryFormat::Json => {
            let rows: Vec<Value> = shown
                .iter()
                .map(|l| {
                    let (amount, currency) = signed(l);
                    json!({
                        "time": chit_core::iso8601(l.time_ms), "id": l.id, "short_id": short(&l.id),
                        "kind": l.kind, "direction": l.direction, "counterparty": other_side(l),
                        "amount": amount, "currency": currency, "amount_text": l.amount,
                        "balance_after": l.balance_after, "state": l.state, "note": note(wallet, l, &store),
                    })
                })
                .collect();
            say!("{}", json!({ "history": rows }));
        }
        HistoryFormat::Csv => {
            let columns = [
                "time",
                "id",
                "short_id",
                "kind",
                "direction",
                "counterparty",
                "amount",
                "currency",
                "amount_text",
                "balance_after",
                "state",
                "note",
            ];
            say!("{}", columns.join(","));
            for l in &shown {
                let (amount, currency) = signed(l);
                let balance = l
                    .balance_after
                    .as_deref()
                    .and_then(|b| b.split_once(':').map(|(_, n)| n.to_owned()))
                    .unwrap_or_default();
                let cells = [
                    chit_core::iso8601(l.time_ms),
                    l.id.clone(),
                    short(&l.id).to_owned(),
                    l.kind.clone(),
                    l.direction.to_owned(),
                    other_side(l),
                    amount,
                    currency,
                    l.amount.clone(),
                    balance,
                    l.state.clone(),
                    note(wallet, l, &store),
                ];
                let cells: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                say!("{}", cells.join(","));
            }
        }
        HistoryFormat::Table => {
            if shown.is_empty() {
                say!("nothing yet (top up with `chit topup 100`, pay with `chit send @someone 5`)");
            }
            for l in &shown {
                let (amount, _) = signed(l);
                let code = l.amount.split_once(':').map_or("", |(c, _)| c);
                let balance = l.balance_after.as_deref().unwrap_or("");
                say!(
                    "{}  {}  {:<8} {:<14} {:>12} {code}  {:>14}  {:<10} {}",
                    out.paint("2", &show_time(l.time_ms)),
                    out.paint("2", short(&l.id)),
                    l.kind,
                    other_side(l),
                    if l.balance_after.is_some() {
                        amount
                    } else {
                        format!("({amount})")
                    },
                    balance,
                    out.state(&l.state),
                    note(wallet, l, &store)
                );
            }
        }
    }
    Ok(())
}

/// Shows the receipts of a payment (by the payment's id or a receipt's, a unique prefix of
/// either or of the short form); `verify` checks each against the pinned node key, offline.
pub fn receipt(wallet: &mut Wallet, id: &str, verify: bool, out: Out) -> Result<()> {
    if let Err(e) = wallet.sync() {
        eprintln!("note: showing what this wallet has stored ({e})");
    }
    let store = wallet.load_store()?;
    let all: Vec<&Receipt> = {
        let mut r: Vec<_> = store
            .messages
            .values()
            .filter_map(|d| d.message.receipt.as_ref().map(|r| (d.cursor, r)))
            .collect();
        r.sort_by_key(|(cursor, _)| *cursor);
        r.into_iter().map(|(_, r)| r).collect()
    };
    let names = all
        .iter()
        .flat_map(|r| [r.transfer_id, r.message_id.into()]);
    let wanted: MessageId = resolve(id, names, "receipt")?;
    let chosen: Vec<&Receipt> = all
        .into_iter()
        .filter(|r| r.transfer_id == wanted || MessageId::from(r.message_id) == wanted)
        .collect();
    if chosen.is_empty() {
        bail!("no receipt for {id} in this wallet (a receipt comes with a payment's outcome; `chit inbox` fetches new ones)");
    }
    let node_key = wallet
        .client
        .node_key()
        .ok_or_else(|| anyhow::anyhow!("this wallet has no pinned node key"))?;
    let valid: Vec<bool> = chosen.iter().map(|r| r.verify(&node_key).is_ok()).collect();
    if verify {
        if let Some((r, _)) = chosen.iter().zip(&valid).find(|(_, ok)| !**ok) {
            bail!(
                "receipt {} does NOT verify with the node key {}",
                r.transfer_id,
                node_key.fingerprint()
            );
        }
    }
    let json_of = |r: &Receipt, ok: bool| {
        let mut v = serde_json::to_value(r).expect("serialisable");
        v["outcome"] = json!(r.outcome().map(|o| o.as_str()));
        v["form"] = json!(if r.settlement.is_some() { 2 } else { 1 });
        v["description"] = json!(r.describe());
        v["time"] = json!(chit_core::iso8601(r.time_ms));
        if verify {
            v["verified"] = json!(ok);
        }
        v
    };
    // The newest receipt, with any earlier ones of the same payment (a refund after a payment).
    let newest = chosen.len() - 1;
    let mut value = json_of(chosen[newest], valid[newest]);
    if newest > 0 {
        value["earlier"] = Value::Array(
            chosen[..newest]
                .iter()
                .zip(&valid)
                .map(|(r, ok)| json_of(r, *ok))
                .collect(),
        );
    }
    out.print(&value, || {
        chosen
            .iter()
            .map(|r| {
                let form = if r.settlement.is_none() {
                    " (old form)"
                } else {
                    ""
                };
                let transfers = r
                    .settlement
                    .as_ref()
                    .filter(|s| !s.transfers.is_empty())
                    .map(|s| format!("\nledger transfers {}", s.transfers.join(", ")))
                    .unwrap_or_default();
                let check = if verify {
                    format!("\nsignature valid (node key {})", node_key.fingerprint())
                } else {
                    String::new()
                };
                format!(
                    "receipt {}{form}, {}\n{}\nfor payment {}{transfers}{check}",
                    r.transfer_id,
                    show_time(r.time_ms),
                    r.describe(),
                    r.message_id
                )
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    });
    Ok(())
}
