//! Devices: registered by their owner's identity key (the seed's TA setup), certified by the
//! node with the limits of their class (OEMVerify), listed, and retired by their owner, which
//! puts them on the revocation list.

use std::sync::Arc;

use chit_offline::api::{DeviceInfo, DeviceList, DeviceStatus, LimitsInfo, RegisterDevice};
use chit_offline::revocation::RevocationList;
use chit_offline::statements::{Attestation, DeviceCertificate};
use chit_proto::api::SignedCommand;
use chit_proto::{Action, Handle};

use super::books::Books;
use crate::error::NodeError;
use crate::node::Node;
use crate::store;

/// Most devices one user may register (retired and revoked ones count).
pub const DEVICES_PER_USER_MAX: usize = 10;
/// Longest device label, in characters.
pub const DEVICE_LABEL_MAX: usize = 64;

impl Node {
    /// Certifies a device its owner registered; the same registration again gets the same
    /// certificate.
    pub async fn register_device(
        self: &Arc<Self>,
        actor: Handle,
        req: RegisterDevice,
    ) -> Result<DeviceInfo, NodeError> {
        self.run_blocking(move |node| node.register_device_blocking(&actor, &req))
            .await
    }

    fn register_device_blocking(
        &self,
        actor: &Handle,
        req: &RegisterDevice,
    ) -> Result<DeviceInfo, NodeError> {
        let r = &req.registration;
        if &r.owner != actor {
            return Err(NodeError::forbidden("a device is registered by its owner"));
        }
        if r.label.chars().count() > DEVICE_LABEL_MAX || r.label.chars().any(char::is_control) {
            return Err(NodeError::bad_request(
                "bad_label",
                "a device label is at most 64 characters, with no control characters",
            ));
        }
        if r.attestation == Attestation::Hardware {
            return Err(NodeError::refused(
                "attestation_unverified",
                "this node cannot verify hardware attestation yet; register the device as software",
            ));
        }
        self.verifier(actor)?
            .ok_or(NodeError::Unauthorized)?
            .verify(&r.signing_bytes(), &req.signature)
            .map_err(|_| {
                NodeError::bad_request(
                    "bad_signature",
                    "the registration is not signed by your identity key",
                )
            })?;
        if let Some(known) = self.db.read(|c| store::device(c, &r.device_key))? {
            if known.owner() != actor || known.certificate.attestation != r.attestation {
                return Err(NodeError::conflict(
                    "device_exists",
                    "this device key is registered already",
                ));
            }
            return self.device_info(known);
        }
        let config = self.offline_config();
        let currency = self.offline_currency();
        let certificate = DeviceCertificate::issue(
            r,
            currency.code().as_str(),
            config.limits.for_class(r.attestation),
            self.now_ms(),
            &self.key,
        );
        let now = self.now_ms();
        let row = self.write(|c| {
            if store::devices_of(c, actor)?.len() >= DEVICES_PER_USER_MAX {
                return Ok(None);
            }
            if store::device(c, &r.device_key)?.is_none() {
                store::insert_device(c, &certificate, &r.label, &req.signature, now)?;
            }
            store::device(c, &r.device_key)
        })?;
        let row = row.ok_or_else(|| {
            NodeError::refused(
                "limit_exceeded",
                &format!("a user may register at most {DEVICES_PER_USER_MAX} devices"),
            )
        })?;
        self.device_info(row)
    }

    /// The caller's devices.
    pub async fn devices(self: &Arc<Self>, actor: Handle) -> Result<DeviceList, NodeError> {
        self.run_blocking(move |node| {
            let rows = node.db.read(|c| store::devices_of(c, &actor))?;
            let devices = rows
                .into_iter()
                .map(|row| node.device_info(row))
                .collect::<Result<_, _>>()?;
            Ok(DeviceList { devices })
        })
        .await
    }

    /// A device as its owner sees it, with how far the node has verified its chain.
    pub(crate) fn device_info(&self, row: store::DeviceRow) -> Result<DeviceInfo, NodeError> {
        let key = row.key();
        let verified_to = self.db.read(|c| {
            let books = Books::load(c, &[key])?;
            Ok(books.get(&key).map_or(0, |b| b.verified_to()))
        })?;
        Ok(DeviceInfo {
            label: row.label.clone(),
            status: row.status,
            reason: row.reason.clone(),
            held: row.held,
            movements: row.movements,
            verified_to,
            certificate: row.certificate,
        })
    }

    /// Retires one of the actor's devices: it goes on the revocation list at once. Vouchers it
    /// signed before are still paid from what it held.
    pub async fn retire_device(
        self: &Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<DeviceInfo, NodeError> {
        self.run_blocking(move |node| {
            let command = &signed.command;
            node.verify_command(&actor, command, &signed.signature, signed.signer.as_ref())?;
            let Action::RetireDevice { device } = &command.action else {
                return Err(NodeError::bad_request(
                    "unsupported_action",
                    "not a retirement",
                ));
            };
            let now = node.now_ms();
            let row = node.write(|c| {
                let Some(row) = store::device(c, device)? else {
                    return Ok(None);
                };
                if row.owner() == &actor && row.status == DeviceStatus::Active {
                    store::set_device_status(
                        c,
                        device,
                        DeviceStatus::Retired,
                        "retired by its owner",
                        now,
                    )?;
                    store::add_revocation(c, device, now)?;
                    return store::device(c, device);
                }
                Ok(Some(row))
            })?;
            match row {
                Some(row) if row.owner() == &actor => node.device_info(row),
                _ => Err(NodeError::not_found("no_device", "you have no such device")),
            }
        })
        .await
    }

    /// The revocation list as it stands, signed now.
    pub async fn revocation_list(self: &Arc<Self>) -> Result<RevocationList, NodeError> {
        self.run_blocking(move |node| {
            let (version, devices) = node.db.read(store::revocations)?;
            Ok(RevocationList::issue(
                version,
                node.now_ms(),
                node.offline_config().limits.revocation_max_age_ms,
                devices,
                &node.key,
            ))
        })
        .await
    }

    /// The limits a new device is certified with, and the loss policy.
    pub fn offline_limits(&self) -> LimitsInfo {
        let config = self.offline_config();
        LimitsInfo {
            currency: self.offline_currency().code().to_string(),
            software: config.limits.software,
            hardware: config.limits.hardware,
            revocation_max_age_ms: config.limits.revocation_max_age_ms,
            loss_policy: config.loss_policy,
        }
    }
}
