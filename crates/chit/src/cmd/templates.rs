//! Invoice templates, kept in the wallet only (their notes are private): what `chit request
//! --template NAME` fills in.

use anyhow::{bail, Result};
use chit_client::wallet::Wallet;
use serde_json::json;

use super::parse_duration;
use crate::out::Out;

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
            super::check_amount(&amount)?;
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
