//! Crash torture: a real `chit serve` under mixed load (top-ups, offers and accepts, requests
//! and pays, cash-outs, and retries of answered commands with the same bodies) is SIGKILLed
//! again and again. After each restart the commands whose answer was lost are sent again as
//! they were; then every acknowledged operation must be in the ledger exactly once, every
//! balance must be what the acknowledged operations make it, and `chit admin audit` must be
//! clean. `CHIT_CRASH_CYCLES` sets the cycles per engine (10 by default; docs/crash.md has a
//! long run).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chit_client::{new_id, Client, ClientError, Identity};
use chit_ledger_tests::{engines, Engine, TestDb};
use chit_proto::api::{PostRequest, SignedCommand, StatementEntry};
use chit_proto::{Action, Handle};

use super::{Serve, CHIT};

/// A command sent to the node, kept so it can be sent again exactly as it was.
#[derive(Clone, Debug)]
enum Op {
    TopUp(SignedCommand),
    CashOut(SignedCommand),
    Offer(PostRequest),
    Accept(SignedCommand),
    Request(PostRequest),
    Pay {
        request: chit_proto::PaymentId,
        command: SignedCommand,
    },
}

/// One payer/payee pair, driven by one thread; what was acknowledged, and the balance that
/// makes for each side (in cents).
struct Pair {
    payer: Identity,
    payee: Identity,
    /// Session tokens: logged in once, they outlive the node's restarts.
    tokens: (String, String),
    acknowledged: Vec<Op>,
    /// The command whose answer was lost to a crash, to send again after the restart.
    unanswered: Option<Op>,
    /// What comes next after an acknowledged offer or request: its accept or pay.
    next: Option<Op>,
    payer_cents: i64,
    payee_cents: i64,
    step: u64,
}

const CENT_OP: &str = "EUR:1.00";

fn sign(me: &Identity, action: Action) -> SignedCommand {
    Client::sign(me, action)
}

impl Pair {
    /// The operation to make next: money in when the payer runs low, then a due accept or
    /// pay, else one by turn.
    /// `Err` when the node is gone before anything was sent (sealing looks keys up).
    fn choose(&mut self, payer_c: &mut Client, payee_c: &mut Client) -> Result<Op, ClientError> {
        if self.payer_cents < 200 {
            let top_up = Action::TopUp {
                rail: "sandbox".into(),
                amount: "EUR:5.00".into(),
            };
            return Ok(Op::TopUp(sign(&self.payer, top_up)));
        }
        if let Some(next) = self.next.take() {
            return Ok(next);
        }
        self.step += 1;
        let expires = chit_client::now_ms() + 10 * 60_000;
        let (payer, payee) = (&self.payer, &self.payee);
        Ok(match self.step % 5 {
            0 => Op::CashOut(sign(
                payer,
                Action::CashOut {
                    rail: "sandbox".into(),
                    amount: CENT_OP.into(),
                },
            )),
            1 | 2 => Op::Offer(payer_c.seal_offer(
                payer,
                &payee.handle,
                CENT_OP,
                expires,
                b"",
                &new_id(),
            )?),
            _ => Op::Request(payee_c.seal_request(
                payee,
                &payer.handle,
                CENT_OP,
                expires,
                b"",
                &new_id(),
            )?),
        })
    }

    /// Sends `op`; `Err` only when the node could not be reached (the answer is lost).
    fn send(&self, op: &Op, payer_c: &Client, payee_c: &Client) -> Result<(), ClientError> {
        let result = match op {
            Op::TopUp(c) | Op::CashOut(c) => payer_c.move_money(c).map(|_| ()),
            Op::Offer(p) => payer_c.post_offer(p).map(|_| ()),
            Op::Accept(c) => payee_c.decide(c).map(|_| ()),
            Op::Request(p) => payee_c.post_payment_request(p).map(|_| ()),
            Op::Pay { command, .. } => payer_c.decide(command).map(|_| ()),
        };
        match result {
            Err(ClientError::Api { code, message, .. }) => {
                panic!("{op:?} was refused: {message} ({code})")
            }
            other => other,
        }
    }

