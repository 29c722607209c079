//! `chit device …` and `chit offline …`: a software device on this computer (see
//! `chit_client::offline`), paying and being paid with no network, and claiming when back
//! online. Requests and vouchers print as `chit://` text and as a QR code; `--json` prints
//! the same as data.

use anyhow::{bail, Result};
use chit_client::offline::{OfflineError, OfflineWallet, Taken};
use chit_client::wallet::Wallet;
use chit_client::Client;
use chit_core::{Amount, Currencies, Currency, CurrencyCode};
use chit_offline::api::{ClaimOutcome, DeviceInfo};
use chit_offline::revocation::Freshness;
use chit_offline::uri;
use chit_proto::{b64, Action};
use serde_json::json;

use crate::cli::{DeviceCmd, OfflineCmd};
use crate::out::Out;

/// An offline error with the SDK's own error kept, so its code is printed.
fn lift(e: OfflineError) -> anyhow::Error {
    match e {
        OfflineError::Client(c) => c.into(),
        OfflineError::Wallet(w) => w.into(),
        other => anyhow::anyhow!(other),
    }
}

fn offline_wallet(wallet: &Wallet) -> OfflineWallet {
    OfflineWallet::new(wallet.dir(), wallet.identity.clone())
}

/// Logs in if needed (the offline routes need a session).
fn online(wallet: &mut Wallet) -> Result<()> {
    wallet.with_session(|w| w.client.devices().map(drop))?;
    Ok(())
}

/// The currency amounts are read in: as last heard from the node, else asked now.
fn currency(wallet: &mut Wallet, ow: &OfflineWallet) -> Result<Currency> {
    if let Some((code, decimals)) = ow.book().map_err(lift)?.currency {
        return Ok(Currency::new(CurrencyCode::new(&code)?, decimals)?);
    }
    let info = wallet.client.node_info()?;
    let c = info
        .currencies
        .iter()
        .find(|c| c.code == info.default_currency)
        .ok_or_else(|| anyhow::anyhow!("the node names no default currency"))?;
    ow.remember_currency(&c.code, c.decimals).map_err(lift)?;
    Ok(Currency::new(CurrencyCode::new(&c.code)?, c.decimals)?)
}

fn minor_of(text: &str, currency: Currency) -> Result<u64> {
    super::check_amount(text)?;
    let currencies = Currencies::new(vec![currency], currency.code())?;
    Ok(Amount::parse_positive(text, &currencies)?.minor())
}

fn show(minor: u64, currency: Currency) -> String {
    Amount::from_minor(currency, minor).map_or_else(|_| minor.to_string(), |a| a.to_string())
}

/// A QR code of `text` in block characters, for a phone's camera.
fn qr(text: &str) -> String {
    use qrcode::render::unicode::Dense1x2;
    qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L)
        .map(|code| code.render::<Dense1x2>().quiet_zone(true).build())
        .unwrap_or_else(|_| "(too long for a QR code; hand over the text)".into())
}

fn short_key(key: &chit_proto::IdentityKey) -> String {
    b64::encode(key.as_bytes())[..8].to_owned()
}

fn device_line(d: &DeviceInfo, currency: Currency) -> String {
    let mut line = format!(
        "{} {:<16} {:<8} holds {} (at most {}, {} a voucher)",
        short_key(&d.certificate.device_key),
        d.label,
        d.status.as_str(),
        show(d.held, currency),
        show(d.certificate.holding_limit, currency),
        show(d.certificate.voucher_limit, currency),
    );
    if let Some(reason) = &d.reason {
        line.push_str(&format!(" — {reason}"));
    }
    line
}

