//! The ledger transfers behind offline money, booked right after the write that decided them
//! and marked booked once the ledger has them. Each has an id derived from what it is for (a
//! voucher, a device's withdrawal number), so booking twice — the request and the worker
//! racing, two nodes, a retry after a crash — is one transfer.

use chit_core::{Currency, CurrencyCode};
use chit_ledger::{NewTransfer, TransferAction};

use super::{
    loss_transfer, offline_account, offline_losses_account, redeem_transfer, withdraw_transfer,
    CODE_OFFLINE_CLAIM, CODE_OFFLINE_LOSS, CODE_OFFLINE_WITHDRAW,
};
use crate::error::NodeError;
use crate::node::Node;
use crate::payments::{ledger_error, transfer_error, user_account};
use crate::store::{self, MovementRow, RedemptionRow};

fn immediate(
    id: chit_core::TransferId,
    debit: chit_core::AccountId,
    credit: chit_core::AccountId,
    amount: u64,
    currency: &Currency,
    code: u16,
) -> NewTransfer {
    NewTransfer {
        id,
        action: TransferAction::Immediate {
            debit_account_id: debit,
            credit_account_id: credit,
            amount,
            currency: currency.code(),
        },
        code,
        reference: 0,
        linked: false,
    }
}

/// The transfers of one redemption: the claimant paid from the device's money and from the
/// operator's losses; a collect's shortfall put into `offline` by the operator.
fn redemption_transfers(row: &RedemptionRow, currency: &Currency) -> Vec<NewTransfer> {
    let (offline, losses) = (offline_account(currency), offline_losses_account(currency));
    let mut out = Vec::new();
    if row.claimed {
        let claimant = user_account(&row.claimant, currency);
        if row.from_device > 0 {
            let id = redeem_transfer(&row.hash);
            out.push(immediate(
                id,
                offline,
                claimant,
                row.from_device,
                currency,
                CODE_OFFLINE_CLAIM,
            ));
        }
        if row.from_losses > 0 {
            let id = loss_transfer(&row.hash);
            out.push(immediate(
                id,
                losses,
                claimant,
                row.from_losses,
                currency,
                CODE_OFFLINE_LOSS,
            ));
        }
    } else if row.from_losses > 0 {
        let id = loss_transfer(&row.hash);
        out.push(immediate(
            id,
            losses,
            offline,
            row.from_losses,
            currency,
            CODE_OFFLINE_LOSS,
        ));
    }
    out
}

impl Node {
    fn currency_named(&self, code: &str) -> Result<Currency, NodeError> {
        CurrencyCode::new(code)
            .ok()
            .and_then(|c| self.currencies.find(c))
            .ok_or_else(|| {
                tracing::error!(
                    currency = code,
                    "an offline currency is no longer configured"
                );
                NodeError::internal()
            })
    }

    /// Applies transfers; every one must be applied (now or before).
    fn apply(&self, transfers: Vec<NewTransfer>) -> Result<(), NodeError> {
        if transfers.is_empty() {
            return Ok(());
        }
        let results = self
            .ledger
            .create_transfers_blocking(transfers)
            .map_err(ledger_error)?;
        for r in results {
            if let Err(e) = r {
                tracing::error!(error = %e, "an offline transfer was refused");
                return Err(transfer_error(e));
            }
        }
        Ok(())
    }

    /// Books redemptions not booked yet, in one ledger batch, then marks them.
    pub(crate) fn book_redemptions(&self, rows: &[RedemptionRow]) -> Result<(), NodeError> {
        let rows: Vec<&RedemptionRow> = rows.iter().filter(|r| !r.booked).collect();
        if rows.is_empty() {
            return Ok(());
        }
        let mut transfers = Vec::new();
        for row in &rows {
            let currency = self.currency_named(&row.voucher.entry.entry.currency)?;
            transfers.extend(redemption_transfers(row, &currency));
        }
        self.apply(transfers)?;
        let hashes: Vec<[u8; 32]> = rows.iter().map(|r| r.hash).collect();
        self.write(|c| store::mark_redemptions_booked(c, &hashes))?;
        Ok(())
    }

    /// Books withdrawals not booked yet, then marks them.
    pub(crate) fn book_movements(&self, rows: &[MovementRow]) -> Result<(), NodeError> {
        for m in rows.iter().filter(|m| !m.booked && !m.deposit) {
            let Some(device) = self.db.read(|c| store::device(c, &m.device))? else {
                continue;
            };
            let currency = self.currency_named(&device.certificate.currency)?;
            if m.paid > 0 {
                let id = withdraw_transfer(&m.device, m.i);
                let owner = user_account(device.owner(), &currency);
                let t = immediate(
                    id,
                    offline_account(&currency),
                    owner,
                    m.paid,
                    &currency,
                    CODE_OFFLINE_WITHDRAW,
                );
                self.apply(vec![t])?;
            }
            self.write(|c| store::mark_movement_booked(c, &m.device, m.i))?;
        }
        Ok(())
    }

    /// Books what a crash left unbooked (a worker's job; safe on every node at once).
    pub fn book_offline(&self, limit: usize) -> Result<usize, NodeError> {
        let redemptions = self.db.read(|c| store::unbooked_redemptions(c, limit))?;
        let movements = self.db.read(|c| store::unbooked_movements(c, limit))?;
        self.book_redemptions(&redemptions)?;
        self.book_movements(&movements)?;
        Ok(redemptions.len() + movements.len())
    }
}
