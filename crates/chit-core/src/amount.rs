//! Money amounts: integer minor units tagged with their currency, never floats.
//!
//! Text form is `CUR:12.50` (GNU Taler style); a bare `12.50` means the default currency of the
//! [`Currencies`] it is parsed against. Every amount fits in an `i64` so both storage engines can
//! hold it in a plain integer column; arithmetic is checked and overflow is an error.

use std::fmt;

use crate::currency::{Currencies, Currency, CurrencyCode};

/// Largest number of minor units any amount or balance may hold (`i64::MAX`).
pub const MINOR_MAX: u64 = i64::MAX as u64;
/// Longest amount text accepted by the parser; anything longer is junk, not a number.
pub const AMOUNT_TEXT_LEN_MAX: usize = 64;

/// An amount of money: minor units (cents for EUR) in one currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Amount {
    currency: Currency,
    minor: u64,
}

/// Why an amount was refused, precise enough to show to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount text is longer than {AMOUNT_TEXT_LEN_MAX} characters")]
    TooLong,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount must be greater than zero")]
    Zero,
    #[error("exponent notation is not allowed in amounts, write the digits out")]
    Exponent,
    #[error("unknown currency {0}")]
    UnknownCurrency(String),
    #[error("invalid currency code {0:?}")]
    InvalidCurrency(String),
    #[error("{currency} has {decimals} decimals, the amount has more")]
    TooManyDecimals {
        currency: CurrencyCode,
        decimals: u8,
    },
    #[error("amount is too large")]
    Overflow,
    #[error("amount would be negative")]
    Underflow,
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        left: CurrencyCode,
        right: CurrencyCode,
    },
    #[error("not an amount: {0:?} (expected e.g. EUR:12.50 or 12.50)")]
    Invalid(String),
    #[error("one currency code only, before the number: e.g. EUR:5.00 (got {0:?})")]
    TwoCurrencies(String),
    #[error(
        "write the amount as {canonical} (the currency code and every decimal), not {given:?}"
    )]
    NotCanonical { given: String, canonical: String },
}

impl Amount {
    /// An amount of `minor` units; fails with [`AmountError::Overflow`] above [`MINOR_MAX`].
    pub fn from_minor(currency: Currency, minor: u64) -> Result<Self, AmountError> {
        if minor > MINOR_MAX {
            return Err(AmountError::Overflow);
        }
        Ok(Self { currency, minor })
    }

    pub fn zero(currency: Currency) -> Self {
        Self { currency, minor: 0 }
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// Parses `CUR:12.50` or `12.50`; zero is allowed (use [`Amount::parse_positive`] for payments).
    pub fn parse(text: &str, currencies: &Currencies) -> Result<Self, AmountError> {
        if text.is_empty() {
            return Err(AmountError::Empty);
        }
        if text.len() > AMOUNT_TEXT_LEN_MAX {
            return Err(AmountError::TooLong);
        }
        let (currency, number) = match text.split_once(':') {
            Some((_, number)) if number.contains(':') => {
                return Err(AmountError::TwoCurrencies(text.to_owned()))
            }
            Some((code, number)) => {
                let code = CurrencyCode::new(code)
                    .map_err(|_| AmountError::InvalidCurrency(code.to_owned()))?;
                let currency = currencies
                    .find(code)
                    .ok_or_else(|| AmountError::UnknownCurrency(code.to_string()))?;
                (currency, number)
            }
            None => (currencies.default_currency(), text),
        };
        let minor = parse_minor(number, currency)?;
        Ok(Self { currency, minor })
    }

    /// Parses an amount that must be greater than zero: what every payment needs.
    pub fn parse_positive(text: &str, currencies: &Currencies) -> Result<Self, AmountError> {
        let amount = Self::parse(text, currencies)?;
        if amount.is_zero() {
            return Err(AmountError::Zero);
        }
        Ok(amount)
    }

    /// Parses the one written form an amount has on the wire: what [`Amount`]'s `Display`
    /// prints (`EUR:5.00`, `JPY:500`), greater than zero. People may type `5` or `5.0`; what
    /// is signed and sent is this form, so a signature covers one text per amount.
    pub fn parse_canonical(text: &str, currencies: &Currencies) -> Result<Self, AmountError> {
        let amount = Self::parse_positive(text, currencies)?;
        let canonical = amount.to_string();
        if canonical != text {
            return Err(AmountError::NotCanonical {
                given: text.to_owned(),
                canonical,
            });
        }
        Ok(amount)
    }

    pub fn checked_add(self, other: Self) -> Result<Self, AmountError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(AmountError::Overflow)?;
        Self::from_minor(self.currency, minor)
    }

