//! Payments: offers (`send`), requests, and every decision on them — accept, decline, cancel,
//! pay now or later, reject, refund. Each prints the id of what it made or acted on.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chit_client::ids::short;
use chit_client::wallet::Wallet;
use chit_client::Client;
use chit_proto::Action;
use serde_json::json;

use super::{
    check_amount, ensure_session, handle, item_json, now_ms, parse_duration, parse_moment,
    payment_id, show_time,
};
use crate::out::Out;

pub fn send(
    wallet: &mut Wallet,
    to: &str,
    amount: &str,
    note: &str,
    expires: Duration,
    out: Out,
) -> Result<()> {
    let to = handle(to)?;
    check_amount(amount)?;
    let expires_at_ms = now_ms() + expires.as_millis() as u64;
    let id = chit_client::new_id();
    ensure_session(wallet)?;
    let request = wallet.client.seal_offer(
        &wallet.identity,
        &to,
        amount,
        expires_at_ms,
        note.as_bytes(),
        &id,
    )?;
    let sent = wallet.with_session(|w| w.client.post_offer(&request))?;
    let part = sent
        .payment
        .clone()
        .context("offers carry a payment part")?;
    out.print(
        &json!({"id": sent.id, "short_id": short(&sent.id), "amount": part.amount, "to": to.to_string(),
                "state": part.state, "expires_at": chit_core::iso8601(part.expires_at_ms)}),
        || {
            format!(
                "offered {} to {to} (id {}); held until accepted, or back to you at {}",
                part.amount,
                short(&sent.id),
                show_time(part.expires_at_ms)
            )
        },
    );
    Ok(())
}

/// What `chit request` was given; a template fills what is missing.
pub struct RequestArgs<'a> {
    pub from: &'a str,
    pub amount: Option<&'a str>,
    pub note: Option<&'a str>,
    pub expires: Option<&'a str>,
    pub template: Option<&'a str>,
}

pub fn request(wallet: &mut Wallet, args: RequestArgs<'_>, out: Out) -> Result<()> {
    let from = handle(args.from)?;
    let saved = match args.template {
        Some(name) => Some(
            wallet
                .templates()?
                .remove(name)
                .with_context(|| format!("no template {name:?} (see `chit template list`)"))?,
        ),
        None => None,
    };
    let amount = args
        .amount
        .map(str::to_owned)
        .or_else(|| saved.as_ref().map(|t| t.amount.clone()))
        .context("give an amount (e.g. chit request @alice 20) or --template NAME")?;
    check_amount(&amount)?;
    let note = args
        .note
        .map(str::to_owned)
        .or_else(|| saved.as_ref().map(|t| t.note.clone()))
        .unwrap_or_default();
    let expires = args
        .expires
        .map(str::to_owned)
        .or_else(|| saved.as_ref().map(|t| t.expires.clone()));
    let expires = parse_duration(expires.as_deref().unwrap_or("7d"))?;
    ensure_session(wallet)?;
    let request = wallet.client.seal_request(
        &wallet.identity,
        &from,
        &amount,
        now_ms() + expires.as_millis() as u64,
        note.as_bytes(),
        &chit_client::new_id(),
    )?;
    let sent = wallet.with_session(|w| w.client.post_payment_request(&request))?;
    let part = sent
        .payment
        .clone()
        .context("requests carry a payment part")?;
    out.print(
        &json!({"id": sent.id, "short_id": short(&sent.id), "amount": part.amount, "from": from.to_string(),
                "state": part.state, "expires_at": chit_core::iso8601(part.expires_at_ms)}),
        || {
            format!(
                "requested {} from {from} (id {}); open until {}",
                part.amount,
                short(&sent.id),
                show_time(part.expires_at_ms)
            )
        },
    );
    Ok(())
}

pub fn pay(wallet: &mut Wallet, id: &str, at: Option<&str>, out: Out) -> Result<()> {
    let at_ms = at.map(|t| parse_moment(t, false)).transpose()?;
    if let Some(at) = at_ms.filter(|at| *at <= now_ms()) {
        bail!(
            "--at {} is in the past; to pay now, leave --at out (chit pay {id})",
            show_time(at)
        );
    }
    let message = payment_id(wallet, id)?;
    decide_on(wallet, Action::Pay { message, at_ms }, out)
}

/// The decisions that name only the payment: accept, decline, cancel, reject, refund.
#[derive(Clone, Copy)]
pub enum Decision {
    Accept,
    Decline,
    Cancel,
    Reject,
    Refund,
}

pub fn decide(wallet: &mut Wallet, decision: Decision, id: &str, out: Out) -> Result<()> {
    let message = payment_id(wallet, id)?;
    let action = match decision {
        Decision::Accept => Action::Accept { message },
        Decision::Decline => Action::Decline { message },
        Decision::Cancel => Action::Cancel { message },
        Decision::Reject => Action::Reject { message },
        Decision::Refund => Action::Refund { message },
    };
    decide_on(wallet, action, out)
}

/// Sends a signed decision on a payment and prints the update.
fn decide_on(wallet: &mut Wallet, action: Action, out: Out) -> Result<()> {
    let signed = Client::sign(&wallet.identity, action);
    let update = wallet.with_session(|w| w.client.decide(&signed))?;
    // The update is in the mailbox too; syncing stores it and keeps the cursor right.
    wallet.sync()?;
    let part = update
        .payment
        .clone()
        .context("updates carry a payment part")?;
    let mut value = item_json(wallet, &update, part.state.as_str());
    value["short_id"] = json!(short(&part.payment));
    out.print(&value, || {
        let s = short(&part.payment);
        match (part.state.as_str(), part.pay_at_ms) {
            ("scheduled", Some(at)) => format!(
                "scheduled: {} to {} at {} (id {s}; run `chit pay {s} --at …` again to move it)",
                part.amount,
                part.payee,
                show_time(at)
            ),
            _ => match &update.receipt {
                Some(r) => format!(
                    "{}: {} (id {s}; receipt: chit receipt {s})",
                    part.state,
                    r.describe()
                ),
                None => format!(
                    "{} {} ({} → {}, id {s})",
                    part.state, part.amount, part.payer, part.payee
                ),
            },
        }
    });
    Ok(())
}
