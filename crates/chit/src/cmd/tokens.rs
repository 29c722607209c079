//! API tokens: let another program act for you within a scope, listed and revoked by key.

use anyhow::{bail, Result};
use chit_client::wallet::Wallet;
use chit_client::Client;
use chit_proto::Action;
use serde_json::json;

use super::{now_ms, parse_duration, show_time};
use crate::out::Out;

/// Makes an API token: a signed grant of its derived key, then the token, shown once.
pub fn create(
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

pub fn list(wallet: &mut Wallet, out: Out) -> Result<()> {
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

/// Revokes by the whole key or a unique prefix of one of the listed keys (keys are base64url,
/// so one may begin with `-`).
pub fn revoke(wallet: &mut Wallet, given: &str, out: Out) -> Result<()> {
    let listed = wallet.with_session(|w| w.client.api_keys())?;
    let matching: Vec<_> = listed
        .keys
        .iter()
        .filter(|k| k.key.to_string().starts_with(given))
        .collect();
    let key = match matching.as_slice() {
        [one] => one.key,
        [] => given.parse().map_err(|_| {
            anyhow::anyhow!("no token key {given:?} of yours (see `chit token list`)")
        })?,
        many => bail!(
            "{given:?} matches {} token keys: type more of it",
            many.len()
        ),
    };
    let signed = Client::sign(&wallet.identity, Action::Revoke { key });
    let revoked = wallet.with_session(|w| w.client.manage_key(&signed))?;
    out.print(
        &serde_json::to_value(&revoked).expect("serialisable"),
        || format!("revoked {}", revoked.key),
    );
    Ok(())
}
