//! The wallet commands: parse, call the SDK, print (a readable line, or JSON with `--json`).

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use chit_client::wallet::Wallet;
use chit_client::{Client, Event};
use chit_proto::api::{Delivery, Envelope};
use chit_proto::{Action, Handle};
use serde_json::{json, Value};

/// Output mode shared by every command.
#[derive(Clone, Copy)]
pub struct Out {
    pub json: bool,
}

impl Out {
    fn print(&self, value: &Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", human());
        }
    }
}

fn handle(text: &str) -> Result<Handle> {
    Handle::new(text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Parses `90s`, `30m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .with_context(|| format!("bad duration {text:?} (e.g. 30m, 24h, 7d)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => bail!("bad duration {text:?} (e.g. 30m, 24h, 7d)"),
    };
    Ok(Duration::from_secs(secs))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `2026-11-23 12:30:05 UTC` from milliseconds since the epoch.
pub fn show_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

pub fn register(dir: &Path, node: &str, name: &str, out: Out) -> Result<()> {
    let wallet = Wallet::register(dir, node, handle(name)?)?;
    let key = wallet.client.node_key().expect("pinned at registration");
    out.print(
        &json!({"handle": wallet.identity.handle.to_string(), "node": node, "node_fingerprint": key.fingerprint()}),
        || format!("registered {} at {node} (node key {})", wallet.identity.handle, key.fingerprint()),
    );
    Ok(())
}

pub fn whoami(wallet: &Wallet, out: Out) -> Result<()> {
    let key = wallet.client.node_key().expect("wallets pin the node key");
    out.print(
        &json!({"handle": wallet.identity.handle.to_string(), "node": wallet.node_url(), "node_fingerprint": key.fingerprint(),
                "identity_key": wallet.identity.identity.public().to_string()}),
        || format!("{} at {} (node key {})", wallet.identity.handle, wallet.node_url(), key.fingerprint()),
    );
    Ok(())
}

pub fn balance(wallet: &mut Wallet, out: Out) -> Result<()> {
    let balances = wallet.with_session(|w| w.client.balances())?;
    let first = balances
        .balances
        .first()
        .context("the node serves no currency")?;
    out.print(
        &json!({"currency": first.currency, "balance": first.balance, "available": first.available}),
        || {
            balances
                .balances
                .iter()
                .map(|b| {
                    if b.balance == b.available {
                        b.balance.clone()
                    } else {
                        format!("{} ({} available, the rest held in open offers)", b.balance, b.available)
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

pub fn move_money(wallet: &mut Wallet, amount: &str, inward: bool, out: Out) -> Result<()> {
    let action = if inward {
        Action::TopUp {
            rail: "sandbox".into(),
            amount: amount.into(),
        }
    } else {
        Action::CashOut {
            rail: "sandbox".into(),
            amount: amount.into(),
        }
    };
    let signed = Client::sign(&wallet.identity, action);
    let balances = wallet.with_session(|w| w.client.move_money(&signed))?;
    let b = &balances.balances[0];
    out.print(
        &json!({"id": signed.command.id, "currency": b.currency, "balance": b.balance, "available": b.available}),
        || {
            let verb = if inward { "topped up from the SANDBOX rail (play money)" } else { "cashed out to the SANDBOX rail (play money)" };
            format!("{verb}; balance {}", b.balance)
        },
    );
    Ok(())
}

pub fn say(wallet: &mut Wallet, to: &str, text: &str, out: Out) -> Result<()> {
    let to = handle(to)?;
    ensure_session(wallet)?;
    let request = wallet.client.seal_say(
        &wallet.identity,
        &to,
        text.as_bytes(),
        &chit_client::new_id(),
    )?;
    let sent = wallet.with_session(|w| w.client.post_request(&request))?;
    out.print(&json!({"id": sent.id}), || format!("sent to {to}"));
    Ok(())
}

/// Sealing looks up the recipient's keys, which needs a session.
fn ensure_session(wallet: &mut Wallet) -> Result<()> {
    if wallet.client.token().is_none() {
        wallet.login()?;
    }
    Ok(())
}

pub fn send(
    wallet: &mut Wallet,
    to: &str,
    amount: &str,
    note: &str,
    expires: Duration,
    out: Out,
) -> Result<()> {
    let to = handle(to)?;
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
    let part = sent.payment.clone().expect("offers carry a payment part");
    out.print(&json!({"id": sent.id}), || {
        format!(
            "offered {} to {to}; held until accepted or {}",
            part.amount,
            show_time(part.expires_at_ms)
        )
    });
    Ok(())
}

pub fn decide(wallet: &mut Wallet, id: &str, action: &str, out: Out) -> Result<()> {
    let message = id.to_owned();
    let action = match action {
        "accept" => Action::Accept { message },
        "decline" => Action::Decline { message },
        _ => Action::Cancel { message },
    };
    let signed = Client::sign(&wallet.identity, action);
    let update = wallet.with_session(|w| w.client.decide(&signed))?;
    // The update is in the mailbox too; syncing stores it and keeps the cursor right.
    wallet.sync()?;
    let part = update
        .payment
        .clone()
        .expect("updates carry a payment part");
    out.print(&item_json(wallet, &update, &part.state), || {
        format!(
            "{} {} ({} → {})",
            part.state, part.amount, part.payer, part.payee
        )
    });
    Ok(())
}

/// Where a payment stands according to the messages seen so far.
fn payment_state(store: &chit_client::wallet::Store, message: &Envelope) -> Option<String> {
    let part = message.payment.as_ref()?;
    let latest = store
        .messages
        .values()
        .filter_map(|d| d.message.payment.as_ref().map(|p| (d.cursor, p)))
        .filter(|(_, p)| p.payment == part.payment)
        .max_by_key(|(cursor, _)| *cursor);
    Some(latest.map_or(part.state.clone(), |(_, p)| p.state.clone()))
}

fn item_json(wallet: &Wallet, m: &Envelope, state: &str) -> Value {
    let mut item = json!({
        "id": m.id,
        "kind": m.kind,
        "from": m.sender.to_string(),
        "state": state,
        "time": show_time(m.time_ms),
    });
    if let Some(p) = &m.payment {
        item["amount"] = json!(p.amount);
        item["payment"] = json!(p.payment);
        item["payer"] = json!(p.payer.to_string());
        item["payee"] = json!(p.payee.to_string());
    }
    if let Some(text) = wallet.open_text(m) {
        let key = if m.kind == "text" { "text" } else { "note" };
        item[key] = json!(text);
    }
    if let Some(r) = &m.receipt {
        item["receipt"] = serde_json::to_value(r).expect("serialisable");
    }
    item
}

fn human_item(wallet: &Wallet, m: &Envelope, state: &str) -> String {
    let me = &wallet.identity.handle;
    let who = if &m.sender == me {
        "you".to_owned()
    } else {
        m.sender.to_string()
    };
    let text = wallet
        .open_text(m)
        .map(|t| format!(" \"{t}\""))
        .unwrap_or_default();
    match &m.payment {
        None => format!("{}  {who}:{text}", show_time(m.time_ms)),
        Some(p) if m.kind == "payment_update" => format!(
            "{}  payment {} {} → {}: {state}{}",
            show_time(m.time_ms),
            p.amount,
            p.payer,
            p.payee,
            if m.receipt.is_some() {
                " (signed receipt)"
            } else {
                ""
            }
        ),
        Some(p) => format!(
            "{}  {who} {} {} [{state}]  id {}{text}",
            show_time(m.time_ms),
            m.kind,
            p.amount,
            m.id
        ),
    }
}

fn print_items(wallet: &Wallet, items: &[Delivery], out: Out) -> Result<()> {
    let store = wallet.load_store()?;
    let state = |m: &Envelope| payment_state(&store, m).unwrap_or_else(|| "delivered".into());
    if out.json {
        let items: Vec<Value> = items
            .iter()
            .map(|d| item_json(wallet, &d.message, &state(&d.message)))
            .collect();
        println!("{}", json!({ "items": items }));
    } else if items.is_empty() {
        println!("nothing new");
    } else {
        for d in items {
            println!("{}", human_item(wallet, &d.message, &state(&d.message)));
        }
    }
    Ok(())
}

/// Syncs the mailbox; with `wait`, waits up to that long for something to arrive.
pub fn inbox(wallet: &mut Wallet, wait: Option<u64>, out: Out) -> Result<()> {
    let mut fresh = wallet.sync()?;
    if fresh.is_empty() {
        if let Some(secs) = wait.filter(|s| *s > 0) {
            let mut listener = wallet.with_session(|w| w.client.listen())?;
            // Anything that arrived between the sync and the subscription is caught by this one.
            fresh = wallet.sync()?;
            if fresh.is_empty() {
                listener.set_timeout(Some(Duration::from_secs(secs)))?;
                if listener.next_event().is_ok() {
                    fresh = wallet.sync()?;
                }
            }
        }
    }
    print_items(wallet, &fresh, out)
}

/// Prints messages as they arrive until interrupted.
pub fn listen(wallet: &mut Wallet, out: Out) -> Result<()> {
    let backlog = wallet.sync()?;
    print_items(wallet, &backlog, out)?;
    let mut listener = wallet.with_session(|w| w.client.listen())?;
    loop {
        match listener.next_event()? {
            Event::Delivery(d) => {
                if wallet.remember(&d)? {
                    print_items(wallet, std::slice::from_ref(&d), out)?;
                }
            }
            Event::Resync => {
                let fresh = wallet.sync()?;
                print_items(wallet, &fresh, out)?;
            }
        }
    }
}
