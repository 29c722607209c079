//! What a retired device still holds goes back to its owner once the claim window has passed:
//! by then receivers had their revocation lists tell them to refuse the device, and the
//! vouchers it signed before retiring had the window to be claimed (a later one is a
//! shortfall the loss policy settles). Recorded as movement number 0 of the device, once, and
//! booked like a withdrawal.

use chit_offline::api::DeviceStatus;

use super::books::Books;
use super::withdraw_transfer;
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{self, MovementRow};

impl Node {
    /// Releases what retired devices hold once their window has passed (a worker's job).
    pub fn release_retired(&self, limit: usize) -> Result<usize, NodeError> {
        let now = self.now_ms();
        let cutoff = now.saturating_sub(self.offline_config().retired_claim_window_ms);
        let due = self.db.read(|c| store::retired_holding(c, cutoff, limit))?;
        let mut released = Vec::new();
        for key in due {
            let m = self.write(|c| {
                c.lock(&Books::locks(&[key]))?;
                let mut books = Books::load(c, &[key])?;
                let Some(book) = books.get_mut(&key) else {
                    return Ok(None);
                };
                let done = store::movements(c, &key)?.iter().any(|m| m.i == 0);
                if book.row.status != DeviceStatus::Retired || book.row.held == 0 || done {
                    return Ok(None);
                }
                let paid = book.take(book.row.held);
                let m = MovementRow {
                    device: key,
                    i: 0,
                    deposit: false,
                    amount: paid,
                    paid,
                    command_id: None,
                    transfer_id: withdraw_transfer(&key, 0).to_string(),
                    booked: false,
                };
                store::insert_movement(c, &m, now)?;
                books.save(c, now)?;
                Ok(Some(m))
            })?;
            released.extend(m);
        }
        self.book_movements(&released)?;
        Ok(released.len())
    }
}
