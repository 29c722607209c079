//! `chit key export` / `chit key import`: the wallet's keys in a passphrase-encrypted file
//! (see `chit_client::backup`). The passphrase is asked for on the terminal (twice when it is
//! new) or, for scripts, read from `CHIT_PASSPHRASE`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};
use chit_client::backup::{self, Backup};
use serde_json::json;

use crate::out::Out;

fn passphrase(prompt: &str, confirm: bool) -> Result<String> {
    if let Some(p) = std::env::var_os("CHIT_PASSPHRASE") {
        return p
            .into_string()
            .map_err(|_| anyhow::anyhow!("CHIT_PASSPHRASE is not valid UTF-8"));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the passphrase: set CHIT_PASSPHRASE");
    }
    let first = rpassword::prompt_password(prompt).context("read the passphrase")?;
    if confirm {
        let again = rpassword::prompt_password("the same passphrase again: ")
            .context("read the passphrase")?;
        if again != first {
            bail!("the two passphrases differ; nothing was written");
        }
    }
    Ok(first)
}

pub fn export(dir: &Path, file: &Path, out: Out) -> Result<()> {
    if file.exists() {
        bail!(
            "{} exists; choose a new file (a backup never overwrites one)",
            file.display()
        );
    }
    let secret = passphrase(
        &format!(
            "passphrase for the backup (at least {} characters): ",
            backup::PASSPHRASE_CHARS_MIN
        ),
        true,
    )?;
    let sealed = backup::export(dir, &secret)?;
    let text = serde_json::to_vec_pretty(&sealed).expect("serialisable");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(file)
        .with_context(|| format!("create {}", file.display()))?;
    std::io::Write::write_all(&mut f, &text)
        .with_context(|| format!("write {}", file.display()))?;
    f.sync_all()?;
    out.print(
        &json!({"file": file, "handle": format!("@{}", sealed.handle), "format": sealed.format}),
        || {
            format!(
                "keys of @{} written to {}, encrypted; restore them with `chit key import {}`",
                sealed.handle,
                file.display(),
                file.display()
            )
        },
    );
    Ok(())
}

pub fn import(dir: &Path, file: &Path, out: Out) -> Result<()> {
    let text = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    let sealed: Backup = serde_json::from_slice(&text)
        .map_err(|e| backup::BackupError::NotABackup(e.to_string()))
        .with_context(|| format!("{}", file.display()))?;
    let secret = passphrase(
        &format!("passphrase of the backup of @{}: ", sealed.handle),
        false,
    )?;
    let handle = backup::import(dir, &sealed, &secret)?;
    out.print(&json!({"handle": handle, "wallet": dir}), || {
        format!(
            "restored {handle} into {}; the next command logs in and fetches your messages",
            dir.display()
        )
    });
    Ok(())
}
