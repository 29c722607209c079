//! Offline payments (seed 002, OPS), as pure logic shared by the device, the wallet, the node
//! and an auditor: no I/O here.
//!
//! - [`statements`]: a device bound to its owner and certified by the node; deposit and
//!   withdrawal confirmations (counter *i*).
//! - [`entry`]: every change to a device's offline balance is an [`entry::Entry`] the device
//!   signs, with a sequence number, a hash link to the entry before and the balance after, so a
//!   device's history is one tamper-evident chain. A payment's entry is the voucher.
//! - [`device`]: the secure element's state machine (balance, counters *i* and *j*, never below
//!   zero) behind the [`device::SecureElement`] interface.
//! - [`limits`]: holding and voucher limits by attestation class, and the list's maximum age.
//! - [`pay_verify`]: what a receiver checks with no network (the seed's PayVerify).
//! - [`chain`]: what the node checks at every claim and sync: a fork (a copied device), a
//!   reused index (a rolled-back one), a balance that does not follow (a patched one).
//! - [`redeem`]: each voucher claimed or collected once; a second time is a replay or a
//!   double spend.
//! - [`revocation`]: the node-signed, versioned list of revoked devices.
//! - [`uri`]: requests and vouchers as `chit://` text a QR code holds.
//! - [`cover`]: who pays when a device's vouchers exceed what it holds (the loss policy).
//! - [`api`]: what wallets and the node send each other over HTTP.

pub mod api;
pub mod chain;
pub mod cover;
pub mod device;
pub mod entry;
pub mod limits;
pub mod pay_verify;
pub mod redeem;
pub mod revocation;
pub mod statements;
pub mod uri;

/// The hash of an entry: what the next entry links to and what a collect names.
pub type EntryHash = [u8; 32];
