//! Conversations: saying something, what is new (`inbox`, `listen`), the list of conversations
//! (`chats`) and one read back in order (`thread`). Read markers live on the node, so every
//! device agrees on what is unread.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use chit_client::history::payment_states;
use chit_client::ids::short;
use chit_client::wallet::Wallet;
use chit_client::{Event, Page};
use chit_proto::api::{direct_conversation, Delivery, Envelope};
use chit_proto::PaymentId;
use serde_json::{json, Value};

use super::{ensure_session, handle, item_json, recipient, render, show_time};
use crate::out::say;
use crate::out::Out;

/// Most messages `thread` shows.
const THREAD_LIMIT_MAX: usize = 10_000;

pub fn say(wallet: &mut Wallet, to: &str, text: &str, out: Out) -> Result<()> {
    let to = handle(to)?;
    ensure_session(wallet)?;
    let id = chit_client::new_id();
    let request = wallet
        .client
        .seal_say(&wallet.identity, &to, text.as_bytes(), &id)?;
    let sent = wallet.with_session(|w| w.client.post_request(&request))?;
    out.print(
        &json!({"id": sent.id, "short_id": short(&sent.id), "to": to.to_string(), "conversation": sent.conversation}),
        || format!("sent to {to} (id {})", short(&sent.id)),
    );
    Ok(())
}

/// Where each payment stands by what this wallet has seen.
fn states(wallet: &Wallet) -> Result<BTreeMap<PaymentId, String>> {
    let store = wallet.load_store()?;
    Ok(payment_states(&store)
        .into_iter()
        .map(|(id, p)| (id, p.state.to_string()))
        .collect())
}

fn print_items(wallet: &Wallet, items: &[&Envelope], out: Out) -> Result<()> {
    let states = states(wallet)?;
    let state = |m: &Envelope| {
        m.payment
            .as_ref()
            .and_then(|p| states.get(&p.payment).cloned())
            .unwrap_or_else(|| "delivered".into())
    };
    if out.json {
        let items: Vec<Value> = items
            .iter()
            .map(|m| item_json(wallet, m, &state(m)))
            .collect();
        say!("{}", json!({ "items": items }));
    } else if items.is_empty() {
        say!("nothing new");
    } else {
        for m in items {
            say!("{}", render(wallet, m, Some(&state(m)), out));
        }
    }
    Ok(())
}

/// What others sent: one's own messages (and the updates one's own decisions made) are not
/// news.
fn from_others<'a>(wallet: &Wallet, fresh: &'a [Delivery]) -> Vec<&'a Envelope> {
    fresh
        .iter()
        .map(|d| &d.message)
        .filter(|m| m.sender != wallet.identity.handle)
        .collect()
}

/// Moves the node's read markers past what was just shown (best effort: showing succeeded).
fn mark_shown(wallet: &mut Wallet, shown: &[&Envelope]) {
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for m in shown {
        let seq = last.entry(m.conversation.as_str()).or_insert(0);
        *seq = (*seq).max(m.seq);
    }
    for (conversation, seq) in last {
        let _ = wallet.with_session(|w| w.client.mark_read(conversation, seq));
    }
}

/// Syncs the mailbox and shows what the inbox has not shown yet (another command may have
/// synced it: it is still new to the person); with `wait`, waits up to that long for something.
pub fn inbox(wallet: &mut Wallet, wait: Option<u64>, out: Out) -> Result<()> {
    wallet.sync()?;
    let mut unshown = wallet.unshown()?;
    if from_others(wallet, &unshown).is_empty() {
        if let Some(secs) = wait.filter(|s| *s > 0) {
            let mut listener = wallet.with_session(|w| w.client.listen())?;
            // Anything that arrived between the sync and the subscription is caught by this one.
            wallet.sync()?;
            unshown = wallet.unshown()?;
            let deadline = std::time::Instant::now() + Duration::from_secs(secs);
            while from_others(wallet, &unshown).is_empty() {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                listener.set_timeout(Some(left))?;
                if listener.next_event().is_err() {
                    break;
                }
                wallet.sync()?;
                unshown = wallet.unshown()?;
            }
        }
    }
    let shown = from_others(wallet, &unshown);
    print_items(wallet, &shown, out)?;
    mark_shown(wallet, &shown);
    if let Some(last) = unshown.last() {
        wallet.mark_inbox_shown(last.cursor)?;
    }
    Ok(())
}

/// Prints messages as they arrive until interrupted.
pub fn listen(wallet: &mut Wallet, out: Out) -> Result<()> {
    wallet.sync()?;
    let backlog = wallet.unshown()?;
    print_items(wallet, &from_others(wallet, &backlog), out)?;
    if let Some(last) = backlog.last() {
        wallet.mark_inbox_shown(last.cursor)?;
    }
    let mut listener = wallet.with_session(|w| w.client.listen())?;
    loop {
        let fresh = match listener.next_event()? {
            Event::Delivery(d) if wallet.remember(&d)? => vec![*d],
            Event::Delivery(_) => continue,
            Event::Resync => wallet.sync()?,
        };
        let shown = from_others(wallet, &fresh);
        if !shown.is_empty() {
            print_items(wallet, &shown, out)?;
        }
        if let Some(last) = fresh.iter().map(|d| d.cursor).max() {
            wallet.mark_inbox_shown(last)?;
        }
    }
}