pub fn device(wallet: &mut Wallet, op: &DeviceCmd, out: Out) -> Result<()> {
    let ow = offline_wallet(wallet);
    online(wallet)?;
    let currency = currency(wallet, &ow)?;
    match op {
        DeviceCmd::Add { label } => {
            let info = ow.add_device(&wallet.client, label).map_err(lift)?;
            out.print(&serde_json::to_value(&info)?, || {
                format!("device added: {}\nsoftware devices may hold at most {} and pay at most {} at once", device_line(&info, currency), show(info.certificate.holding_limit, currency), show(info.certificate.voucher_limit, currency))
            });
        }
        DeviceCmd::List => {
            let list = wallet.client.devices()?;
            let here = ow.local_devices().map_err(lift)?;
            out.print(&serde_json::to_value(&list)?, || {
                if list.devices.is_empty() {
                    return "no devices (add one with `chit device add`)".into();
                }
                list.devices
                    .iter()
                    .map(|d| {
                        let on = if here.contains(&d.certificate.device_key) {
                            " (this computer)"
                        } else {
                            ""
                        };
                        format!("{}{on}", device_line(d, currency))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        DeviceCmd::Retire { device, force } => retire(wallet, &ow, device, *force, currency, out)?,
    }
    Ok(())
}

fn retire(
    wallet: &mut Wallet,
    ow: &OfflineWallet,
    which: &str,
    force: bool,
    currency: Currency,
    out: Out,
) -> Result<()> {
    let list = wallet.client.devices()?;
    let matching: Vec<_> = list
        .devices
        .iter()
        .filter(|d| b64::encode(d.certificate.device_key.as_bytes()).starts_with(which))
        .collect();
    let [d] = matching.as_slice() else {
        bail!(
            "{} of your devices match {which:?}: give more of its key (chit device list)",
            matching.len()
        );
    };
    let key = d.certificate.device_key;
    if let Ok(file) = ow.device(Some(&b64::encode(key.as_bytes()))) {
        if file.state.balance > 0 && !force {
            bail!("the device still holds {}: withdraw it first (chit offline withdraw), or retire with --force", show(file.state.balance, currency));
        }
    }
    let signed = Client::sign(&wallet.identity, Action::RetireDevice { device: key });
    let info = wallet.client.retire_device(&signed)?;
    if ow.local_devices().map_err(lift)?.contains(&key) {
        ow.forget(&key).map_err(lift)?;
    }
    out.print(&serde_json::to_value(&info)?, || {
        format!("retired: {}", device_line(&info, currency))
    });
    Ok(())
}

pub fn offline(wallet: &mut Wallet, op: &OfflineCmd, out: Out) -> Result<()> {
    let ow = offline_wallet(wallet);
    match op {
        OfflineCmd::Deposit { amount, device } => {
            super::check_amount(amount)?;
            online(wallet)?;
            let amount = wallet.client.canonical_amount(amount)?;
            let mut file = ow.device(device.as_deref()).map_err(lift)?;
            let answer = ow
                .deposit(&wallet.client, &mut file, &amount)
                .map_err(lift)?;
            let currency = currency(wallet, &ow)?;
            out.print(&json!({"deposited": amount, "device_balance": file.state.balance, "confirmation": answer.confirmation}), || {
                format!("deposited {amount}; the device holds {}", show(file.state.balance, currency))
            });
        }
        OfflineCmd::Withdraw { amount, device } => {
            online(wallet)?;
            let currency = currency(wallet, &ow)?;
            let minor = minor_of(amount, currency)?;
            let mut file = ow.device(device.as_deref()).map_err(lift)?;
            let answer = ow
                .withdraw(&wallet.client, &mut file, minor)
                .map_err(lift)?;
            let paid: u64 = answer.withdrawals.iter().map(|c| c.amount).sum();
            out.print(&json!({"withdrawn": paid, "device_balance": file.state.balance, "withdrawals": answer.withdrawals}), || {
                let mut line = format!("withdrew {} to your online balance; the device holds {}", show(paid, currency), show(file.state.balance, currency));
                if paid < minor {
                    line.push_str(&format!("\nthe node credited {} of {}: {}", show(paid, currency), show(minor, currency), answer.fraud.as_deref().unwrap_or("the device holds less than it says")));
                }
                line
            });
        }
        OfflineCmd::Balance { device } => balance(wallet, &ow, device.as_deref(), out)?,
        OfflineCmd::Request { amount } => request(wallet, &ow, amount, out)?,
        OfflineCmd::Pay { request, device } => pay(wallet, &ow, request, device.as_deref(), out)?,
        OfflineCmd::Receive { voucher } => receive(wallet, &ow, voucher, out)?,
        OfflineCmd::Claim => claim(wallet, &ow, out)?,
        OfflineCmd::Collect { device } => {
            let currency = currency(wallet, &ow)?;
            let mut file = ow.device(device.as_deref()).map_err(lift)?;
            let total = ow.collect(&mut file).map_err(lift)?;
            out.print(&json!({"collected": total, "device_balance": file.state.balance}), || {
                format!("collected {} onto the device; it holds {} (the node learns of it at the next sync)", show(total, currency), show(file.state.balance, currency))
            });
        }
        OfflineCmd::Sync { device } => {
            online(wallet)?;
            let currency = currency(wallet, &ow)?;
            let mut file = ow.device(device.as_deref()).map_err(lift)?;
            let answer = ow.sync(&wallet.client, &mut file).map_err(lift)?;
            out.print(&serde_json::to_value(&answer)?, || {
                let mut line = format!("synced: {}", device_line(&answer.device, currency));
                if let Some(fraud) = &answer.fraud {
                    line.push_str(&format!("\nthe node revoked this device: {fraud}"));
                }
                line
            });
        }
    }
    Ok(())
}

fn balance(wallet: &mut Wallet, ow: &OfflineWallet, device: Option<&str>, out: Out) -> Result<()> {
    let currency = currency(wallet, ow)?;
    let book = ow.book().map_err(lift)?;
    let waiting: u64 = book
        .received
        .iter()
        .filter(|r| r.status == Taken::Received)
        .map(|r| r.voucher.entry.entry.delta().unsigned_abs() as u64)
        .sum();
    let file = match ow.local_devices().map_err(lift)?.is_empty() {
        true => None,
        false => Some(ow.device(device).map_err(lift)?),
    };
    let list_age = book
        .revocations
        .as_ref()
        .map(|l| l.freshness(super::now_ms()));
    out.print(
        &json!({
            "device_balance": file.as_ref().map(|f| f.state.balance),
            "holding_limit": file.as_ref().map(|f| f.state.certificate.holding_limit),
            "voucher_limit": file.as_ref().map(|f| f.state.certificate.voucher_limit),
            "unsynced_entries": file.as_ref().map(|f| f.unsynced.len()),
            "to_claim": waiting,
            "revocation_list_stale": !matches!(list_age, Some(Freshness::Current)),
        }),
        || {
            let mut lines = Vec::new();
            match &file {
                Some(f) => lines.push(format!(
                    "the device holds {} (at most {}, {} a voucher); {} entries not yet synced",
                    show(f.state.balance, currency),
                    show(f.state.certificate.holding_limit, currency),
                    show(f.state.certificate.voucher_limit, currency),
                    f.unsynced.len()
                )),
                None => lines.push("no device on this computer (chit device add)".into()),
            }
            lines.push(format!("received, not yet claimed: {}", show(waiting, currency)));
            if !matches!(list_age, Some(Freshness::Current)) {
                lines.push("warning: your revocation list is old or missing: run `chit offline sync` or `chit offline claim` when online".into());
            }
            lines.join("\n")
        },
    );
    Ok(())
}

fn request(wallet: &mut Wallet, ow: &OfflineWallet, amount: &str, out: Out) -> Result<()> {
    let currency = currency(wallet, ow)?;
    let minor = minor_of(amount, currency)?;
    let request = ow.request(minor, currency.code().as_str()).map_err(lift)?;
    let text = uri::request_uri(&request);
    out.print(
        &json!({"request": text, "amount": show(minor, currency)}),
        || {
            format!(
                "{}\n{text}\nthe payer runs: chit offline pay {text}",
                qr(&text)
            )
        },
    );
    Ok(())
}

fn pay(
    wallet: &mut Wallet,
    ow: &OfflineWallet,
    text: &str,
    device: Option<&str>,
    out: Out,
) -> Result<()> {
    let currency = currency(wallet, ow)?;
    let request = uri::parse_request(text.trim())?;
    let mut file = ow.device(device).map_err(lift)?;
    let voucher = ow.pay(&mut file, &request).map_err(lift)?;
    let text = uri::voucher_uri(&voucher);
    out.print(&json!({"voucher": text, "paid": show(request.amount, currency), "to": request.receiver, "device_balance": file.state.balance}), || {
        format!(
            "{}\n{text}\npaid {} to @{} from the device (it holds {}); @{} runs: chit offline receive <the text above>",
            qr(&text),
            show(request.amount, currency),
            request.receiver,
            show(file.state.balance, currency),
            request.receiver
        )
    });
    Ok(())
}

fn receive(wallet: &mut Wallet, ow: &OfflineWallet, text: &str, out: Out) -> Result<()> {
    let currency = currency(wallet, ow)?;
    let voucher = uri::parse_voucher(text.trim())?;
    let node_key = wallet
        .client
        .node_key()
        .ok_or_else(|| anyhow::anyhow!("this wallet has no pinned node key"))?;
    let payer = voucher.certificate.owner.clone();
    let (amount, freshness) = ow.receive(&node_key, voucher).map_err(lift)?;
    let stale = !matches!(freshness, Freshness::Current);
    out.print(&json!({"received": show(amount, currency), "from": payer, "revocation_list_stale": stale}), || {
        let mut line = format!("received {} from {payer}, verified offline; claim it when online (chit offline claim)", show(amount, currency));
        if stale {
            line.push_str("\nwarning: your revocation list is old or missing, so a device revoked since would not show");
        }
        line
    });
    Ok(())
}

fn claim(wallet: &mut Wallet, ow: &OfflineWallet, out: Out) -> Result<()> {
    online(wallet)?;
    let currency = currency(wallet, ow)?;
    let answer = ow.claim(&wallet.client).map_err(lift)?;
    ow.refresh_revocations(&wallet.client).map_err(lift)?;
    out.print(&serde_json::to_value(&answer)?, || {
        if answer.results.is_empty() {
            return "nothing to claim".into();
        }
        answer
            .results
            .iter()
            .map(|r| {
                let what = match r.outcome {
                    ClaimOutcome::Claimed => format!("claimed {}", show(r.paid, currency)),
                    ClaimOutcome::AlreadyClaimed => {
                        format!("claimed before: {}", show(r.paid, currency))
                    }
                    ClaimOutcome::Refused => "refused".to_owned(),
                };
                match &r.message {
                    Some(m) => format!("{what} — {m}"),
                    None => what,
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
