//! Offline payments in the wallet: the node's offline routes, and [`OfflineWallet`], which
//! keeps this wallet's device (sealed, see [`crate::device_store`]) and its receiving side —
//! the requests it showed, the vouchers it took (PayVerified against them and its copy of the
//! revocation list), and what became of each.
//!
//! Every change to the device is saved before its result is used or shown: a voucher is
//! printed only once the debit it records is on disk, and a deposit's command is saved before
//! it is sent, so an answer lost on the way is fetched again under the same id.

use std::path::{Path, PathBuf};

use chit_offline::api::{
    ClaimAnswer, ClaimOutcome, ClaimRequest, DepositAnswer, DeviceInfo, DeviceList, LimitsInfo,
    RegisterDevice, SyncAnswer, SyncRequest, CLAIM_VOUCHERS_MAX,
};
use chit_offline::device::{DeviceError, SecureElement, SoftElement};
use chit_offline::entry::{PaymentRequest, Voucher};
use chit_offline::pay_verify::{pay_verify, VerifyError};
use chit_offline::revocation::{Freshness, RevocationList};
use chit_offline::statements::{Attestation, DeviceRegistration};
use chit_proto::api::SignedCommand;
use chit_proto::keys::random_bytes;
use chit_proto::{b64, Action, IdentityKey, IdentitySecret};
use serde::{Deserialize, Serialize};

use crate::device_store::{DeviceFile, DeviceStore};
use crate::wallet::{write_file, WalletError};
use crate::{now_ms, Client, ClientError, Identity};

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Wallet(#[from] WalletError),
    #[error("the device refused: {0}")]
    Device(DeviceError),
    #[error("the voucher is refused: {0}")]
    Verify(VerifyError),
    #[error(transparent)]
    Uri(#[from] chit_offline::uri::UriError),
    #[error("{0}")]
    Wrong(String),
}

// Not `#[from]`: the message already says the cause, and a source would say it twice.
impl From<DeviceError> for OfflineError {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}

impl From<VerifyError> for OfflineError {
    fn from(e: VerifyError) -> Self {
        Self::Verify(e)
    }
}

impl Client {
    /// Registers a device (its registration signed by the owner's identity key).
    pub fn register_device(&self, req: &RegisterDevice) -> Result<DeviceInfo, ClientError> {
        self.post("/v1/devices", req)
    }

    pub fn devices(&self) -> Result<DeviceList, ClientError> {
        self.get("/v1/devices")
    }

    /// A signed `retire_device`.
    pub fn retire_device(&self, signed: &SignedCommand) -> Result<DeviceInfo, ClientError> {
        self.post("/v1/commands", signed)
    }

    /// A signed `offline_deposit`.
    pub fn offline_deposit(&self, signed: &SignedCommand) -> Result<DepositAnswer, ClientError> {
        self.post("/v1/offline/deposit", signed)
    }

    pub fn offline_sync(&self, req: &SyncRequest) -> Result<SyncAnswer, ClientError> {
        self.post("/v1/offline/sync", req)
    }

    pub fn offline_withdraw(&self, req: &SyncRequest) -> Result<SyncAnswer, ClientError> {
        self.post("/v1/offline/withdraw", req)
    }

    pub fn offline_claim(&self, req: &ClaimRequest) -> Result<ClaimAnswer, ClientError> {
        self.post("/v1/offline/claims", req)
    }

    pub fn offline_limits(&self) -> Result<LimitsInfo, ClientError> {
        self.get("/v1/offline/limits")
    }

    /// The revocation list, checked against the pinned node key.
    pub fn revocation_list(&self) -> Result<RevocationList, ClientError> {
        let list: RevocationList = self.get("/v1/offline/revocations")?;
        let pinned = self
            .node_key()
            .ok_or_else(|| ClientError::Untrusted("no node key pinned".into()))?;
        list.verify(&pinned).map_err(|_| {
            ClientError::Untrusted("the revocation list is not signed by the node".into())
        })?;
        Ok(list)
    }
}

/// What became of a voucher this wallet received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Taken {
    /// Verified offline, not yet claimed or collected.
    Received,
    Claimed,
    Collected,
    Refused,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    pub voucher: Voucher,
    pub status: Taken,
    /// Minor units credited online, once claimed.
    #[serde(default)]
    pub paid: u64,
    /// What the node said, when it was not simply claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The receiving side, kept in `offline.json` in the wallet directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverBook {
    /// Requests shown and not yet paid.
    pub requests: Vec<PaymentRequest>,
    pub received: Vec<Received>,
    /// The newest revocation list fetched.
    pub revocations: Option<RevocationList>,
    /// The node's offline currency and its decimals, as last heard, so amounts read with no
    /// network.
    #[serde(default)]
    pub currency: Option<(String, u8)>,
}

