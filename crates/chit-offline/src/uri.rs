//! The text forms that travel between two phones with no network, as `chit://` URIs a QR code
//! can hold: a receiver's payment request and the payer's voucher. The payload is the JSON
//! form in unpadded base64url; anything longer than a QR code can carry is refused.

use chit_proto::b64;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::entry::{PaymentRequest, Voucher};

/// A version-40 QR code holds 2,953 bytes; a URI must fit one.
pub const URI_BYTES_MAX: usize = 2_900;
const REQUEST: &str = "chit://offline-request/";
const VOUCHER: &str = "chit://offline-voucher/";

/// Why a text is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("not a {0} (it should start with {1})")]
    WrongKind(&'static str, &'static str),
    #[error("longer than a QR code holds ({URI_BYTES_MAX} bytes)")]
    TooLong,
    #[error("damaged: {0}")]
    Damaged(String),
}

fn encode<T: Serialize>(prefix: &str, value: &T) -> String {
    format!(
        "{prefix}{}",
        b64::encode(&serde_json::to_vec(value).expect("serialisable"))
    )
}

fn decode<T: DeserializeOwned>(
    text: &str,
    prefix: &'static str,
    what: &'static str,
) -> Result<T, UriError> {
    let text = text.trim();
    if text.len() > URI_BYTES_MAX {
        return Err(UriError::TooLong);
    }
    let body = text
        .strip_prefix(prefix)
        .ok_or(UriError::WrongKind(what, prefix))?;
    let bytes = b64::decode(body).ok_or_else(|| UriError::Damaged("not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|e| UriError::Damaged(e.to_string()))
}

pub fn request_uri(r: &PaymentRequest) -> String {
    encode(REQUEST, r)
}

pub fn parse_request(text: &str) -> Result<PaymentRequest, UriError> {
    decode(text, REQUEST, "payment request")
}

pub fn voucher_uri(v: &Voucher) -> String {
    encode(VOUCHER, v)
}

pub fn parse_voucher(text: &str) -> Result<Voucher, UriError> {
    decode(text, VOUCHER, "voucher")
}
