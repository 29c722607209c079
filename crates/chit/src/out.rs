//! Output: a readable line or JSON (`--json`), colour only on a terminal and never with
//! `NO_COLOR`, and every error as one line — JSON under `--json` — with its code.

use std::io::IsTerminal;

use chit_client::backup::BackupError;
use chit_client::ids::IdError;
use chit_client::wallet::WalletError;
use chit_client::ClientError;
use serde_json::{json, Value};

/// How every command prints.
#[derive(Clone, Copy)]
pub struct Out {
    pub json: bool,
    /// ANSI colour on: stdout is a terminal, `--json` is off and `NO_COLOR` is unset.
    pub color: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Self {
            json,
            color: !json && !no_color && std::io::stdout().is_terminal(),
        }
    }

    /// Prints `value` under `--json`, else the line `human` makes.
    pub fn print(&self, value: &Value, human: impl FnOnce() -> String) {
        if self.json {
            say!("{value}");
        } else {
            say!("{}", human());
        }
    }

    /// `text` in a colour (an SGR code such as `2` dim, `1` bold, `32` green) when colour is on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A payment state, coloured by what it means: money moved, nothing moved, still open.
    pub fn state(&self, state: &str) -> String {
        let code = match state {
            "accepted" | "paid" | "completed" => "32",
            "declined" | "rejected" | "cancelled" | "expired" | "refunded" => "33",
            "pending" | "scheduled" | "paying" => "36",
            _ => "0",
        };
        self.paint(code, state)
    }

    /// Reports a failed command: one line on stderr, JSON under `--json`.
    pub fn error(&self, e: &anyhow::Error) {
        let message = one_line(&format!("{e:#}"));
        if self.json {
            // The code has its own field; the node's message is given without it.
            let message = match node_error(e) {
                Some((code, text)) => message.replace(&format!("{text} ({code})"), text),
                None => message,
            };
            eprintln!(
                "{}",
                json!({"error": {"code": code(e), "message": message}})
            );
        } else {
            eprintln!("chit: {message}");
        }
    }
}

/// Writes a line to stdout; a reader that went away (`chit history | head`) ends the command
/// quietly instead of with a panic.
pub fn line(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = writeln!(stdout, "{text}") {
        let code = if e.kind() == std::io::ErrorKind::BrokenPipe {
            0
        } else {
            1
        };
        std::process::exit(code);
    }
}

/// `println!` through [`line`].
macro_rules! say {
    ($($t:tt)*) => { $crate::out::line(format_args!($($t)*)) };
}
pub(crate) use say;

/// The node's code and message, when the error is the node's answer.
fn node_error(e: &anyhow::Error) -> Option<(&str, &str)> {
    e.chain().find_map(|cause| {
        let c = cause.downcast_ref::<ClientError>().or_else(|| {
            match cause.downcast_ref::<WalletError>() {
                Some(WalletError::Client(c)) => Some(c),
                _ => None,
            }
        })?;
        match c {
            ClientError::Api { code, message, .. } => Some((code.as_str(), message.as_str())),
            _ => None,
        }
    })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The error's code: the node's when it answered with one, else what kind of failure it was.
fn code(e: &anyhow::Error) -> String {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<ClientError>() {
            return client_code(c);
        }
        if let Some(w) = cause.downcast_ref::<WalletError>() {
            return match w {
                WalletError::Client(c) => client_code(c),
                WalletError::Missing(_) => "no_wallet".into(),
                WalletError::Exists(_) => "wallet_exists".into(),
                WalletError::DamagedKeys { .. } => "damaged_keys".into(),
                WalletError::File { .. } => "wallet_file".into(),
            };
        }
        if let Some(i) = cause.downcast_ref::<IdError>() {
            return match i {
                IdError::NotHex(_) => "bad_id",
                IdError::Unknown { .. } => "unknown_id",
                IdError::Ambiguous { .. } => "ambiguous_id",
            }
            .into();
        }
        if let Some(b) = cause.downcast_ref::<BackupError>() {
            return match b {
                BackupError::WeakPassphrase => "weak_passphrase",
                BackupError::WrongPassphrase => "wrong_passphrase",
                BackupError::NotABackup(_) => "not_a_backup",
                BackupError::Wallet(_) => "wallet_file",
            }
            .into();
        }
    }
    "bad_input".into()
}

fn client_code(c: &ClientError) -> String {
    match c {
        ClientError::Api { code, .. } => code.clone(),
        ClientError::Transport(_) => "unreachable".into(),
        ClientError::Untrusted(_) => "untrusted_node".into(),
        ClientError::NotLoggedIn => "unauthorized".into(),
        ClientError::Seal(_) => "seal_failed".into(),
        ClientError::Amount(_) => "bad_amount".into(),
    }
}

/// RFC 4180 quoting; a cell that is not a number and starts like a formula (`=`, `+`, `-`, `@`)
/// gets a leading quote, so a spreadsheet shows it instead of running it.
pub fn csv_cell(v: &str) -> String {
    let number = v.strip_prefix('-').unwrap_or(v);
    let is_number = !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && number.bytes().filter(|b| *b == b'.').count() <= 1;
    let v = if !is_number && v.starts_with(['=', '+', '-', '@']) && !is_handle(v) {
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

/// `@bob`: a handle holds only letters, digits and `_ . -`, nothing a formula could call.
fn is_handle(v: &str) -> bool {
    chit_proto::Handle::new(v).is_ok_and(|h| h.to_string() == v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(csv_cell("lunch"), "lunch");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("-5"), "-5", "a number stays a number");
        assert_eq!(csv_cell("-12.50"), "-12.50");
        assert_eq!(csv_cell("-x"), "'-x");
        assert_eq!(
            csv_cell("@bob"),
            "@bob",
            "a handle, as every other command writes it"
        );
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }
}