/// Most open requests kept (the oldest is dropped past it).
pub const OPEN_REQUESTS_MAX: usize = 256;

/// A wallet's offline side.
pub struct OfflineWallet {
    dir: PathBuf,
    me: Identity,
    devices: DeviceStore,
}

impl OfflineWallet {
    pub fn new(wallet_dir: &Path, me: Identity) -> Self {
        Self {
            dir: wallet_dir.to_owned(),
            devices: DeviceStore::new(wallet_dir, &me.identity),
            me,
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.me
    }

    fn book_path(&self) -> PathBuf {
        self.dir.join("offline.json")
    }

    pub fn book(&self) -> Result<ReceiverBook, OfflineError> {
        match std::fs::read(self.book_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| OfflineError::Wrong(format!("{}: {e}", self.book_path().display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ReceiverBook::default()),
            Err(e) => Err(OfflineError::Wrong(format!(
                "{}: {e}",
                self.book_path().display()
            ))),
        }
    }

    /// Remembers the currency amounts are read in when offline.
    pub fn remember_currency(&self, code: &str, decimals: u8) -> Result<(), OfflineError> {
        let mut book = self.book()?;
        if book.currency.as_ref() != Some(&(code.to_owned(), decimals)) {
            book.currency = Some((code.to_owned(), decimals));
            self.save_book(&book)?;
        }
        Ok(())
    }

    fn save_book(&self, book: &ReceiverBook) -> Result<(), OfflineError> {
        let json = serde_json::to_vec_pretty(book).expect("serialisable");
        Ok(write_file(&self.book_path(), &json, true)?)
    }

    /// Registers a new software device for this wallet and keeps its state.
    pub fn add_device(&self, client: &Client, label: &str) -> Result<DeviceInfo, OfflineError> {
        let seed: [u8; 32] = random_bytes();
        let key = IdentitySecret::from_seed(seed).public();
        let registration = DeviceRegistration {
            owner: self.me.handle.clone(),
            device_key: key,
            attestation: Attestation::Software,
            label: label.to_owned(),
            created_at_ms: now_ms(),
        };
        let signature = registration.sign(&self.me.identity);
        let info = client.register_device(&RegisterDevice {
            registration,
            signature,
        })?;
        let pinned = client
            .node_key()
            .ok_or_else(|| OfflineError::Wrong("no node key pinned".into()))?;
        if info.certificate.device_key != key || info.certificate.verify(&pinned).is_err() {
            return Err(
                ClientError::Untrusted("the device certificate is not the node's".into()).into(),
            );
        }
        let element = SoftElement::new(seed, info.certificate.clone());
        self.devices
            .save(&DeviceFile::new(element.state().clone()))?;
        Ok(info)
    }

    /// The device to use: the one given, else the only one this wallet has.
    pub fn device(&self, which: Option<&str>) -> Result<DeviceFile, OfflineError> {
        let keys = self.devices.devices()?;
        let key = match which {
            Some(text) => *keys
                .iter()
                .find(|k| b64::encode(k.as_bytes()).starts_with(text))
                .ok_or_else(|| OfflineError::Wrong(format!("this wallet has no device {text}")))?,
            None => match keys.as_slice() {
                [only] => *only,
                [] => {
                    return Err(OfflineError::Wrong(
                        "this wallet has no device (run `chit device add`)".into(),
                    ))
                }
                _ => {
                    return Err(OfflineError::Wrong(
                        "this wallet has several devices: name one with --device".into(),
                    ))
                }
            },
        };
        self.devices
            .load(&key)?
            .ok_or_else(|| OfflineError::Wrong("the device's state is missing".into()))
    }

    pub fn local_devices(&self) -> Result<Vec<IdentityKey>, OfflineError> {
        Ok(self.devices.devices()?)
    }

    pub fn forget(&self, device: &IdentityKey) -> Result<(), OfflineError> {
        Ok(self.devices.remove(device)?)
    }

    fn element(file: &DeviceFile) -> Result<SoftElement, OfflineError> {
        SoftElement::from_state(file.state.clone())
            .ok_or_else(|| OfflineError::Wrong("the device's state is damaged".into()))
    }

    /// Sends what the node has not seen of the device; what the node answered.
    pub fn sync(&self, client: &Client, file: &mut DeviceFile) -> Result<SyncAnswer, OfflineError> {
        self.finish_deposit(client, file)?;
        let req = self.sync_request(file);
        let answer = client.offline_sync(&req)?;
        self.synced(file, &req)?;
        self.refresh_revocations(client)?;
        Ok(answer)
    }

    fn sync_request(&self, file: &DeviceFile) -> SyncRequest {
        SyncRequest {
            device: file.state.certificate.device_key,
            entries: file.unsynced.clone(),
            collected: file.collected.clone(),
        }
    }

    /// Forgets what a sync delivered (the node has it now).
    fn synced(&self, file: &mut DeviceFile, req: &SyncRequest) -> Result<(), OfflineError> {
        file.unsynced.retain(|e| !req.entries.contains(e));
        file.collected.retain(|v| !req.collected.contains(v));
        Ok(self.devices.save(file)?)
    }

    /// Sends a deposit saved but not answered, under its id, and applies the answer.
    fn finish_deposit(&self, client: &Client, file: &mut DeviceFile) -> Result<(), OfflineError> {
        let Some(signed) = file.pending_deposit.clone() else {
            return Ok(());
        };
        let answer = client.offline_deposit(&signed)?;
        let mut element = Self::element(file)?;
        match element.deposit(&answer.confirmation, now_ms()) {
            Ok(entry) => file.unsynced.push(entry),
            // Applied before the answer was saved? The device says so; nothing to add.
            Err(DeviceError::Replayed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        file.state = element.state().clone();
        file.pending_deposit = None;
        Ok(self.devices.save(file)?)
    }

    /// Online → device: `amount` in its one written form (`EUR:20.00`).
    pub fn deposit(
        &self,
        client: &Client,
        file: &mut DeviceFile,
        amount: &str,
    ) -> Result<DepositAnswer, OfflineError> {
        self.sync(client, file)?;
        let signed = Client::sign(
            &self.me,
            Action::OfflineDeposit {
                device: file.state.certificate.device_key,
                amount: amount.to_owned(),
                device_i: file.state.i,
            },
        );
        file.pending_deposit = Some(signed.clone());
        self.devices.save(file)?;
        let answer = client.offline_deposit(&signed);
        if let Err(ClientError::Api { .. }) = &answer {
            // Refused: nothing happened, nothing to send again.
            file.pending_deposit = None;
            self.devices.save(file)?;
        }
        let answer = answer?;
        let mut element = Self::element(file)?;
        let entry = element.deposit(&answer.confirmation, now_ms())?;
        file.state = element.state().clone();
        file.unsynced.push(entry);
        file.pending_deposit = None;
        self.devices.save(file)?;
        Ok(answer)
    }

    /// Device → online: the device signs the withdrawal, then the node credits it.
    pub fn withdraw(
        &self,
        client: &Client,
        file: &mut DeviceFile,
        minor: u64,
    ) -> Result<SyncAnswer, OfflineError> {
        self.finish_deposit(client, file)?;
        let mut element = Self::element(file)?;
        let entry = element.withdraw(minor, now_ms())?;
        file.state = element.state().clone();
        file.unsynced.push(entry);
        self.devices.save(file)?;
        let req = self.sync_request(file);
        let answer = client.offline_withdraw(&req)?;
        self.synced(file, &req)?;
        Ok(answer)
    }

    /// A request to show the payer: `minor` units of the device currency, a fresh nonce.
    pub fn request(&self, minor: u64, currency: &str) -> Result<PaymentRequest, OfflineError> {
        let request = PaymentRequest {
            receiver: self.me.handle.clone(),
            amount: minor,
            currency: currency.to_owned(),
            nonce: random_bytes(),
            created_at_ms: now_ms(),
        };
        let mut book = self.book()?;
        book.requests.push(request.clone());
        if book.requests.len() > OPEN_REQUESTS_MAX {
            book.requests.remove(0);
        }
        self.save_book(&book)?;
        Ok(request)
    }

    /// Pays a request from the device, with no network; the voucher to hand over.
    pub fn pay(
        &self,
        file: &mut DeviceFile,
        request: &PaymentRequest,
    ) -> Result<Voucher, OfflineError> {
        let mut element = Self::element(file)?;
        let voucher = element.pay(request, now_ms())?;
        file.state = element.state().clone();
        file.unsynced.push(voucher.entry.clone());
        self.devices.save(file)?;
        Ok(voucher)
    }

    /// PayVerify against the request it answers and the revocation list copy, then the log.
    /// The amount, and whether the list copy is too old to trust fully.
    pub fn receive(
        &self,
        node_key: &IdentityKey,
        voucher: Voucher,
    ) -> Result<(u64, Freshness), OfflineError> {
        let mut book = self.book()?;
        let chit_offline::entry::Event::Pay { nonce, .. } = &voucher.entry.entry.event else {
            return Err(VerifyError::NotAPayment.into());
        };
        let request = book
            .requests
            .iter()
            .position(|r| &r.nonce == nonce)
            .ok_or(VerifyError::WrongRequest);
        let hash = voucher.entry.hash();
        if book.received.iter().any(|r| r.voucher.entry.hash() == hash) {
            return Err(VerifyError::AlreadyReceived.into());
        }
        let index = request?;
        let amount = pay_verify(
            &voucher,
            node_key,
            &self.me.handle,
            Some(&book.requests[index]),
        )?;
        let freshness = match &book.revocations {
            Some(list) if list.devices.contains(&voucher.certificate.device_key) => {
                return Err(VerifyError::Revoked.into())
            }
            Some(list) => list.freshness(now_ms()),
            None => Freshness::Stale { age_ms: u64::MAX },
        };
        book.requests.remove(index);
        book.received.push(Received {
            voucher,
            status: Taken::Received,
            paid: 0,
            note: None,
        });
        self.save_book(&book)?;
        Ok((amount, freshness))
    }

    /// Claims every received voucher online; the node's answer per voucher.
    pub fn claim(&self, client: &Client) -> Result<ClaimAnswer, OfflineError> {
        let mut book = self.book()?;
        let vouchers: Vec<Voucher> = book
            .received
            .iter()
            .filter(|r| r.status == Taken::Received)
            .take(CLAIM_VOUCHERS_MAX)
            .map(|r| r.voucher.clone())
            .collect();
        if vouchers.is_empty() {
            return Ok(ClaimAnswer {
                results: Vec::new(),
            });
        }
        let answer = client.offline_claim(&ClaimRequest { vouchers })?;
        for result in &answer.results {
            if let Some(r) = book
                .received
                .iter_mut()
                .find(|r| b64::encode(&r.voucher.entry.hash()) == result.voucher)
            {
                r.status = match result.outcome {
                    ClaimOutcome::Claimed | ClaimOutcome::AlreadyClaimed => Taken::Claimed,
                    ClaimOutcome::Refused => Taken::Refused,
                };
                r.paid = result.paid;
                r.note = result.message.clone();
            }
        }
        self.save_book(&book)?;
        Ok(answer)
    }

    /// Moves received vouchers onto the device, to spend again offline; how much.
    pub fn collect(&self, file: &mut DeviceFile) -> Result<u64, OfflineError> {
        let mut book = self.book()?;
        let mut element = Self::element(file)?;
        let mut total = 0;
        for r in book
            .received
            .iter_mut()
            .filter(|r| r.status == Taken::Received)
        {
            let entry = element.collect(&r.voucher, now_ms())?;
            total += entry.entry.delta().unsigned_abs() as u64;
            file.unsynced.push(entry);
            file.collected.push(r.voucher.clone());
            r.status = Taken::Collected;
        }
        file.state = element.state().clone();
        // The device first: a crash after it leaves a voucher marked received that the device
        // refuses to collect twice, never money on the device the book does not show.
        self.devices.save(file)?;
        self.save_book(&book)?;
        Ok(total)
    }

    /// Fetches the revocation list, keeping the newer of it and the copy.
    pub fn refresh_revocations(&self, client: &Client) -> Result<RevocationList, OfflineError> {
        let fetched = client.revocation_list()?;
        let mut book = self.book()?;
        let newest = match book.revocations.take() {
            Some(old) => old.newer(fetched),
            None => fetched,
        };
        book.revocations = Some(newest.clone());
        self.save_book(&book)?;
        Ok(newest)
    }
}
