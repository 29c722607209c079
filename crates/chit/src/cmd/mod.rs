//! The wallet commands, one room per concern: money in and out, payments, conversations,
//! history and receipts, tokens, templates, key backups. Each parses what it was given, calls
//! the SDK and prints; what they share is here.

pub mod chat;
pub mod history;
pub mod keys;
pub mod money;
pub mod offline;
pub mod pay;
pub mod templates;
pub mod tokens;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use chit_client::ids::{resolve, short};
use chit_client::wallet::Wallet;
use chit_proto::api::Envelope;
use chit_proto::{Handle, PaymentId};
use serde_json::{json, Value};

use crate::out::Out;

pub fn handle(text: &str) -> Result<Handle> {
    Handle::new(text).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Refuses what can never be an amount before asking the node (which checks the rest): a
/// negative one above all, which would otherwise read as a flag.
pub fn check_amount(text: &str) -> Result<()> {
    if text.starts_with('-') {
        bail!("an amount is positive, e.g. 5, 12.50 or EUR:12.50 (got {text:?})");
    }
    Ok(())
}

/// Parses `90s`, `30m`, `24h`, `7d`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || {
        anyhow::anyhow!(
            "bad duration {text:?}: a number and a unit, s m h or d (e.g. 30m, 24h, 7d)"
        )
    };
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

pub use chit_client::now_ms;

/// A moment: a duration from now (`2h`), or a date or time with its offset (see
/// [`chit_core::parse_time`]); `ago` counts the duration back instead.
pub fn parse_moment(text: &str, ago: bool) -> Result<u64> {
    if let Ok(d) = parse_duration(text) {
        let ms = d.as_millis() as u64;
        return Ok(if ago {
            now_ms().saturating_sub(ms)
        } else {
            now_ms() + ms
        });
    }
    chit_core::parse_time(text).map_err(|e| anyhow::anyhow!("{e}, or a duration such as 2h or 7d"))
}

pub fn show_time(ms: u64) -> String {
    chit_core::show_utc(ms)
}

/// The full id of a payment this wallet has seen, from what the person typed.
pub fn payment_id(wallet: &mut Wallet, given: &str) -> Result<PaymentId> {
    let _ = wallet.sync();
    let store = wallet.load_store()?;
    let ids = store
        .messages
        .values()
        .filter(|d| matches!(d.message.kind.as_str(), "offer" | "request"))
        .map(|d| PaymentId::from(d.message.id));
    Ok(resolve(given, ids, "payment")?)
}

/// Who a message went to: the other member of its direct conversation (oneself, for a note
/// to self).
pub fn recipient(m: &Envelope) -> Option<Handle> {
    let (a, b) = m.conversation.strip_prefix("direct:")?.split_once(':')?;
    let other = if a == m.sender.as_str() { b } else { a };
    Handle::new(other).ok()
}

fn who(me: &Handle, h: &Handle) -> String {
    if h == me {
        "you".into()
    } else {
        h.to_string()
    }
}

/// One message as a line for a terminal: when, its short id, who wrote to whom, what it says;
/// an offer or request with `state` (its state now) and what the reader can do with it.
pub fn render(wallet: &Wallet, m: &Envelope, state: Option<&str>, out: Out) -> String {
    let me = &wallet.identity.handle;
    let to = recipient(m).unwrap_or_else(|| me.clone());
    let head = format!(
        "{}  {}  {} → {}:",
        out.paint("2", &show_time(m.time_ms)),
        out.paint("2", short(&m.id)),
        who(me, &m.sender),
        who(me, &to)
    );
    let text = wallet
        .open_text(m)
        .filter(|t| !t.is_empty())
        .map(|t| format!(" \"{t}\""))
        .unwrap_or_default();
    let Some(p) = &m.payment else {
        return format!("{head}{text}");
    };
    let state = state.unwrap_or(p.state.as_str());
    if m.kind == "payment_update" {
        let why = p
            .reason
            .as_deref()
            .map(|r| format!(" — {r}"))
            .unwrap_or_default();
        let what = match (&m.receipt, p.pay_at_ms) {
            (Some(r), _) => format!("{} (signed receipt {})", r.describe(), short(&m.id)),
            (None, Some(at)) if p.state == "scheduled" => {
                format!("{} {} scheduled for {}", p.kind, p.amount, show_time(at))
            }
            (None, _) => format!("{} {} {}", p.kind, p.amount, out.state(p.state.as_str())),
        };
        return format!("{head} {what}{why} [{}]", short(&p.payment));
    }
    let s = short(&m.id);
    let hint = match (m.kind.as_str(), state, &p.payee == me, &p.payer == me) {
        ("offer", "pending", true, _) => format!("  → chit accept {s} | chit decline {s}"),
        ("offer", "pending", _, true) => format!("  → chit cancel {s}"),
        ("request", "pending" | "scheduled", _, true) => {
            format!("  → chit pay {s} [--at TIME] | chit reject {s}")
        }
        ("request", "pending" | "scheduled", true, _) => format!("  → chit cancel {s}"),
        _ => String::new(),
    };
    let when = match (state, p.pay_at_ms) {
        ("scheduled", Some(at)) => format!(" for {}", show_time(at)),
        _ => String::new(),
    };
    format!(
        "{head} {} {} [{}{when}]{text}{}",
        m.kind,
        out.paint("1", &p.amount),
        out.state(state),
        out.paint("2", &hint)
    )
}

