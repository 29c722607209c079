//! Rails: how money enters and leaves Chit. Each rail verifies an external account before the
//! node stores the link (IMPT's storage flow). The only rail so far is `sandbox`: play money,
//! labelled as such everywhere, that still checks the account reference is a well-formed IBAN.

/// Why a rail refused an account reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RailError {
    #[error("unknown rail {0:?} (the only rail is `sandbox`: play money)")]
    UnknownRail(String),
    #[error("not a valid IBAN: {0}")]
    BadIban(&'static str),
}

/// Verifies `reference` with `rail` and returns its normal form (what is stored).
pub fn verify_account(rail: &str, reference: &str) -> Result<String, RailError> {
    match rail {
        "sandbox" => normalize_iban(reference),
        other => Err(RailError::UnknownRail(other.to_owned())),
    }
}

/// Checks an IBAN's shape and its ISO 13616 mod-97 check digits; returns it without spaces,
/// uppercase.
pub fn normalize_iban(text: &str) -> Result<String, RailError> {
    let iban: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !(15..=34).contains(&iban.len()) {
        return Err(RailError::BadIban("an IBAN has 15 to 34 characters"));
    }
    let bytes = iban.as_bytes();
    if !bytes[..2].iter().all(u8::is_ascii_uppercase) || !bytes[2..4].iter().all(u8::is_ascii_digit)
    {
        return Err(RailError::BadIban(
            "it starts with a country code and two check digits",
        ));
    }
    if !bytes.iter().all(u8::is_ascii_alphanumeric) {
        return Err(RailError::BadIban("only letters and digits"));
    }
    // Move the first four characters to the end, letters become 10..35, remainder mod 97 is 1.
    let rearranged = bytes[4..].iter().chain(&bytes[..4]);
    let mut remainder: u32 = 0;
    for b in rearranged {
        let value = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    if remainder != 1 {
        return Err(RailError::BadIban("the check digits do not match"));
    }
    Ok(iban)
}

/// Shows only the last four characters: enough to recognise, not enough to misuse.
pub fn mask(reference: &str) -> String {
    let tail: String = reference
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_are_verified_by_checksum() {
        assert_eq!(
            normalize_iban("de89 3704 0044 0532 0130 00").unwrap(),
            "DE89370400440532013000"
        );
        assert_eq!(
            normalize_iban("GB82WEST12345698765432").unwrap(),
            "GB82WEST12345698765432"
        );
        for bad in [
            "DE88370400440532013000",
            "DE89",
            "1289370400440532013000",
            "DE89-3704-0044-0532-0130-00",
            "",
        ] {
            assert!(normalize_iban(bad).is_err(), "{bad:?}");
        }
        assert_eq!(mask("DE89370400440532013000"), "…3000");
        assert!(verify_account("paypal", "x").is_err());
    }
}
