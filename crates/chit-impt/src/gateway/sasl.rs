//! SASL PLAIN (RFC 4616) and the standard base64 it is carried in (RFC 4648 §4).

use chit_proto::b64;

/// SASL PLAIN's initial response for `handle` and an API token: `base64(NUL handle NUL token)`
/// (RFC 4616, empty authzid), what a client sends in `AUTH [BEGIN] PLAIN`.
pub fn sasl_plain(handle: &str, token: &str) -> String {
    base64_standard_encode(format!("\0{handle}\0{token}").as_bytes())
}

/// Standard padded base64 (RFC 4648 §4), the encoding SASL uses.
pub fn base64_standard_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63])
            } else {
                '='
            });
        }
    }
    out
}

/// Standard base64 (RFC 4648 §4, padded), as SASL uses; `None` if malformed.
pub(super) fn base64_standard(text: &str) -> Option<Vec<u8>> {
    let url: String = text
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    if text.contains(['-', '_']) {
        return None;
    }
    b64::decode(&url)
}
