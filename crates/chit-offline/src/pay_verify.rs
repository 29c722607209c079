//! PayVerify: what a receiver checks, with no network and no device of its own (the seed's
//! receiver needs no trusted application): the voucher's signature, the certificate up to the
//! pinned node key, that it pays me, that it answers my request, that I have not taken it
//! before, and that its device is not on my copy of the revocation list. Each failure is its
//! own error, in words.

use std::collections::BTreeSet;

use chit_proto::{Handle, IdentityKey};

use crate::entry::{Event, PaymentRequest, Voucher};
use crate::EntryHash;

/// Why a voucher is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the device's certificate is not signed by this node's key")]
    BadCertificate,
    #[error("the voucher is not signed by the device its certificate names")]
    BadSignature,
    #[error("this is not a payment voucher")]
    NotAPayment,
    #[error("the voucher pays @{0}, not you")]
    NotForMe(String),
    #[error("the voucher answers another request (its nonce is not yours)")]
    WrongRequest,
    #[error("the voucher is for {given}, the request was for {wanted}")]
    WrongAmount { given: String, wanted: String },
    #[error("you already received this voucher")]
    AlreadyReceived,
    #[error("the paying device was revoked by the node")]
    Revoked,
    #[error("the voucher's currency is not its device's")]
    WrongCurrency,
    #[error("the voucher is larger than its device may pay at once")]
    OverVoucherLimit,
}

/// Checks a voucher against the pinned node key, the receiver `me` and, when given, the
/// request it should answer; the amount it pays, in minor units.
pub fn pay_verify(
    voucher: &Voucher,
    node_key: &IdentityKey,
    me: &Handle,
    request: Option<&PaymentRequest>,
) -> Result<u64, VerifyError> {
    let cert = &voucher.certificate;
    cert.verify(node_key)
        .map_err(|_| VerifyError::BadCertificate)?;
    let entry = &voucher.entry.entry;
    if entry.device_key != cert.device_key || voucher.entry.verify().is_err() {
        return Err(VerifyError::BadSignature);
    }
    if entry.currency != cert.currency {
        return Err(VerifyError::WrongCurrency);
    }
    let Event::Pay {
        amount,
        receiver,
        nonce,
        ..
    } = &entry.event
    else {
        return Err(VerifyError::NotAPayment);
    };
    if receiver != me {
        return Err(VerifyError::NotForMe(receiver.as_str().to_owned()));
    }
    if *amount > cert.voucher_limit {
        return Err(VerifyError::OverVoucherLimit);
    }
    if let Some(r) = request {
        if &r.nonce != nonce {
            return Err(VerifyError::WrongRequest);
        }
        if (r.amount, r.currency.as_str()) != (*amount, entry.currency.as_str()) {
            return Err(VerifyError::WrongAmount {
                given: format!("{} {}", amount, entry.currency),
                wanted: format!("{} {}", r.amount, r.currency),
            });
        }
    }
    Ok(*amount)
}

/// A receiver's own log of vouchers taken and its copy of the revocation list.
#[derive(Clone, Debug, Default)]
pub struct Receiver {
    received: BTreeSet<EntryHash>,
    revoked: BTreeSet<[u8; 32]>,
}

impl Receiver {
    /// Replaces the copy of the revocation list (device keys) with a newer one.
    pub fn set_revoked(&mut self, devices: impl IntoIterator<Item = IdentityKey>) {
        self.revoked = devices.into_iter().map(|k| *k.as_bytes()).collect();
    }

    /// PayVerify, then the log: a voucher is taken once. Returns the amount.
    pub fn receive(
        &mut self,
        voucher: &Voucher,
        node_key: &IdentityKey,
        me: &Handle,
        request: &PaymentRequest,
    ) -> Result<u64, VerifyError> {
        let amount = pay_verify(voucher, node_key, me, Some(request))?;
        if self
            .revoked
            .contains(voucher.certificate.device_key.as_bytes())
        {
            return Err(VerifyError::Revoked);
        }
        if !self.received.insert(voucher.entry.hash()) {
            return Err(VerifyError::AlreadyReceived);
        }
        Ok(amount)
    }
}

/// PayVerify for many vouchers at once (a receiver syncing a day's takings, the node checking
/// a claim): each device certificate is checked once, the voucher signatures in one batch, and
/// only if the batch fails one by one to say which. The same verdict per voucher as
/// [`pay_verify`] without a request.
pub fn pay_verify_batch(
    vouchers: &[Voucher],
    node_key: &IdentityKey,
    me: &Handle,
) -> Vec<Result<u64, VerifyError>> {
    use std::collections::HashMap;

    use chit_proto::{verify_batch, Verifier};

    // Keyed by everything the node signed and its signature: a certificate is checked once.
    let mut certificates: HashMap<(Vec<u8>, [u8; 64]), Option<Verifier>> = HashMap::new();
    let mut results = Vec::with_capacity(vouchers.len());
    let mut bytes = Vec::with_capacity(vouchers.len());
    for v in vouchers {
        let verifier = certificates
            .entry((v.certificate.signed_bytes(), v.certificate.signature.0))
            .or_insert_with(|| {
                v.certificate.verify(node_key).ok()?;
                v.certificate.device_key.verifier().ok()
            })
            .clone();
        let checked = match verifier {
            None => Err(VerifyError::BadCertificate),
            Some(verifier) => structure(v, me).map(|amount| (verifier, amount)),
        };
        bytes.push(v.entry.entry.signing_bytes());
        results.push(checked);
    }
    let pending: Vec<(usize, &Verifier)> = results
        .iter()
        .enumerate()
        .filter_map(|(n, r)| r.as_ref().ok().map(|(verifier, _)| (n, verifier)))
        .collect();
    let items: Vec<(&Verifier, &[u8], &chit_proto::Signature)> = pending
        .iter()
        .map(|(n, verifier)| {
            (
                *verifier,
                bytes[*n].as_slice(),
                &vouchers[*n].entry.signature,
            )
        })
        .collect();
    let all_good = verify_batch(&items).is_ok();
    let bad: BTreeSet<usize> = if all_good {
        BTreeSet::new()
    } else {
        pending
            .iter()
            .filter(|(n, verifier)| {
                verifier
                    .verify(&bytes[*n], &vouchers[*n].entry.signature)
                    .is_err()
            })
            .map(|(n, _)| *n)
            .collect()
    };
    results
        .into_iter()
        .enumerate()
        .map(|(n, r)| match r {
            Ok(_) if bad.contains(&n) => Err(VerifyError::BadSignature),
            Ok((_, amount)) => Ok(amount),
            Err(e) => Err(e),
        })
        .collect()
}

/// The checks of [`pay_verify`] that need no signature: the device, the kind, the receiver.
fn structure(voucher: &Voucher, me: &Handle) -> Result<u64, VerifyError> {
    let entry = &voucher.entry.entry;
    if entry.device_key != voucher.certificate.device_key {
        return Err(VerifyError::BadSignature);
    }
    if entry.currency != voucher.certificate.currency {
        return Err(VerifyError::WrongCurrency);
    }
    let Event::Pay {
        amount, receiver, ..
    } = &entry.event
    else {
        return Err(VerifyError::NotAPayment);
    };
    if receiver != me {
        return Err(VerifyError::NotForMe(receiver.as_str().to_owned()));
    }
    if *amount > voucher.certificate.voucher_limit {
        return Err(VerifyError::OverVoucherLimit);
    }
    Ok(*amount)
}
