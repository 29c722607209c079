//! A device's sync: the entries the node has not seen, checked and placed in its chain, and the
//! vouchers its collects name. A withdrawal is credited once the chain is verified up to it,
//! and never beyond what the device holds less what it still owes receivers; a collect moves
//! a voucher's money onto the device (checked like a claim, and once: a voucher both claimed
//! and collected is a double spend). A revoked device's entries are still taken as evidence,
//! but it withdraws nothing: what it holds is kept for the receivers of its vouchers.

use std::collections::HashMap;
use std::sync::Arc;

use chit_offline::api::{DeviceStatus, SyncAnswer, SyncRequest, SYNC_ENTRIES_MAX};
use chit_offline::chain::Observed;
use chit_offline::cover::withdrawal;
use chit_offline::entry::{Event, SignedEntry, Voucher};
use chit_offline::pay_verify::{pay_verify_batch, VerifyError};
use chit_offline::statements::{Confirmation, Movement};
use chit_proto::Handle;

use super::books::{Book, Books};
use super::redeem::{redeem, Redeemer};
use super::withdraw_transfer;
use crate::db::Conn;
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{self, MovementRow, RedemptionRow};

/// What a sync wrote, to book and tell after its commit.
struct Synced {
    movements: Vec<MovementRow>,
    redemptions: Vec<RedemptionRow>,
    caught: Vec<super::books::Caught>,
}

impl Node {
    /// Syncs a device; with `withdrawing`, the entries must hold a withdrawal.
    pub async fn offline_sync(
        self: &Arc<Self>,
        actor: Handle,
        req: SyncRequest,
        withdrawing: bool,
    ) -> Result<SyncAnswer, NodeError> {
        self.run_blocking(move |node| node.offline_sync_blocking(&actor, &req, withdrawing))
            .await
    }

    fn offline_sync_blocking(
        &self,
        actor: &Handle,
        req: &SyncRequest,
        withdrawing: bool,
    ) -> Result<SyncAnswer, NodeError> {
        let mut entries = check_entries(req)?;
        entries.sort_by_key(|e| e.entry.seq);
        let withdrawals: Vec<u64> = entries
            .iter()
            .filter_map(|e| match e.entry.event {
                Event::Withdraw { i, .. } => Some(i),
                _ => None,
            })
            .collect();
        if withdrawing && withdrawals.is_empty() {
            return Err(NodeError::bad_request(
                "no_withdrawal",
                "the entries hold no withdrawal",
            ));
        }
        let verdicts = pay_verify_batch(&req.collected, &self.key.public(), actor);
        let collected: HashMap<[u8; 32], (&Voucher, &Result<u64, VerifyError>)> = req
            .collected
            .iter()
            .zip(&verdicts)
            .map(|(v, r)| (v.entry.hash(), (v, r)))
            .collect();
        let mut keys = vec![req.device];
        keys.extend(req.collected.iter().map(|v| v.certificate.device_key));
        let now = self.now_ms();
        let synced = self.write(|c| {
            c.lock(&Books::locks(&keys))?;
            let mut books = Books::load(c, &keys)?;
            match books.get(&req.device) {
                Some(b) if b.row.owner() == actor => {}
                _ => {
                    return Ok(Err(NodeError::not_found(
                        "no_device",
                        "you have no such device",
                    )))
                }
            }
            let mut synced = Synced {
                movements: Vec::new(),
                redemptions: Vec::new(),
                caught: Vec::new(),
            };
            let before = books.get(&req.device).map_or(0, Book::verified_to);
            for e in &entries {
                let book = books.get_mut(&req.device).expect("loaded");
                if let (Observed::New { .. }, Event::Collect { voucher, amount }) =
                    (book.observe(e), &e.entry.event)
                {
                    let Some((v, verdict)) = collected.get(voucher) else {
                        return Ok(Err(NodeError::bad_request(
                            "missing_voucher",
                            &format!(
                                "entry {} collects a voucher the sync does not carry",
                                e.entry.seq
                            ),
                        )));
                    };
                    if let Some(row) =
                        self.collect(c, &mut books, actor, e, (v, verdict), *amount)?
                    {
                        store::insert_redemption(c, &row, now)?;
                        synced.redemptions.push(row);
                    }
                }
            }
            synced.movements =
                credit_withdrawals(c, books.get_mut(&req.device).expect("loaded"), before, now)?;
            synced.caught = books.save(c, now)?;
            Ok(Ok(synced))
        })??;
        self.book_redemptions(&synced.redemptions)?;
        self.book_movements(&synced.movements)?;
        self.tell_caught(&synced.caught)?;
        self.sync_answer(req, &withdrawals, &synced)
    }