    /// Books an acknowledged operation.
    fn acknowledge(&mut self, op: Op) {
        match &op {
            Op::TopUp(_) => self.payer_cents += 500,
            Op::CashOut(_) => self.payer_cents -= 100,
            Op::Offer(p) => {
                self.payer_cents -= 100; // held at once: not available, and paid on accept
                self.next = Some(Op::Accept(sign(
                    &self.payee,
                    Action::Accept {
                        message: p.command.id.into(),
                    },
                )));
            }
            Op::Accept(_) => self.payee_cents += 100,
            Op::Request(p) => {
                self.next = Some(Op::Pay {
                    request: p.command.id.into(),
                    command: sign(
                        &self.payer,
                        Action::Pay {
                            message: p.command.id.into(),
                            at_ms: None,
                        },
                    ),
                })
            }
            Op::Pay { .. } => {
                self.payer_cents -= 100;
                self.payee_cents += 100;
            }
        }
        self.acknowledged.push(op);
    }
}

/// A client on `url` with the session `token` (sessions outlive restarts).
fn with_session(url: &str, token: &str) -> Client {
    let mut client = Client::new(url, None);
    client.set_token(token.to_owned());
    client
}

/// Drives `pair` until `stop` or until the node is gone.
fn drive(pair: &mut Pair, url: &str, stop: &AtomicBool) {
    let mut payer_c = with_session(url, &pair.tokens.0);
    let mut payee_c = with_session(url, &pair.tokens.1);
    // First what a crash left unanswered, as it was.
    if let Some(op) = pair.unanswered.take() {
        let started = Instant::now();
        while pair.send(&op, &payer_c, &payee_c).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{op:?} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        pair.acknowledge(op);
    }
    while !stop.load(Ordering::Relaxed) {
        let Ok(op) = pair.choose(&mut payer_c, &mut payee_c) else {
            return;
        };
        if pair.send(&op, &payer_c, &payee_c).is_err() {
            pair.unanswered = Some(op);
            return;
        }
        pair.acknowledge(op.clone());
        // Now and then an answered command again, as a client that missed the answer would.
        if pair.step.is_multiple_of(7) && pair.send(&op, &payer_c, &payee_c).is_err() {
            return;
        }
    }
}

fn statement(client: &Client) -> Vec<StatementEntry> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = client.statement(Some("EUR"), after, 500).unwrap().entries;
        let done = page.len() < 500;
        after = page.last().map(|e| e.cursor);
        all.extend(page);
        if done {
            return all;
        }
    }
}

fn cents(amount: &str) -> i64 {
    let number = amount.strip_prefix("EUR:").unwrap();
    let (whole, fraction) = number.split_once('.').unwrap();
    whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
}

/// Every acknowledged operation of `pair` is in the ledger exactly once, and each side's
/// balance is what they make it.
fn check(pair: &Pair, url: &str, engine: Engine, cycle: usize) {
    let payer_c = with_session(url, &pair.tokens.0);
    let payee_c = with_session(url, &pair.tokens.1);
    let (payer, payee) = (statement(&payer_c), statement(&payee_c));
    // How often each transfer, and each request's payment, is in the statements.
    let mut seen: std::collections::HashMap<(&str, &str, &str), usize> = Default::default();
    for (side, entries) in [("payer", &payer), ("payee", &payee)] {
        for e in entries.iter() {
            *seen
                .entry((side, e.kind.as_str(), e.transfer.as_str()))
                .or_default() += 1;
            if let Some(p) = &e.payment {
                *seen.entry((side, "of", p.as_str())).or_default() += 1;
            }
        }
    }
    for op in &pair.acknowledged {
        let key = match op {
            Op::TopUp(c) => ("payer", "top_up", c.command.id.as_str()),
            Op::CashOut(c) => ("payer", "cash_out", c.command.id.as_str()),
            Op::Offer(p) => ("payer", "hold", p.command.id.as_str()),
            Op::Accept(c) => ("payee", "payment", c.command.id.as_str()),
            Op::Request(_) => continue,
            // The payee's side of a paid request has one line: the payment.
            Op::Pay { request, .. } => ("payee", "of", request.as_str()),
        };
        let n = seen.get(&key).copied().unwrap_or(0);
        assert_eq!(
            n, 1,
            "{engine:?} cycle {cycle}: {op:?} is in the ledger {n} times"
        );
    }
    for (client, expected, who) in [
        (&payer_c, pair.payer_cents, &pair.payer.handle),
        (&payee_c, pair.payee_cents, &pair.payee.handle),
    ] {
        let b = client.balances().unwrap().balances.remove(0);
        // The payer's open offer (acknowledged, not yet accepted) is held: not in `available`.
        let held = match (&pair.next, who == &pair.payer.handle) {
            (Some(Op::Accept(_)), true) => 100,
            _ => 0,
        };
        assert_eq!(
            cents(&b.available),
            expected,
            "{engine:?} cycle {cycle}: {who}'s available balance"
        );
        assert_eq!(
            cents(&b.balance),
            expected + held,
            "{engine:?} cycle {cycle}: {who}"
        );
    }
}

