//! The ledger benchmark: durable transfers per second for batch sizes 1, 100, 1000 and 8000 over
//! 10,000 accounts, with a uniform load and a hot-account load (every transfer credits one
//! account), on each engine; plus group commit with many concurrent single-transfer callers.

use std::sync::Arc;

use crate::scratch::Scratch;
pub use crate::scratch::Target;
use std::time::{Duration, Instant};

use chit_core::{AccountId, CurrencyCode, TransferId};
use chit_ledger::{AccountKind, Ledger, NewAccount, NewTransfer, TransferAction};

/// How the benchmark's clients choose transfer ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ids {
    /// `TransferId::time_ordered`, what Chit's own clients send.
    TimeOrdered,
    /// Uniformly random 128-bit ids: the worst case for the id index.
    Random,
}

#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub ids: Ids,
    pub accounts: u64,
    /// Transfers per measured run (batch size 1 runs a tenth of it: each is an fsync).
    pub transfers: u64,
    /// Concurrent callers in the group-commit run.
    pub callers: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ids: Ids::TimeOrdered,
            accounts: 10_000,
            transfers: 200_000,
            callers: 64,
        }
    }
}

/// One measured row.
#[derive(Clone, Debug)]
pub struct Figure {
    pub engine: &'static str,
    pub load: &'static str,
    pub batch: String,
    pub transfers: u64,
    pub elapsed: Duration,
}

impl Figure {
    pub fn per_second(&self) -> f64 {
        self.transfers as f64 / self.elapsed.as_secs_f64()
    }
}

#[derive(Clone, Copy)]
enum Load {
    Uniform,
    Hot,
}

const BANK: u128 = 1;
const FIRST_USER: u128 = 1_000;
const BATCH_SIZES: [u64; 4] = [1, 100, 1_000, 8_000];

/// Runs every measurement on `target`, calling `report` as each row completes.
pub fn run(
    target: &Target,
    options: Options,
    report: &mut dyn FnMut(&Figure),
) -> Result<(), String> {
    let scratch = Scratch::new(target)?;
    let ledger = Arc::new(scratch.ledger()?);
    setup(&ledger, options)?;
    let mut rng = Rng::new(0x5EED, options.ids);
    for (load, load_name) in [(Load::Uniform, "uniform"), (Load::Hot, "hot account")] {
        for batch in BATCH_SIZES {
            let total = if batch == 1 {
                options.transfers / 20
            } else {
                options.transfers
            };
            let total = total.max(batch);
            let requests: Vec<Vec<NewTransfer>> = (0..total / batch)
                .map(|_| {
                    (0..batch)
                        .map(|_| transfer(&mut rng, load, options.accounts))
                        .collect()
                })
                .collect();
            let start = Instant::now();
            for request in requests {
                let results = ledger
                    .create_transfers_blocking(request)
                    .map_err(|e| e.to_string())?;
                check(&results)?;
            }
            report(&Figure {
                engine: target.name(),
                load: load_name,
                batch: batch.to_string(),
                transfers: total / batch * batch,
                elapsed: start.elapsed(),
            });
        }
    }
    report(&group_commit(&ledger, target.name(), options, &mut rng)?);
    let audit = ledger.audit().map_err(|e| e.to_string())?;
    if !audit.is_clean() {
        return Err(format!("audit after the benchmark: {:?}", audit.violations));
    }
    Ok(())
}

/// Many callers each sending one transfer at a time: the writer gathers them into batches.
fn group_commit(
    ledger: &Arc<Ledger>,
    engine: &'static str,
    options: Options,
    rng: &mut Rng,
) -> Result<Figure, String> {
    let per_caller = (options.transfers / 10 / options.callers).max(1);
    let work: Vec<Vec<NewTransfer>> = (0..options.callers)
        .map(|_| {
            (0..per_caller)
                .map(|_| transfer(rng, Load::Uniform, options.accounts))
                .collect()
        })
        .collect();
    let start = Instant::now();
    let threads: Vec<_> = work
        .into_iter()
        .map(|transfers| {
            let ledger = ledger.clone();
            std::thread::spawn(move || -> Result<(), String> {
                for t in transfers {
                    check(
                        &ledger
                            .create_transfers_blocking(vec![t])
                            .map_err(|e| e.to_string())?,
                    )?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| "caller thread panicked".to_owned())??;
    }
    Ok(Figure {
        engine,
        load: "uniform",
        batch: format!("group commit, {} callers x 1", options.callers),
        transfers: per_caller * options.callers,
        elapsed: start.elapsed(),
    })
}

fn check(results: &[chit_ledger::TransferResult]) -> Result<(), String> {
    match results.iter().find(|r| r.is_err()) {
        Some(Err(e)) => Err(format!("benchmark transfer rejected: {e}")),
        _ => Ok(()),
    }
}

fn eur() -> CurrencyCode {
    CurrencyCode::new("EUR").expect("valid")
}

fn account(raw: u128) -> AccountId {
    AccountId::new(raw).expect("valid")
}

/// Opens 10,000 user accounts and funds each from the bank so no transfer runs out of money.
fn setup(ledger: &Ledger, options: Options) -> Result<(), String> {
    let bank = NewAccount {
        id: account(BANK),
        currency: eur(),
        kind: AccountKind::System,
        code: 0,
        reference: 0,
    };
    let mut accounts = vec![bank];
    accounts.extend((0..options.accounts).map(|i| NewAccount {
        id: account(FIRST_USER + u128::from(i)),
        kind: AccountKind::User,
        ..bank
    }));
    for chunk in accounts.chunks(8_000) {
        ledger
            .create_accounts_blocking(chunk.to_vec())
            .map_err(|e| e.to_string())?;
    }
    let mut rng = Rng::new(1, options.ids);
    let funding: Vec<NewTransfer> = (0..options.accounts)
        .map(|i| {
            immediate(
                rng.id(),
                BANK,
                FIRST_USER + u128::from(i),
                1_000_000_000_000,
            )
        })
        .collect();
    for chunk in funding.chunks(8_000) {
        check(
            &ledger
                .create_transfers_blocking(chunk.to_vec())
                .map_err(|e| e.to_string())?,
        )?;
    }
    Ok(())
}

fn immediate(id: u128, debit: u128, credit: u128, amount: u64) -> NewTransfer {
    NewTransfer {
        id: TransferId::new(id).expect("valid"),
        action: TransferAction::Immediate {
            debit_account_id: account(debit),
            credit_account_id: account(credit),
            amount,
            currency: eur(),
        },
        code: 1,
        reference: 0,
        linked: false,
    }
}

fn transfer(rng: &mut Rng, load: Load, accounts: u64) -> NewTransfer {
    let user = |rng: &mut Rng| FIRST_USER + u128::from(rng.below(accounts));
    let credit = match load {
        Load::Uniform => user(rng),
        Load::Hot => FIRST_USER,
    };
    let mut debit = user(rng);
    while debit == credit {
        debit = user(rng);
    }
    immediate(rng.id(), debit, credit, 1 + rng.below(10_000))
}

/// Client ids and accounts; seeded, so runs are comparable.
struct Rng {
    random: fastrand::Rng,
    ids: Ids,
}

impl Rng {
    fn new(seed: u64, ids: Ids) -> Self {
        Self {
            random: fastrand::Rng::with_seed(seed),
            ids,
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.random.u64(..n)
    }

    fn id(&mut self) -> u128 {
        match self.ids {
            Ids::Random => self.random.u128(2..u128::MAX),
            Ids::TimeOrdered => {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                TransferId::time_ordered(ms, self.random.u128(..)).as_u128()
            }
        }
    }
}
