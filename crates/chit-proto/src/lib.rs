//! Chit's protocol: keys, canonical signing, sealed bodies, handles, certificates, receipts and
//! the signed commands wallets send. Shared by the node and the wallet; no I/O.

pub mod api;
pub mod b64;
pub mod canon;
pub mod handle;
pub mod ids;
pub mod keys;
pub mod payment;
pub mod receipt;
pub mod seal;
pub mod verify;

pub use handle::{Handle, HandleError};
pub use ids::{BadId, CommandId, MessageId, PaymentId};
pub use keys::{
    api_token_key, new_api_token, verify_batch, EncryptionKey, EncryptionSecret, IdentityKey,
    IdentitySecret, KeyError, Signature, Verifier,
};
pub use payment::{AutoAccept, PaymentKind, PaymentState, UnknownWord};
pub use seal::{SealError, SealedBody};
pub mod statements;

pub use receipt::{Outcome, Receipt, ReceiptFacts, Settlement};
pub use statements::{login_bytes, Action, Certificate, Command, Registration, SCOPES};
