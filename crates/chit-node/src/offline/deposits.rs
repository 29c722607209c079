//! Online → device: a signed `offline_deposit` moves money from the owner's account to the
//! `offline` account, and the node answers with a signed confirmation of movement number *i*
//! that the device applies once, in order. The transfer's id is the command's, and the ledger
//! call is made inside the transaction that records the movement, so a retry (after a crash
//! anywhere) is the same transfer and the same confirmation.

use std::sync::Arc;

use chit_ledger::{NewTransfer, TransferAction};
use chit_offline::api::{DepositAnswer, DeviceStatus};
use chit_offline::statements::{Confirmation, Movement};
use chit_proto::api::SignedCommand;
use chit_proto::{Action, Handle};

use super::books::Books;
use super::{offline_account, CODE_OFFLINE_DEPOSIT};
use crate::error::NodeError;
use crate::node::Node;
use crate::payments::user_account;
use crate::store::{self, MovementRow};

impl Node {
    pub async fn offline_deposit(
        self: &Arc<Self>,
        actor: Handle,
        signed: SignedCommand,
    ) -> Result<DepositAnswer, NodeError> {
        self.run_blocking(move |node| node.offline_deposit_blocking(&actor, &signed))
            .await
    }

    fn offline_deposit_blocking(
        &self,
        actor: &Handle,
        signed: &SignedCommand,
    ) -> Result<DepositAnswer, NodeError> {
        let command = &signed.command;
        self.verify_command(actor, command, &signed.signature, signed.signer.as_ref())?;
        let Action::OfflineDeposit {
            device,
            amount,
            device_i,
        } = &command.action
        else {
            return Err(NodeError::bad_request(
                "unsupported_action",
                "not an offline deposit",
            ));
        };
        let amount = self.parse_wire_amount(amount)?;
        let currency = self.offline_currency();
        if amount.currency() != currency {
            return Err(NodeError::bad_request(
                "wrong_currency",
                &format!("devices hold {}", currency.code()),
            ));
        }
        let minor = amount.minor();
        let id = command.id;
        let now = self.now_ms();
        let recorded = self.write(|c| {
            c.lock(&Books::locks(&[*device]))?;
            if let Some(m) = store::movement_by_command(c, id.as_str())? {
                return Ok(Ok(m));
            }
            let books = Books::load(c, &[*device])?;
            let Some(book) = books.get(device).filter(|b| b.row.owner() == actor) else {
                return Ok(Err(NodeError::not_found("no_device", "you have no such device")));
            };
            let row = &book.row;
            if row.status != DeviceStatus::Active {
                return Ok(Err(NodeError::conflict(
                    "device_not_active",
                    &format!("the device is {}: {}", row.status.as_str(), row.reason.as_deref().unwrap_or("")),
                )));
            }
            if row.movements != *device_i {
                return Ok(Err(NodeError::conflict(
                    "device_out_of_sync",
                    &format!(
                        "the node is at movement {}, the device at {device_i}: sync the device first",
                        row.movements
                    ),
                )));
            }
            let on_device = row.held.saturating_sub(book.owed());
            let limit = row.certificate.holding_limit;
            if on_device.checked_add(minor).is_none_or(|total| total > limit) {
                return Ok(Err(NodeError::refused(
                    "limit_exceeded",
                    &format!("the device may hold at most {limit} (minor units); it holds {on_device}"),
                )));
            }
            let t = NewTransfer {
                id: id.transfer(),
                action: TransferAction::Immediate {
                    debit_account_id: user_account(actor, &currency),
                    credit_account_id: offline_account(&currency),
                    amount: minor,
                    currency: currency.code(),
                },
                code: CODE_OFFLINE_DEPOSIT,
                reference: 0,
                linked: false,
            };
            // Durable in the ledger before the movement is recorded; a retry finds it there.
            match self.one_transfer(t) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Ok(Err(self.refused_transfer(e, actor, &amount))),
                Err(e) => return Ok(Err(e)),
            }
            let m = MovementRow {
                device: *device,
                i: device_i + 1,
                deposit: true,
                amount: minor,
                paid: minor,
                command_id: Some(id.as_str().to_owned()),
                transfer_id: id.transfer().to_string(),
                booked: true,
            };
            store::insert_movement(c, &m, now)?;
            store::set_device_counters(c, device, m.i, row.held + minor)?;
            Ok(Ok(m))
        })??;
        if recorded.device != *device {
            return Err(NodeError::conflict(
                "id_conflict",
                "this id was used for a different command",
            ));
        }
        let row = self
            .db
            .read(|c| store::device(c, device))?
            .ok_or_else(NodeError::internal)?;
        Ok(DepositAnswer {
            confirmation: Confirmation::issue(
                *device,
                Movement::Deposit,
                recorded.i,
                recorded.amount,
                currency.code().as_str(),
                &self.key,
            ),
            device: self.device_info(row)?,
        })
    }
}
