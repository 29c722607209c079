//! SASL PLAIN (RFC 4616) and the standard base64 it is carried in (RFC 4648 §4).

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;

/// Standard base64 that reads a response with or without its padding, as the gateway always
/// has (clients differ); it writes the padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// SASL PLAIN's initial response for `handle` and an API token: `base64(NUL handle NUL token)`
/// (RFC 4616, empty authzid), what a client sends in `AUTH [BEGIN] PLAIN`.
pub fn sasl_plain(handle: &str, token: &str) -> String {
    base64_standard_encode(format!("\0{handle}\0{token}").as_bytes())
}

/// Standard padded base64 (RFC 4648 §4), the encoding SASL uses.
pub fn base64_standard_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Standard base64 (RFC 4648 §4, padded), as SASL uses; `None` if malformed.
pub(super) fn base64_standard(text: &str) -> Option<Vec<u8>> {
    LENIENT.decode(text).ok()
}
