//! Money in and out: the balance, linking a rail's account, top-ups and cash-outs, and the
//! auto-accept setting.

use anyhow::{Context, Result};
use chit_client::wallet::Wallet;
use chit_client::Client;
use chit_proto::Action;
use serde_json::json;

use super::check_amount;
use crate::cli::AutoAcceptMode;
use crate::out::Out;

pub fn balance(wallet: &mut Wallet, out: Out) -> Result<()> {
    let balances = wallet.with_session(|w| w.client.balances())?;
    let first = balances
        .balances
        .first()
        .context("the node serves no currency")?;
    out.print(
        &json!({"currency": first.currency, "balance": first.balance, "available": first.available,
                "balances": balances.balances}),
        || {
            balances
                .balances
                .iter()
                .map(|b| {
                    if b.balance == b.available {
                        b.balance.clone()
                    } else {
                        format!(
                            "{} ({} available, the rest held in open offers)",
                            b.balance, b.available
                        )
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

pub fn link(wallet: &mut Wallet, rail: &str, reference: &str, out: Out) -> Result<()> {
    let signed = Client::sign(
        &wallet.identity,
        Action::Link {
            rail: rail.into(),
            reference: reference.into(),
        },
    );
    let linked = wallet.with_session(|w| w.client.link(&signed))?;
    out.print(
        &serde_json::to_value(&linked).expect("serialisable"),
        || {
            format!(
                "linked {} account {} (verified)",
                linked.rail, linked.reference
            )
        },
    );
    Ok(())
}

pub fn move_money(wallet: &mut Wallet, amount: &str, inward: bool, out: Out) -> Result<()> {
    check_amount(amount)?;
    let amount = wallet.client.canonical_amount(amount)?;
    let rail = "sandbox".to_owned();
    let action = if inward {
        Action::TopUp { rail, amount }
    } else {
        Action::CashOut { rail, amount }
    };
    let signed = Client::sign(&wallet.identity, action);
    let balances = wallet.with_session(|w| w.client.move_money(&signed))?;
    let b = &balances.balances[0];
    let id = &signed.command.id;
    out.print(
        &json!({"id": id, "short_id": chit_client::ids::short(id), "currency": b.currency, "balance": b.balance, "available": b.available}),
        || {
            let verb = if inward {
                "topped up from the SANDBOX rail (play money)"
            } else {
                "cashed out to the SANDBOX rail (play money)"
            };
            format!("{verb}; balance {} (id {})", b.balance, chit_client::ids::short(id))
        },
    );
    Ok(())
}

/// Sets the mode, or with none shows the one the node holds.
pub fn auto_accept(wallet: &mut Wallet, mode: Option<AutoAcceptMode>, out: Out) -> Result<()> {
    let mode = match mode {
        Some(mode) => {
            wallet.with_session(|w| w.client.set_auto_accept(mode.as_str()))?;
            mode.as_str().to_owned()
        }
        None => wallet.with_session(|w| w.client.settings())?.auto_accept,
    };
    let meaning = match mode.as_str() {
        "off" => "every offer waits for you to accept or decline it",
        "contacts" => "offers from people you have written to are accepted at once",
        _ => "every offer is accepted at once",
    };
    out.print(&json!({"auto_accept": mode}), || {
        format!("auto-accept: {mode} ({meaning})")
    });
    Ok(())
}