    pub fn checked_sub(self, other: Self) -> Result<Self, AmountError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(AmountError::Underflow)?;
        Ok(Self {
            currency: self.currency,
            minor,
        })
    }

    /// Multiplies by a count (n coupons of a value, n members of a split).
    pub fn checked_mul(self, factor: u64) -> Result<Self, AmountError> {
        let minor = self
            .minor
            .checked_mul(factor)
            .ok_or(AmountError::Overflow)?;
        Self::from_minor(self.currency, minor)
    }

    fn same_currency(self, other: Self) -> Result<(), AmountError> {
        if self.currency != other.currency {
            return Err(AmountError::CurrencyMismatch {
                left: self.currency.code(),
                right: other.currency.code(),
            });
        }
        Ok(())
    }
}

/// Parses the number part (`12.50`) into minor units of `currency`.
fn parse_minor(number: &str, currency: Currency) -> Result<u64, AmountError> {
    let invalid = || AmountError::Invalid(number.to_owned());
    if number.starts_with('-') {
        return Err(AmountError::Negative);
    }
    if number.bytes().any(|b| b == b'e' || b == b'E') {
        return Err(AmountError::Exponent);
    }
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (number, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(invalid());
    }
    let fraction = fraction.unwrap_or("");
    let decimals = usize::from(currency.decimals());
    if fraction.len() > decimals {
        return Err(AmountError::TooManyDecimals {
            currency: currency.code(),
            decimals: currency.decimals(),
        });
    }
    let scale = 10u64
        .checked_pow(u32::from(currency.decimals()))
        .ok_or(AmountError::Overflow)?;
    let whole: u64 = whole.parse().map_err(|_| AmountError::Overflow)?;
    // Right-pad the fraction to the currency's decimals: "5" of EUR is 50 cents.
    let mut fraction_minor: u64 = 0;
    for i in 0..decimals {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| u64::from(b - b'0'));
        fraction_minor = fraction_minor * 10 + digit;
    }
    let minor = whole
        .checked_mul(scale)
        .and_then(|m| m.checked_add(fraction_minor))
        .ok_or(AmountError::Overflow)?;
    if minor > MINOR_MAX {
        return Err(AmountError::Overflow);
    }
    Ok(minor)
}