/// One message as JSON: what `inbox`, `listen` and `thread` print under `--json`.
pub fn item_json(wallet: &Wallet, m: &Envelope, state: &str) -> Value {
    let mut item = json!({
        "id": m.id,
        "short_id": short(&m.id),
        "kind": m.kind,
        "conversation": m.conversation,
        "seq": m.seq,
        "from": m.sender.to_string(),
        "to": recipient(m).map(|h| h.to_string()),
        "state": state,
        "time": chit_core::iso8601(m.time_ms),
    });
    if let Some(p) = &m.payment {
        item["amount"] = json!(p.amount);
        item["payment"] = json!(p.payment);
        item["payer"] = json!(p.payer.to_string());
        item["payee"] = json!(p.payee.to_string());
        if let Some(r) = &p.reason {
            item["reason"] = json!(r);
        }
        if let Some(at) = p.pay_at_ms {
            item["pay_at"] = json!(chit_core::iso8601(at));
        }
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

/// Sealing looks up the recipient's keys, which needs a session.
pub fn ensure_session(wallet: &mut Wallet) -> Result<()> {
    if wallet.client.token().is_none() {
        wallet.login()?;
    }
    Ok(())
}

pub fn whoami(wallet: &Wallet, out: Out) -> Result<()> {
    let key = wallet
        .client
        .node_key()
        .context("wallets pin the node key")?;
    out.print(
        &json!({"handle": wallet.identity.handle.to_string(), "node": wallet.node_url(), "node_fingerprint": key.fingerprint(),
                "identity_key": wallet.identity.identity.public().to_string(), "wallet": wallet.dir()}),
        || format!("{} at {} (node key {}), wallet {}", wallet.identity.handle, wallet.node_url(), key.fingerprint(), wallet.dir().display()),
    );
    Ok(())
}

pub fn register(dir: &std::path::Path, node: &str, name: &str, out: Out) -> Result<()> {
    let wallet = Wallet::register(dir, node, handle(name)?)?;
    let key = wallet.client.node_key().context("pinned at registration")?;
    let node = wallet.node_url();
    out.print(
        &json!({"handle": wallet.identity.handle.to_string(), "node": node, "node_fingerprint": key.fingerprint()}),
        || format!("registered {} at {node} (node key {})\nback up your keys now: chit key export FILE (without them the handle is lost)", wallet.identity.handle, key.fingerprint()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn moments_are_durations_or_times_with_an_offset() {
        assert_eq!(
            parse_moment("2026-01-01T00:00Z", false).unwrap(),
            1_767_225_600_000
        );
        assert_eq!(
            parse_moment("2026-01-01", false).unwrap(),
            1_767_225_600_000
        );
        let soon = parse_moment("2h", false).unwrap();
        assert!(soon > now_ms() + 7_000_000 && soon <= now_ms() + 7_200_000);
        let back = parse_moment("1d", true).unwrap();
        assert!(back < now_ms() - 86_000_000);
        let e = parse_moment("tomorrow", false).unwrap_err().to_string();
        assert!(e.contains("2026-12-01T09:00Z") && e.contains("2h"), "{e}");
        assert!(
            parse_moment("2026-01-01T00:00", false).is_err(),
            "no offset, no moment"
        );
    }
}
