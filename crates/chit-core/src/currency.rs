//! Currencies: a validated code plus the fixed number of decimals its minor units carry.
//!
//! A node serves a configured set of currencies ([`Currencies`]); text amounts are parsed against
//! that set, so an amount in a currency the node does not know can never be constructed.

use std::fmt;
use std::str::FromStr;

/// Longest currency code accepted (GNU Taler allows up to 11 letters, e.g. `KUDOS`).
pub const CURRENCY_CODE_LEN_MAX: usize = 11;
/// Most decimals a currency may have; 10^18 still fits comfortably in an `i64` minor amount.
pub const DECIMALS_MAX: u8 = 18;

/// A currency code: 1 to 11 ASCII uppercase letters (`EUR`, `USD`, `KUDOS`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CurrencyCode {
    len: u8,
    bytes: [u8; CURRENCY_CODE_LEN_MAX],
}

/// Why a currency code or definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("currency code must be 1 to {CURRENCY_CODE_LEN_MAX} uppercase letters A-Z, got {0:?}")]
    InvalidCode(String),
    #[error("a currency is written CODE/DECIMALS, e.g. EUR/2 or JPY/0 (the number of digits after the point), got {0:?}")]
    InvalidDefinition(String),
    #[error("currency {code} has {decimals} decimals, at most {DECIMALS_MAX} are allowed")]
    TooManyDecimals { code: String, decimals: u8 },
    #[error("currency {0} is configured twice")]
    Duplicate(String),
    #[error("the default currency {0} is not among the configured currencies")]
    DefaultMissing(String),
}

impl CurrencyCode {
    /// Parses a code; only `A`-`Z`, 1 to 11 of them.
    pub fn new(code: &str) -> Result<Self, CurrencyError> {
        let valid = (1..=CURRENCY_CODE_LEN_MAX).contains(&code.len())
            && code.bytes().all(|b| b.is_ascii_uppercase());
        if !valid {
            return Err(CurrencyError::InvalidCode(code.to_owned()));
        }
        let mut bytes = [0u8; CURRENCY_CODE_LEN_MAX];
        bytes[..code.len()].copy_from_slice(code.as_bytes());
        Ok(Self {
            len: code.len() as u8,
            bytes,
        })
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored, so this cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).expect("ascii currency code")
    }
}

impl FromStr for CurrencyCode {
    type Err = CurrencyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CurrencyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CurrencyCode({})", self.as_str())
    }
}

/// A currency definition: its code and how many decimals its minor unit has (EUR: 2, JPY: 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency {
    code: CurrencyCode,
    decimals: u8,
}

impl Currency {
    pub fn new(code: CurrencyCode, decimals: u8) -> Result<Self, CurrencyError> {
        if decimals > DECIMALS_MAX {
            return Err(CurrencyError::TooManyDecimals {
                code: code.to_string(),
                decimals,
            });
        }
        Ok(Self { code, decimals })
    }

    /// Parses a definition written `EUR/2` (code, slash, decimals), as used in configuration.
    pub fn parse_definition(text: &str) -> Result<Self, CurrencyError> {
        let invalid = || CurrencyError::InvalidDefinition(text.to_owned());
        let (code, decimals) = text.split_once('/').ok_or_else(invalid)?;
        let decimals: u8 = decimals.parse().map_err(|_| invalid())?;
        Self::new(CurrencyCode::new(code)?, decimals)
    }

    /// The euro with cents: Chit's default currency.
    pub fn eur() -> Self {
        Self {
            code: CurrencyCode::new("EUR").expect("valid code"),
            decimals: 2,
        }
    }

    pub fn code(&self) -> CurrencyCode {
        self.code
    }

    pub fn decimals(&self) -> u8 {
        self.decimals
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.code, self.decimals)
    }
}

/// The set of currencies a node serves, one of them the default for bare amounts like `12.50`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Currencies {
    all: Vec<Currency>,
    default: CurrencyCode,
}

impl Currencies {
    /// Builds the set; codes must be unique and the default must be one of them.
    pub fn new(all: Vec<Currency>, default: CurrencyCode) -> Result<Self, CurrencyError> {
        for (i, c) in all.iter().enumerate() {
            if all[..i].iter().any(|d| d.code == c.code) {
                return Err(CurrencyError::Duplicate(c.code.to_string()));
            }
        }
        if !all.iter().any(|c| c.code == default) {
            return Err(CurrencyError::DefaultMissing(default.to_string()));
        }
        Ok(Self { all, default })
    }

    /// The currency with this code, if the node serves it.
    pub fn find(&self, code: CurrencyCode) -> Option<Currency> {
        self.all.iter().copied().find(|c| c.code == code)
    }

    /// The currency used for amounts written without a code.
    pub fn default_currency(&self) -> Currency {
        self.find(self.default)
            .expect("default is validated at construction")
    }

    pub fn iter(&self) -> impl Iterator<Item = Currency> + '_ {
        self.all.iter().copied()
    }
}

impl Default for Currencies {
    /// EUR with two decimals, the node's out-of-the-box setting.
    fn default() -> Self {
        let eur = Currency::eur();
        Self {
            all: vec![eur],
            default: eur.code(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_validated() {
        assert_eq!(CurrencyCode::new("EUR").unwrap().as_str(), "EUR");
        assert_eq!(CurrencyCode::new("KUDOS").unwrap().as_str(), "KUDOS");
        for bad in ["", "eur", "EU1", "ABCDEFGHIJKL", "E R", "ÉUR"] {
            assert!(CurrencyCode::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn definitions_parse() {
        let jpy = Currency::parse_definition("JPY/0").unwrap();
        assert_eq!((jpy.code().as_str(), jpy.decimals()), ("JPY", 0));
        let missing = Currency::parse_definition("EUR").unwrap_err();
        assert!(missing.to_string().contains("CODE/DECIMALS"), "{missing}");
        assert!(Currency::parse_definition("EUR/19").is_err());
        assert!(Currency::parse_definition("EUR/x").is_err());
    }

    #[test]
    fn set_rejects_duplicates_and_missing_default() {
        let eur = Currency::eur();
        assert!(Currencies::new(vec![eur, eur], eur.code()).is_err());
        let usd = CurrencyCode::new("USD").unwrap();
        assert!(Currencies::new(vec![eur], usd).is_err());
        assert_eq!(Currencies::default().default_currency(), eur);
    }
}