impl fmt::Display for Amount {
    /// Always the full form with the currency code and every decimal: `EUR:12.50`, `JPY:500`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let decimals = u32::from(self.currency.decimals());
        let code = self.currency.code();
        if decimals == 0 {
            return write!(f, "{code}:{}", self.minor);
        }
        let scale = 10u64.pow(decimals);
        write!(
            f,
            "{code}:{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = decimals as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::Currency;
    use proptest::prelude::*;

    fn currencies() -> Currencies {
        let jpy = Currency::parse_definition("JPY/0").unwrap();
        let btc = Currency::parse_definition("BTC/8").unwrap();
        let wide = Currency::parse_definition("WIDE/18").unwrap();
        Currencies::new(
            vec![Currency::eur(), jpy, btc, wide],
            Currency::eur().code(),
        )
        .unwrap()
    }

    fn parse(text: &str) -> Result<Amount, AmountError> {
        Amount::parse(text, &currencies())
    }

    #[test]
    fn parses_and_displays() {
        let cases = [
            ("EUR:12.50", "EUR:12.50", 1250),
            ("12.5", "EUR:12.50", 1250),
            ("12", "EUR:12.00", 1200),
            ("0.01", "EUR:0.01", 1),
            ("JPY:500", "JPY:500", 500),
            ("BTC:0.00000001", "BTC:0.00000001", 1),
            ("EUR:0", "EUR:0.00", 0),
            ("007.10", "EUR:7.10", 710),
        ];
        for (text, shown, minor) in cases {
            let a = parse(text).unwrap();
            assert_eq!(
                (a.to_string().as_str(), a.minor()),
                (shown, minor),
                "{text}"
            );
        }
    }

    #[test]
    fn the_wire_takes_one_written_form_per_amount() {
        let c = currencies();
        for canonical in ["EUR:5.00", "JPY:500", "BTC:0.00000001", "EUR:0.01"] {
            assert!(
                Amount::parse_canonical(canonical, &c).is_ok(),
                "{canonical}"
            );
        }
        for other in ["5", "EUR:5", "EUR:5.0", "EUR:00005.00", "5.00", "JPY:0500"] {
            let e = Amount::parse_canonical(other, &c).unwrap_err();
            assert!(
                matches!(e, AmountError::NotCanonical { .. }),
                "{other}: {e:?}"
            );
        }
        assert!(Amount::parse_canonical("EUR:0.00", &c).is_err());
        let twice = parse("EUR:EUR:5").unwrap_err();
        assert_eq!(twice, AmountError::TwoCurrencies("EUR:EUR:5".into()));
        assert!(
            twice.to_string().contains("one currency code only"),
            "{twice}"
        );
    }

    #[test]
    fn rejects_bad_text_with_a_precise_error() {
        use AmountError::*;
        let too_many = |c: &str, d| TooManyDecimals {
            currency: CurrencyCode::new(c).unwrap(),
            decimals: d,
        };
        let cases = [
            ("", Empty),
            ("-1", Negative),
            ("EUR:-0.50", Negative),
            ("1e3", Exponent),
            ("EUR:1E3", Exponent),
            ("EUR:1.234", too_many("EUR", 2)),
            ("JPY:1.5", too_many("JPY", 0)),
            ("USD:1", UnknownCurrency("USD".into())),
            ("eur:1", InvalidCurrency("eur".into())),
            ("EUR:", Invalid("".into())),
            ("EUR:1.", Invalid("1.".into())),
            ("EUR:.5", Invalid(".5".into())),
            ("+1", Invalid("+1".into())),
            (" 1", Invalid(" 1".into())),
            ("1,00", Invalid("1,00".into())),
            ("1.2.3", Invalid("1.2.3".into())),
            ("NaN", Invalid("NaN".into())),
            ("EUR:92233720368547758.08", Overflow),
            ("99999999999999999999999", Overflow),
            ("WIDE:10", Overflow),
        ];
        for (text, err) in cases {
            assert_eq!(parse(text), Err(err), "{text:?}");
        }
        assert_eq!(parse(&"1".repeat(65)), Err(TooLong));
        assert_eq!(Amount::parse_positive("EUR:0.00", &currencies()), Err(Zero));
        assert_eq!(
            parse("EUR:92233720368547758.07").unwrap().minor(),
            MINOR_MAX
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let eur = Currency::eur();
        let max = Amount::from_minor(eur, MINOR_MAX).unwrap();
        let one = Amount::from_minor(eur, 1).unwrap();
        assert_eq!(max.checked_add(one), Err(AmountError::Overflow));
        assert_eq!(
            Amount::zero(eur).checked_sub(one),
            Err(AmountError::Underflow)
        );
        assert_eq!(max.checked_mul(2), Err(AmountError::Overflow));
        assert_eq!(one.checked_mul(3).unwrap().minor(), 3);
        let jpy = Amount::from_minor(Currency::parse_definition("JPY/0").unwrap(), 1).unwrap();
        assert!(matches!(
            one.checked_add(jpy),
            Err(AmountError::CurrencyMismatch { .. })
        ));
        assert!(Amount::from_minor(eur, MINOR_MAX + 1).is_err());
    }

    proptest! {
        #[test]
        fn parse_of_display_is_identity(minor in 0..=MINOR_MAX, which in 0usize..3) {
            let c = currencies().iter().nth(which).unwrap();
            let a = Amount::from_minor(c, minor).unwrap();
            prop_assert_eq!(parse(&a.to_string()), Ok(a));
        }

        #[test]
        fn parser_never_panics(text in "\\PC{0,70}") {
            let _ = parse(&text);
        }
    }
}
