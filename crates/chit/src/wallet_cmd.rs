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

/// Makes an API token: a signed grant of its derived key, then the token, shown once.
pub fn token_create(
    wallet: &mut Wallet,
    scope: &str,
    expires: &str,
    label: &str,
    out: Out,
) -> Result<()> {
    let ttl = parse_duration(expires)?;
    let token = chit_proto::new_api_token();
    let key = chit_proto::api_token_key(&token).public();
    let signed = Client::sign(
        &wallet.identity,
        Action::Grant {
            key,
            scope: scope.split(',').map(|s| s.trim().to_owned()).collect(),
            expires_at_ms: now_ms() + ttl.as_millis() as u64,
            label: label.to_owned(),
        },
    );
    let granted = wallet.with_session(|w| w.client.manage_key(&signed))?;
    let mut value = serde_json::to_value(&granted).expect("serialisable");
    value["token"] = json!(token);
    out.print(&value, || {
        format!(
            "token (shown once; keep it secret): {token}\nkey {} may {} until {}",
            granted.key,
            granted.scope.join(", "),
            show_time(granted.expires_at_ms)
        )
    });
    Ok(())
}

pub fn token_list(wallet: &mut Wallet, out: Out) -> Result<()> {
    let keys = wallet.with_session(|w| w.client.api_keys())?;
    out.print(&serde_json::to_value(&keys).expect("serialisable"), || {
        if keys.keys.is_empty() {
            return "no tokens (make one with `chit token create`)".into();
        }
        keys.keys
            .iter()
            .map(|k| {
                let state = match k.revoked_at_ms {
                    Some(at) => format!("revoked {}", show_time(at)),
                    None if k.expires_at_ms <= now_ms() => "expired".into(),
                    None => format!("until {}", show_time(k.expires_at_ms)),
                };
                format!(
                    "{}  {}  {}  \"{}\"",
                    k.key,
                    k.scope.join(","),
                    state,
                    k.label
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

pub fn token_revoke(wallet: &mut Wallet, key: &str, out: Out) -> Result<()> {
    let key: chit_proto::IdentityKey = key
        .parse()
        .map_err(|_| anyhow::anyhow!("{key:?} is not a token key (see `chit token list`)"))?;
    let signed = Client::sign(&wallet.identity, Action::Revoke { key });
    let revoked = wallet.with_session(|w| w.client.manage_key(&signed))?;
    out.print(
        &serde_json::to_value(&revoked).expect("serialisable"),
        || format!("revoked {}", revoked.key),
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

pub fn request(
    wallet: &mut Wallet,
    from: &str,
    amount: Option<&str>,
    note: Option<&str>,
    expires: Option<&str>,
    template: Option<&str>,
    out: Out,
) -> Result<()> {
    let from = handle(from)?;
    let saved = match template {
        Some(name) => Some(
            wallet
                .templates()?
                .remove(name)
                .with_context(|| format!("no template {name:?} (see `chit template list`)"))?,
        ),
        None => None,
    };
    let amount = amount
        .map(str::to_owned)
        .or_else(|| saved.as_ref().map(|t| t.amount.clone()))
        .context("give an amount or --template")?;
    let note = note
        .map(str::to_owned)
        .or_else(|| saved.as_ref().map(|t| t.note.clone()))
        .unwrap_or_default();
    let expires = expires
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
    let part = sent.payment.clone().expect("requests carry a payment part");
    out.print(&json!({"id": sent.id}), || {
        format!(
            "requested {} from {from}; open until {}",
            part.amount,
            show_time(part.expires_at_ms)
        )
    });
    Ok(())
}

/// Parses `--at`: a duration from now (`2h`) or a UTC time `YYYY-MM-DDTHH:MM[:SS]Z`.
pub fn parse_at(text: &str) -> Result<u64> {
    if let Ok(d) = parse_duration(text) {
        return Ok(now_ms() + d.as_millis() as u64);
    }
    let bad = || anyhow::anyhow!("bad time {text:?}: use e.g. 2h or 2026-12-01T09:00Z");
    let t = text.strip_suffix('Z').ok_or_else(bad)?;
    let (date, time) = t.split_once('T').ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let ([y, m, day], [h, min, rest @ ..]) = (d.as_slice(), hms.as_slice()) else {
        return Err(bad());
    };
    let sec = rest.first().copied().unwrap_or(0);
    if !(1..=12).contains(m) || !(1..=31).contains(day) || *h > 23 || *min > 59 || sec > 59 {
        return Err(bad());
    }
    // Days since the epoch from a civil date (Howard Hinnant's algorithm).
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + min * 60 + sec;
    u64::try_from(secs * 1000).map_err(|_| bad())
}

pub fn auto_accept(wallet: &mut Wallet, mode: &str, out: Out) -> Result<()> {
    wallet.with_session(|w| w.client.set_auto_accept(mode))?;
    out.print(&json!({"auto_accept": mode}), || {
        format!("auto-accept: {mode}")
    });
    Ok(())
}

pub fn pay(wallet: &mut Wallet, id: &str, at: Option<&str>, out: Out) -> Result<()> {
    let at_ms = at.map(parse_at).transpose()?;
    decide(
        wallet,
        Action::Pay {
            message: id.to_owned(),
            at_ms,
        },
        out,
    )
}

/// Sends a signed decision on a payment and prints the update.
pub fn decide(wallet: &mut Wallet, action: Action, out: Out) -> Result<()> {
    let signed = Client::sign(&wallet.identity, action);
    let update = wallet.with_session(|w| w.client.decide(&signed))?;
    // The update is in the mailbox too; syncing stores it and keeps the cursor right.
    wallet.sync()?;
    let part = update
        .payment
        .clone()
        .expect("updates carry a payment part");
    out.print(&item_json(wallet, &update, &part.state), || {
        match part.pay_at_ms {
            Some(at) if part.state == "scheduled" => {
                format!(
                    "scheduled {} to {} at {}",
                    part.amount,
                    part.payee,
                    show_time(at)
                )
            }
            _ => format!(
                "{} {} ({} → {})",
                part.state, part.amount, part.payer, part.payee
            ),
        }
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

/// What `chit template` does.
pub enum TemplateOp {
    Add {
        name: String,
        amount: String,
        note: String,
        expires: String,
    },
    Remove {
        name: String,
    },
    List,
}

pub fn template(wallet: &Wallet, op: TemplateOp, out: Out) -> Result<()> {
    let mut templates = wallet.templates()?;
    match op {
        TemplateOp::Add {
            name,
            amount,
            note,
            expires,
        } => {
            parse_duration(&expires)?;
            templates.insert(
                name.clone(),
                chit_client::wallet::Template {
                    amount,
                    note,
                    expires,
                },
            );
            wallet.save_templates(&templates)?;
            out.print(&json!({"saved": name}), || format!("saved template {name}"));
        }
        TemplateOp::Remove { name } => {
            if templates.remove(&name).is_none() {
                bail!("no template {name:?}");
            }
            wallet.save_templates(&templates)?;
            out.print(&json!({"removed": name}), || {
                format!("removed template {name}")
            });
        }
        TemplateOp::List => out.print(&json!({"templates": templates}), || {
            if templates.is_empty() {
                return "no templates (add one with `chit template add NAME AMOUNT`)".into();
            }
            templates
                .iter()
                .map(|(n, t)| format!("{n}: {} open {} \"{}\"", t.amount, t.expires, t.note))
                .collect::<Vec<_>>()
                .join("\n")
        }),
    }
    Ok(())
}

/// Every payment seen, with where it stands, oldest first.
pub fn history(wallet: &mut Wallet, format: &str, out: Out) -> Result<()> {
    wallet.sync()?;
    let store = wallet.load_store()?;
    let me = wallet.identity.handle.clone();
    let mut rows = Vec::new();
    let payments = store
        .messages
        .values()
        .filter(|d| d.message.kind == "offer" || d.message.kind == "request");
    for d in payments {
        let m = &d.message;
        let p = m.payment.as_ref().expect("payments carry a payment part");
        let state = payment_state(&store, m).unwrap_or_default();
        let (direction, other) = if p.payer == me {
            ("out", &p.payee)
        } else {
            ("in", &p.payer)
        };
        rows.push((
            m.time_ms,
            json!({
                "time": show_time(m.time_ms), "id": m.id, "kind": m.kind, "direction": direction,
                "counterparty": other.to_string(), "amount": p.amount, "state": state,
                "note": wallet.open_text(m).unwrap_or_default(),
            }),
        ));
    }
    rows.sort_by_key(|(t, _)| *t);
    let rows: Vec<Value> = rows.into_iter().map(|(_, r)| r).collect();
    let format = if out.json { "json" } else { format };
    let cell = |r: &Value, k: &str| r[k].as_str().unwrap_or("").to_owned();
    match format {
        "json" => println!("{}", json!({ "payments": rows })),
        "csv" => {
            let columns = [
                "time",
                "id",
                "kind",
                "direction",
                "counterparty",
                "amount",
                "state",
                "note",
            ];
            println!("{}", columns.join(","));
            for r in &rows {
                // Handles are validated (a letter first), so they go bare: a leading `@` would
                // read as a formula to some spreadsheets.
                let cells: Vec<String> = columns
                    .iter()
                    .map(|k| match *k {
                        "counterparty" => cell(r, k).trim_start_matches('@').to_owned(),
                        _ => csv_cell(&cell(r, k)),
                    })
                    .collect();
                println!("{}", cells.join(","));
            }
        }
        "table" => {
            for r in &rows {
                let arrow = if r["direction"] == "out" {
                    "→"
                } else {
                    "←"
                };
                println!(
                    "{}  {:<7} {arrow} {:<12} {:>14}  {:<15} {}",
                    cell(r, "time"),
                    cell(r, "kind"),
                    cell(r, "counterparty"),
                    cell(r, "amount"),
                    cell(r, "state"),
                    cell(r, "note")
                );
            }
        }
        other => bail!("unknown format {other:?}: table, csv or json"),
    }
    Ok(())
}

/// RFC 4180 quoting, with a leading quote against spreadsheet formula injection.
fn csv_cell(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// Shows the receipt of a payment (by payment id or receipt id); `--verify` checks the node's
/// signature against the pinned node key, offline.
pub fn receipt(wallet: &mut Wallet, id: &str, verify: bool, out: Out) -> Result<()> {
    // Works offline from the local store; a sync first only adds what is new.
    let _ = wallet.sync();
    let store = wallet.load_store()?;
    let receipt = store
        .messages
        .values()
        .filter_map(|d| d.message.receipt.as_ref())
        .find(|r| r.transfer_id == id || r.message_id == id)
        .with_context(|| format!("no receipt for {id} in this wallet"))?
        .clone();
    let node_key = wallet.client.node_key().expect("wallets pin the node key");
    let valid = receipt.verify(&node_key).is_ok();
    if verify && !valid {
        bail!(
            "receipt {} does NOT verify with the node key {}",
            receipt.transfer_id,
            node_key.fingerprint()
        );
    }
    let mut value = serde_json::to_value(&receipt).expect("serialisable");
    if verify {
        value["verified"] = json!(valid);
    }
    out.print(&value, || {
        let check = if verify {
            format!("\nsignature valid (node key {})", node_key.fingerprint())
        } else {
            String::new()
        };
        format!(
            "receipt {}\n{} paid {} {} at {}\nfor message {}{check}",
            receipt.transfer_id,
            receipt.payer,
            receipt.payee,
            receipt.amount,
            show_time(receipt.time_ms),
            receipt.message_id
        )
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_and_parse_in_utc() {
        assert_eq!(show_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(show_time(1_767_225_600_000), "2026-01-01 00:00:00 UTC");
        assert_eq!(show_time(951_827_696_000), "2000-02-29 12:34:56 UTC");
        assert_eq!(parse_at("2026-01-01T00:00Z").unwrap(), 1_767_225_600_000);
        assert_eq!(parse_at("2000-02-29T12:34:56Z").unwrap(), 951_827_696_000);
        for bad in [
            "tomorrow",
            "2026-13-01T00:00Z",
            "2026-01-01T24:00Z",
            "2026-01-01T00:00",
            "",
        ] {
            assert!(parse_at(bad).is_err(), "{bad:?}");
        }
        let soon = parse_at("2h").unwrap();
        assert!(soon > now_ms() + 7_000_000 && soon <= now_ms() + 7_200_000);
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        for bad in ["7", "d", "1w", "-1h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("lunch"), "lunch");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("-5"), "'-5");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
