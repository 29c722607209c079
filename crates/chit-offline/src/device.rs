//! The device (the seed's trusted application): a key that never leaves it, the offline
//! balance, and the counters *i* (deposits and withdrawals) and *j* (payments). It refuses to go
//! below zero or above its holding limit, applies each deposit once and in order, and writes
//! every change as the next entry of its chain.
//!
//! [`SecureElement`] is the interface hardware implementations (TPM, phone keystores) will
//! provide; [`SoftElement`] is the software one, a state machine whose [`DeviceState`] the
//! wallet keeps sealed on disk. A software element can be copied or rolled back, which is why
//! the node checks every chain ([`crate::chain`]).

use std::collections::BTreeSet;

use chit_proto::{b64, IdentityKey, IdentitySecret};
use serde::{Deserialize, Serialize};

use crate::entry::{Entry, Event, PaymentRequest, SignedEntry, Voucher, GENESIS};
use crate::pay_verify::{pay_verify, VerifyError};
use crate::statements::{Attestation, Confirmation, DeviceCertificate, Movement};
use crate::EntryHash;

/// Why the device refused: nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("the offline balance is {balance}, less than {wanted}")]
    InsufficientFunds { balance: u64, wanted: u64 },
    #[error("the device may hold at most {limit} offline")]
    OverLimit { limit: u64 },
    #[error("an amount must be more than zero")]
    Zero,
    #[error("one voucher may pay at most {limit}")]
    OverVoucherLimit { limit: u64 },
    #[error("this device holds {device}, not {given}")]
    WrongCurrency { device: String, given: String },
    #[error("the confirmation is not signed by the node, or is for another device")]
    NotForThisDevice,
    #[error("confirmation {given} was already applied (the device is at {at})")]
    Replayed { given: u64, at: u64 },
    #[error("confirmation {given} is out of order: the next one is {next}")]
    OutOfOrder { given: u64, next: u64 },
    #[error("that is not a deposit confirmation")]
    NotADeposit,
    #[error("the voucher was already collected")]
    AlreadyCollected,
    #[error("the voucher does not verify: {0}")]
    Voucher(#[from] VerifyError),
}

/// What a device can do; the software element and future hardware ones.
pub trait SecureElement {
    fn device_key(&self) -> IdentityKey;
    fn attestation(&self) -> Attestation;
    /// The offline balance, in minor units.
    fn balance(&self) -> u64;
    /// Applies the node's deposit confirmation, once and only as the next *i*.
    fn deposit(&mut self, c: &Confirmation, now_ms: u64) -> Result<SignedEntry, DeviceError>;
    /// Takes `amount` off the device for the online balance (the node credits it on seeing
    /// the entry).
    fn withdraw(&mut self, amount: u64, now_ms: u64) -> Result<SignedEntry, DeviceError>;
    /// Pays a receiver's request: debits the balance, takes the next *j*, signs the voucher.
    fn pay(&mut self, request: &PaymentRequest, now_ms: u64) -> Result<Voucher, DeviceError>;
    /// Moves a voucher paid to this device's owner onto the device, to spend again.
    fn collect(&mut self, voucher: &Voucher, now_ms: u64) -> Result<SignedEntry, DeviceError>;
}

/// Everything a software element is, for the wallet to keep sealed on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceState {
    /// Base64url; the wallet encrypts the whole state at rest.
    pub key_seed: String,
    pub certificate: DeviceCertificate,
    pub balance: u64,
    /// The number of the last entry (0: none yet) and its hash.
    pub seq: u64,
    pub last: String,
    /// The last movement (deposit or withdrawal) and payment numbers.
    pub i: u64,
    pub j: u64,
    /// Vouchers already collected (base64url hashes).
    pub collected: BTreeSet<String>,
}

/// The software secure element.
pub struct SoftElement {
    key: IdentitySecret,
    state: DeviceState,
}

impl SoftElement {
    /// A new element for the key of `seed`, certified by `certificate` (checked by the wallet
    /// against its pinned node key when it was issued).
    pub fn new(seed: [u8; 32], certificate: DeviceCertificate) -> Self {
        Self {
            key: IdentitySecret::from_seed(seed),
            state: DeviceState {
                key_seed: b64::encode(&seed),
                certificate,
                balance: 0,
                seq: 0,
                last: b64::encode(&GENESIS),
                i: 0,
                j: 0,
                collected: BTreeSet::new(),
            },
        }
    }

    /// The element a stored state describes; `None` if the state is damaged.
    pub fn from_state(state: DeviceState) -> Option<Self> {
        let seed = b64::decode_array::<32>(&state.key_seed)?;
        b64::decode_array::<32>(&state.last)?;
        let key = IdentitySecret::from_seed(seed);
        (key.public() == state.certificate.device_key).then_some(Self { key, state })
    }

    /// The state to keep (sealed) after every change.
    pub fn state(&self) -> &DeviceState {
        &self.state
    }