    /// A collect of `v` onto the syncing device: redeemed once, or evidence against the device.
    fn collect(
        &self,
        c: &mut dyn Conn,
        books: &mut Books,
        owner: &Handle,
        entry: &SignedEntry,
        (v, verdict): (&Voucher, &Result<u64, VerifyError>),
        amount: u64,
    ) -> Result<Option<RedemptionRow>, chit_ledger::StoreError> {
        let device = entry.entry.device_key;
        let hash = v.entry.hash();
        let problem = match verdict {
            Err(e) => Some(format!("it collected a voucher that does not verify: {e}")),
            Ok(paid) if *paid != amount => Some("it collected a voucher for another amount".into()),
            Ok(_) if books.get(&v.certificate.device_key).is_none() => {
                Some("it collected a voucher from a device this node does not know".into())
            }
            Ok(_) => match store::redemption(c, &hash)? {
                Some(first) if first.collector == Some(device) => return Ok(None),
                Some(first) => Some(if first.claimed {
                    format!(
                        "it collected a voucher {} had already claimed",
                        first.claimant
                    )
                } else {
                    "it collected a voucher already collected onto another device".to_owned()
                }),
                None => None,
            },
        };
        if let Some(why) = problem {
            books.get_mut(&device).expect("loaded").caught(entry, why);
            return Ok(None);
        }
        let policy = self.offline_config().loss_policy;
        let by = Redeemer::Collect { device, owner };
        Ok(Some(redeem(books, v, amount, by, policy)))
    }

    fn sync_answer(
        &self,
        req: &SyncRequest,
        withdrawals: &[u64],
        synced: &Synced,
    ) -> Result<SyncAnswer, NodeError> {
        let row = self
            .db
            .read(|c| store::device(c, &req.device))?
            .ok_or_else(NodeError::internal)?;
        let movements = self.db.read(|c| store::movements(c, &req.device))?;
        let confirmations = movements
            .iter()
            .filter(|m| !m.deposit && withdrawals.contains(&m.i))
            .map(|m| {
                Confirmation::issue(
                    m.device,
                    Movement::Withdraw,
                    m.i,
                    m.paid,
                    &row.certificate.currency,
                    &self.key,
                )
            })
            .collect();
        let fraud = synced
            .caught
            .iter()
            .find(|c| c.device == req.device)
            .map(|c| c.why.clone())
            .or_else(|| {
                (row.status == DeviceStatus::Revoked)
                    .then(|| row.reason.clone().unwrap_or_default())
            });
        Ok(SyncAnswer {
            device: self.device_info(row)?,
            withdrawals: confirmations,
            fraud,
        })
    }
}

/// The entries of a sync, checked: this device's, numbered, signed by it, not too many.
fn check_entries(req: &SyncRequest) -> Result<Vec<SignedEntry>, NodeError> {
    if req.entries.len() > SYNC_ENTRIES_MAX || req.collected.len() > SYNC_ENTRIES_MAX {
        return Err(NodeError::bad_request(
            "bad_batch",
            &format!("a sync carries at most {SYNC_ENTRIES_MAX} entries and vouchers"),
        ));
    }
    for e in &req.entries {
        if e.entry.device_key != req.device || e.entry.seq == 0 || e.verify().is_err() {
            return Err(NodeError::bad_request(
                "bad_entry",
                &format!(
                    "entry {} is not this device's, or not signed by it",
                    e.entry.seq
                ),
            ));
        }
    }
    Ok(req.entries.clone())
}

/// Credits the withdrawals the chain now verifies (from entry `before` + 1 on), each once and
/// at most what the device holds less what it owes; a revoked device's are credited nothing.
fn credit_withdrawals(
    c: &mut dyn Conn,
    book: &mut Book,
    before: u64,
    now: u64,
) -> Result<Vec<MovementRow>, chit_ledger::StoreError> {
    let known: Vec<u64> = store::movements(c, &book.row.key())?
        .iter()
        .map(|m| m.i)
        .collect();
    let mut credited = Vec::new();
    for seq in before + 1..=book.verified_to() {
        let Some(Event::Withdraw { i, amount }) = book.entry(seq).map(|e| e.entry.event.clone())
        else {
            continue;
        };
        if known.contains(&i) {
            continue;
        }
        let paid = if book.row.status == DeviceStatus::Revoked {
            0
        } else {
            withdrawal(amount, book.row.held.saturating_sub(book.owed())).paid()
        };
        book.take(paid);
        book.set_movements(i);
        let device = book.row.key();
        let m = MovementRow {
            device,
            i,
            deposit: false,
            amount,
            paid,
            command_id: None,
            transfer_id: withdraw_transfer(&device, i).to_string(),
            booked: paid == 0,
        };
        store::insert_movement(c, &m, now)?;
        credited.push(m);
    }
    Ok(credited)
}
