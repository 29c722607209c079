//! Auto-accept: whom a user takes offers from without being asked (off, contacts — people
//! they have written to — or everyone), and accepting a new offer on their behalf.

use std::sync::Arc;

use chit_ledger::{NewTransfer, TransferAction};
use chit_proto::{AutoAccept, Handle, Outcome, PaymentState};

use super::offers::Draft;
use super::CODE_OFFER_ACCEPT;
use crate::error::NodeError;
use crate::node::Node;
use crate::payments::outcomes::Transition;
use crate::store;

impl Node {
    /// The auto-accept setting of the user behind `handle`, or `unknown_handle`. (Reads only
    /// the setting: a whole user row means checking two keys and parsing a certificate.)
    pub(crate) fn require_auto_accept(&self, handle: &Handle) -> Result<AutoAccept, NodeError> {
        let mode = self
            .db
            .read(|c| store::auto_accept(c, handle))?
            .ok_or_else(|| NodeError::not_found("unknown_handle", &format!("no user {handle}")))?;
        mode.parse().map_err(|_| {
            NodeError::from(chit_ledger::StoreError::Corrupt(format!(
                "{handle}'s auto-accept {mode:?}"
            )))
        })
    }

    /// Whom the user accepts offers from without being asked.
    pub async fn auto_accept_mode(
        self: &Arc<Self>,
        handle: Handle,
    ) -> Result<AutoAccept, NodeError> {
        self.run_blocking(move |node| node.auto_accept_mode_blocking(&handle))
            .await
    }

    /// The blocking body of [`Node::auto_accept_mode`].
    pub(crate) fn auto_accept_mode_blocking(
        &self,
        handle: &Handle,
    ) -> Result<AutoAccept, NodeError> {
        self.require_auto_accept(handle)
    }

    /// Sets who the user accepts offers from without being asked.
    pub async fn set_auto_accept(
        self: &Arc<Self>,
        handle: Handle,
        mode: AutoAccept,
    ) -> Result<(), NodeError> {
        self.run_blocking(move |node| node.set_auto_accept_blocking(&handle, mode))
            .await
    }

    /// The blocking body of [`Node::set_auto_accept`].
    pub(crate) fn set_auto_accept_blocking(
        &self,
        handle: &Handle,
        mode: AutoAccept,
    ) -> Result<(), NodeError> {
        self.write(|c| store::set_auto_accept(c, handle, mode.as_str()))?;
        Ok(())
    }

    /// Accepts a new offer on the recipient's behalf when their setting says so. The post has an
    /// id derived from the offer, so retries and other nodes cannot accept it twice.
    pub(crate) fn auto_accept(&self, draft: &Draft) -> Result<(), NodeError> {
        let payee = &draft.part.payee;
        let allowed = match draft.recipient_auto_accept {
            AutoAccept::Everyone => true,
            AutoAccept::Contacts => self
                .db
                .read(|c| store::has_written(c, &draft.conversation.id, payee))?,
            AutoAccept::Off => false,
        };
        if !allowed {
            return Ok(());
        }
        let id = &draft.part.payment;
        // What was just stored; no need to read it back.
        let payment = draft.payment();
        let pending_id = id.transfer();
        let update = id.step("auto-accept");
        let t = NewTransfer {
            id: update,
            action: TransferAction::PostPending {
                pending_id,
                amount: draft.amount.minor(),
            },
            code: CODE_OFFER_ACCEPT,
            reference: pending_id.as_u128(),
            linked: false,
        };
        match self.one_transfer(t)? {
            Ok(_) => {
                let transfers = vec![pending_id.to_string(), update.to_string()];
                let transition =
                    Transition::settled(Outcome::Accepted, vec![PaymentState::Pending], transfers);
                self.record_outcome(&payment, &transition, &update.into(), payee, None)?;
            }
            // Someone (the payer cancelling, say) got there first: nothing to do.
            Err(e) => tracing::info!(payment = %id, error = %e, "auto-accept not applied"),
        }
        Ok(())
    }
}