/// The conversations, most recent first: from the node (with unread counts), or from this
/// wallet's store when the node is down.
pub fn chats(wallet: &mut Wallet, limit: usize, out: Out) -> Result<()> {
    let me = wallet.identity.handle.clone();
    let rows: Vec<(Option<u64>, Envelope)> =
        match wallet.with_session(|w| w.client.conversations(limit)) {
            Ok(list) => list
                .conversations
                .into_iter()
                .map(|c| (Some(c.unread), c.last))
                .collect(),
            Err(e) => {
                eprintln!("note: showing what this wallet has stored, without unread counts ({e})");
                let store = wallet.load_store()?;
                let mut last: BTreeMap<String, Envelope> = BTreeMap::new();
                for d in store.messages.values() {
                    let m = &d.message;
                    if last.get(&m.conversation).is_none_or(|l| l.seq < m.seq) {
                        last.insert(m.conversation.clone(), m.clone());
                    }
                }
                let mut rows: Vec<_> = last.into_values().map(|m| (None, m)).collect();
                rows.sort_by_key(|(_, m)| std::cmp::Reverse(m.time_ms));
                rows.truncate(limit);
                rows
            }
        };
    let other = |m: &Envelope| {
        let to = recipient(m).unwrap_or_else(|| me.clone());
        if m.sender == me {
            to
        } else {
            m.sender.clone()
        }
    };
    if out.json {
        let items: Vec<Value> = rows
            .iter()
            .map(|(unread, m)| {
                json!({"with": other(m).to_string(), "conversation": m.conversation, "unread": unread,
                       "last": item_json(wallet, m, &m.payment.as_ref().map_or("delivered".into(), |p| p.state.to_string()))})
            })
            .collect();
        say!("{}", json!({ "chats": items }));
        return Ok(());
    }
    if rows.is_empty() {
        say!("no conversations yet (start one with `chit say @someone \"hi\"`)");
    }
    for (unread, m) in &rows {
        let unread = match unread {
            Some(0) => "        ".to_owned(),
            Some(n) => out.paint("1", &format!("{n:>3} new  ")),
            None => "        ".to_owned(),
        };
        say!(
            "{:<16} {unread}{}  {}{}",
            out.paint("1", &other(m).to_string()),
            out.paint("2", &show_time(m.time_ms)),
            if m.sender == me { "you: " } else { "" },
            summary(wallet, m)
        );
    }
    Ok(())
}

/// One conversation in order, each payment with its state now; marks it read.
pub fn thread(wallet: &mut Wallet, with: &str, limit: usize, out: Out) -> Result<()> {
    let other = handle(with)?;
    let limit = limit.clamp(1, THREAD_LIMIT_MAX);
    let conversation = direct_conversation(&wallet.identity.handle, &other);
    let items: Vec<(Envelope, Option<String>)> = match fetch_thread(wallet, &conversation, limit) {
        Ok(items) => items,
        Err(e) => {
            eprintln!("note: showing what this wallet has stored ({e})");
            let store = wallet.load_store()?;
            let states = payment_states(&store);
            let mut items: Vec<_> = store
                .messages
                .values()
                .filter(|d| d.message.conversation == conversation)
                .map(|d| {
                    let state = d.message.payment.as_ref().and_then(|p| {
                        matches!(d.message.kind.as_str(), "offer" | "request")
                            .then(|| states.get(&p.payment).map(|s| s.state.to_string()))
                            .flatten()
                    });
                    (d.message.clone(), state)
                })
                .collect();
            items.sort_by_key(|(m, _)| m.seq);
            let skip = items.len().saturating_sub(limit);
            items.split_off(skip)
        }
    };
    if let Some((last, _)) = items.last() {
        let seq = last.seq;
        let _ = wallet.with_session(|w| w.client.mark_read(&conversation, seq));
    }
    if out.json {
        let items: Vec<Value> = items
            .iter()
            .map(|(m, state)| {
                let state = state
                    .clone()
                    .or_else(|| m.payment.as_ref().map(|p| p.state.to_string()));
                item_json(wallet, m, state.as_deref().unwrap_or("delivered"))
            })
            .collect();
        say!(
            "{}",
            json!({"conversation": conversation, "with": other.to_string(), "items": items})
        );
        return Ok(());
    }
    if items.is_empty() {
        say!("nothing with {other} yet");
    }
    for (m, state) in &items {
        say!("{}", render(wallet, m, state.as_deref(), out));
    }
    Ok(())
}

/// The last `limit` messages of a conversation from the node, oldest first, a page at a time.
fn fetch_thread(
    wallet: &mut Wallet,
    conversation: &str,
    limit: usize,
) -> Result<Vec<(Envelope, Option<String>)>> {
    const PAGE: usize = 500;
    let mut items = Vec::new();
    let mut page = Page::Newest;
    loop {
        let want = (limit - items.len()).min(PAGE);
        let got = wallet.with_session(|w| w.client.conversation(conversation, page, want));
        let got = match got {
            Err(e) if e.code() == Some("unknown_conversation") => return Ok(Vec::new()),
            other => other?,
        };
        let full = got.items.len() == want;
        let first = got.items.first().map(|i| i.message.seq);
        let mut batch: Vec<_> = got
            .items
            .into_iter()
            .map(|i| (i.message, i.state))
            .collect();
        batch.append(&mut items);
        items = batch;
        match first {
            Some(seq) if full && items.len() < limit && seq > 1 => page = Page::Before(seq),
            _ => return Ok(items),
        }
    }
}

/// A message in a few words, for the list of conversations.
fn summary(wallet: &Wallet, m: &Envelope) -> String {
    let text = wallet.open_text(m).filter(|t| !t.is_empty());
    match (&m.payment, text) {
        (None, Some(t)) => format!("\"{t}\""),
        (None, None) => "(a message this wallet cannot open)".into(),
        (Some(p), _) if m.kind == "payment_update" => {
            format!("{} {} {}", p.kind, p.amount, p.state)
        }
        (Some(p), t) => format!(
            "{} {}{}",
            m.kind,
            p.amount,
            t.map(|t| format!(" \"{t}\"")).unwrap_or_default()
        ),
    }
}