    pub fn certificate(&self) -> &DeviceCertificate {
        &self.state.certificate
    }

    /// Signs the next entry and moves the state on; callers have checked the event is allowed.
    fn append(&mut self, event: Event, balance_after: u64, now_ms: u64) -> SignedEntry {
        let prev = b64::decode_array::<32>(&self.state.last).expect("checked when loaded");
        let entry = Entry {
            device_key: self.key.public(),
            currency: self.state.certificate.currency.clone(),
            seq: self.state.seq + 1,
            prev,
            event,
            balance_after,
            time_ms: now_ms,
        };
        let signed = SignedEntry::sign(entry, &self.key);
        self.state.seq += 1;
        self.state.last = b64::encode(&signed.hash());
        self.state.balance = balance_after;
        signed
    }

    fn within_limit(&self, balance: u64) -> Result<u64, DeviceError> {
        let limit = self.state.certificate.holding_limit;
        (balance <= limit)
            .then_some(balance)
            .ok_or(DeviceError::OverLimit { limit })
    }

    fn debit(&self, amount: u64) -> Result<u64, DeviceError> {
        if amount == 0 {
            return Err(DeviceError::Zero);
        }
        self.state
            .balance
            .checked_sub(amount)
            .ok_or(DeviceError::InsufficientFunds {
                balance: self.state.balance,
                wanted: amount,
            })
    }

    fn same_currency(&self, given: &str) -> Result<(), DeviceError> {
        let device = &self.state.certificate.currency;
        if device == given {
            Ok(())
        } else {
            Err(DeviceError::WrongCurrency {
                device: device.clone(),
                given: given.to_owned(),
            })
        }
    }
}

impl SecureElement for SoftElement {
    fn device_key(&self) -> IdentityKey {
        self.key.public()
    }

    fn attestation(&self) -> Attestation {
        Attestation::Software
    }

    fn balance(&self) -> u64 {
        self.state.balance
    }

    fn deposit(&mut self, c: &Confirmation, now_ms: u64) -> Result<SignedEntry, DeviceError> {
        if c.device_key != self.key.public() || c.verify(&self.state.certificate.node_key).is_err()
        {
            return Err(DeviceError::NotForThisDevice);
        }
        if c.movement != Movement::Deposit {
            return Err(DeviceError::NotADeposit);
        }
        self.same_currency(&c.currency)?;
        let next = self.state.i + 1;
        if c.i < next {
            return Err(DeviceError::Replayed {
                given: c.i,
                at: self.state.i,
            });
        }
        if c.i > next {
            return Err(DeviceError::OutOfOrder { given: c.i, next });
        }
        if c.amount == 0 {
            return Err(DeviceError::Zero);
        }
        let balance = self
            .state
            .balance
            .checked_add(c.amount)
            .ok_or(DeviceError::OverLimit {
                limit: self.state.certificate.holding_limit,
            })?;
        let balance = self.within_limit(balance)?;
        self.state.i = next;
        Ok(self.append(
            Event::Deposit {
                i: next,
                amount: c.amount,
            },
            balance,
            now_ms,
        ))
    }

    fn withdraw(&mut self, amount: u64, now_ms: u64) -> Result<SignedEntry, DeviceError> {
        let balance = self.debit(amount)?;
        self.state.i += 1;
        let i = self.state.i;
        Ok(self.append(Event::Withdraw { i, amount }, balance, now_ms))
    }

    fn pay(&mut self, request: &PaymentRequest, now_ms: u64) -> Result<Voucher, DeviceError> {
        self.same_currency(&request.currency)?;
        let limit = self.state.certificate.voucher_limit;
        if request.amount > limit {
            return Err(DeviceError::OverVoucherLimit { limit });
        }
        let balance = self.debit(request.amount)?;
        self.state.j += 1;
        let event = Event::Pay {
            j: self.state.j,
            amount: request.amount,
            receiver: request.receiver.clone(),
            nonce: request.nonce,
        };
        let entry = self.append(event, balance, now_ms);
        Ok(Voucher {
            certificate: self.state.certificate.clone(),
            entry,
        })
    }

    fn collect(&mut self, voucher: &Voucher, now_ms: u64) -> Result<SignedEntry, DeviceError> {
        let node_key = self.state.certificate.node_key;
        let owner = self.state.certificate.owner.clone();
        let amount = pay_verify(voucher, &node_key, &owner, None)?;
        self.same_currency(&voucher.entry.entry.currency)?;
        let hash: EntryHash = voucher.entry.hash();
        if self.state.collected.contains(&b64::encode(&hash)) {
            return Err(DeviceError::AlreadyCollected);
        }
        let balance = self.within_limit(self.state.balance.saturating_add(amount))?;
        self.state.collected.insert(b64::encode(&hash));
        Ok(self.append(
            Event::Collect {
                voucher: hash,
                amount,
            },
            balance,
            now_ms,
        ))
    }
}