fn audit_clean(data: &std::path::Path, database: Option<&str>, engine: Engine, cycle: usize) {
    let mut audit = std::process::Command::new(CHIT);
    audit.args(["admin", "audit", "--data-dir"]).arg(data);
    if let Some(url) = database {
        audit.args(["--database", url]);
    }
    let out = audit.output().unwrap();
    assert!(
        out.status.success(),
        "{engine:?} cycle {cycle}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_node_killed_again_and_again_loses_and_doubles_nothing() {
    let cycles: usize = std::env::var("CHIT_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    for engine in engines() {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDb::new(engine);
        let database = (engine == Engine::Postgres).then_some(db.location.clone());
        let data = dir.path().join("node");
        let mut node = Serve::start(&data, database.as_deref());
        let mut pairs: Vec<Pair> = (0..3)
            .map(|i| {
                let payer = Identity::generate(Handle::new(&format!("payer{i}")).unwrap());
                let payee = Identity::generate(Handle::new(&format!("payee{i}")).unwrap());
                let mut c = Client::new(&node.url, None);
                let mut tokens = Vec::new();
                for me in [&payee, &payer] {
                    c.register(me).unwrap();
                    c.login(me).unwrap();
                    tokens.push(c.token().unwrap().to_owned());
                }
                c.link(&sign(
                    &payer,
                    Action::Link {
                        rail: "sandbox".into(),
                        reference: "DE89370400440532013000".into(),
                    },
                ))
                .unwrap();
                Pair {
                    payer,
                    payee,
                    tokens: (tokens[1].clone(), tokens[0].clone()),
                    acknowledged: Vec::new(),
                    unanswered: None,
                    next: None,
                    payer_cents: 0,
                    payee_cents: 0,
                    step: i,
                }
            })
            .collect();
        let mut seed = 0x9e37_79b9_u64;
        for cycle in 0..cycles {
            let stop = Arc::new(AtomicBool::new(false));
            let url = node.url.clone();
            let kill_after = {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                Duration::from_millis(150 + seed % 400)
            };
            std::thread::scope(|s| {
                for pair in pairs.iter_mut() {
                    let (url, stop) = (url.clone(), stop.clone());
                    s.spawn(move || drive(pair, &url, &stop));
                }
                std::thread::sleep(kill_after);
                // SIGKILL: no shutdown, whatever was in flight is cut off.
                node.kill();
                stop.store(true, Ordering::Relaxed);
            });
            node = Serve::start(&data, database.as_deref());
            // The lost answers first (each pair's thread sends them before anything new).
            let stop = AtomicBool::new(true);
            for pair in pairs.iter_mut() {
                drive(pair, &node.url, &stop);
                check(pair, &node.url, engine, cycle);
            }
            audit_clean(&data, database.as_deref(), engine, cycle);
        }
        let made: usize = pairs.iter().map(|p| p.acknowledged.len()).sum();
        println!(
            "{engine:?}: {cycles} SIGKILLs, {made} acknowledged operations, none lost or doubled"
        );
        assert!(
            made >= cycles * 3,
            "{engine:?}: the load made too little ({made})"
        );
        node.stop();
    }
}
