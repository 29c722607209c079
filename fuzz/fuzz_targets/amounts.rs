//! Amount text, on arbitrary input: parsing never panics; whatever parses prints to the one
//! written form, which parses back to the same amount; and the wire accepts exactly that form.
#![no_main]

use chit_core::{Amount, Currencies, Currency, CurrencyCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let currencies = Currencies::new(
        vec![
            Currency::eur(),
            Currency::new(CurrencyCode::new("JPY").unwrap(), 0).unwrap(),
            Currency::new(CurrencyCode::new("BTC").unwrap(), 8).unwrap(),
        ],
        CurrencyCode::new("EUR").unwrap(),
    )
    .unwrap();
    let Ok(amount) = Amount::parse(text, &currencies) else {
        assert!(Amount::parse_canonical(text, &currencies).is_err());
        return;
    };
    let canonical = amount.to_string();
    assert_eq!(Amount::parse(&canonical, &currencies), Ok(amount));
    match Amount::parse_canonical(text, &currencies) {
        Ok(wire) => {
            assert_eq!(wire, amount);
            assert_eq!(text, canonical);
        }
        Err(_) => assert!(text != canonical || amount.is_zero()),
    }
});
