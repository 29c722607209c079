//! The node benchmark: a real node (HTTP on 127.0.0.1:0) and SDK clients on the same machine.
//! Figures: settled payments/s (a signed offer plus a signed accept, both over HTTP), messages/s,
//! and delivery latency (p50, p99, p99.9, max) from the start of a send to a live WebSocket subscriber at a
//! paced rate over many sender/receiver pairs. Requests are signed and sealed before the clock
//! starts: the figures are the node's, not the client's cryptography sharing the same two cores.

use std::time::{Duration, Instant};

use chit_client::{Client, Event, Identity};
use chit_core::Currencies;
use chit_proto::api::{PostRequest, SignedCommand};
use chit_proto::{Action, Handle, IdentitySecret, MessageId, Signature};

use crate::scratch::{Scratch, Target};

#[derive(Clone, Copy, Debug)]
pub struct NodeOptions {
    /// Payer/payee pairs, each driven by its own client thread.
    pub pairs: usize,
    pub payments: usize,
    pub messages: usize,
    /// Paced send rate for the latency run, messages per second, over all its pairs.
    pub rate: u64,
    /// Sender/receiver pairs in the latency run (the issue compares with XMPP over 50).
    pub latency_pairs: usize,
    pub latency_seconds: u64,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            pairs: 16,
            payments: 4_000,
            messages: 8_000,
            rate: 1_000,
            latency_pairs: 50,
            latency_seconds: 5,
        }
    }
}

/// One measured line.
#[derive(Clone, Debug)]
pub struct NodeFigure {
    pub engine: &'static str,
    pub what: String,
    pub value: String,
}

/// A node under measurement; stopped when dropped.
struct Running {
    url: String,
    _server: chit_server::Background,
}

fn start_node(scratch: &Scratch) -> Result<Running, String> {
    let node = chit_node::Node::new(
        scratch.node_db()?,
        scratch.ledger()?,
        IdentitySecret::generate(),
        Currencies::default(),
    )
    .map_err(|e| e.message())?;
    // Every benchmark client is 127.0.0.1: one address registering and logging in hundreds.
    node.throttles()
        .set(chit_node::throttle::Budgets::unlimited());
    // What `chit serve` runs, on 127.0.0.1:0; the periodic jobs (nothing expires in a run)
    // stay off so they do not share the measured seconds.
    let config = chit_server::Config {
        workers: false,
        ..Default::default()
    };
    let server = chit_server::Background::start(node, config)
        .map_err(|e| format!("node failed to start: {e}"))?;
    Ok(Running {
        url: server.url(),
        _server: server,
    })
}

fn user(url: &str, name: &str) -> Result<(Client, Identity), String> {
    let me = Identity::generate(Handle::new(name).map_err(|e| e.to_string())?);
    let mut client = Client::new(url, None);
    client.register(&me).map_err(|e| e.to_string())?;
    client.login(&me).map_err(|e| e.to_string())?;
    Ok((client, me))
}

/// How the load generator reaches the node.
#[derive(Clone, Copy)]
enum Wire {
    /// One HTTP request per command, each answer awaited before the next.
    Http,
    /// The `/v1/calls` WebSocket, `WINDOW` calls in flight per connection.
    Calls,
}

impl Wire {
    fn label(self) -> &'static str {
        match self {
            Self::Http => "over HTTP",
            Self::Calls => "over /v1/calls",
        }
    }

    /// How many commands each connection has in flight.
    fn in_flight(self) -> usize {
        match self {
            Self::Http => 1,
            Self::Calls => WINDOW,
        }
    }
}

/// Calls in flight per socket (the node allows 256).
const WINDOW: usize = 64;

/// A fresh client (own connection) with `client`'s session.
fn logged_in(url: &str, client: &Client) -> Client {
    let mut fresh = Client::new(url, None);
    fresh.set_token(client.token().unwrap_or_default().to_owned());
    fresh
}

fn settle_over_http(
    payer: &Client,
    payee: &Client,
    items: Vec<(PostRequest, SignedCommand)>,
) -> Result<(), String> {
    for (offer, accept) in items {
        payer.post_offer(&offer).map_err(|e| e.to_string())?;
        payee.decide(&accept).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The payer pipelines offers on its socket; each offer the node has taken goes to the payee's
/// thread, which pipelines the accepts on its own socket.
fn settle_over_calls(
    payer: &Client,
    payee: &Client,
    items: Vec<(PostRequest, SignedCommand)>,
) -> Result<(), String> {
    let (offers, mut accepts): (Vec<_>, Vec<_>) =
        items.into_iter().map(|(o, a)| (o, Some(a))).unzip();
    let (taken, offered) = std::sync::mpsc::channel::<usize>();
    let mut payee_calls = payee.calls().map_err(|e| e.to_string())?;
    let accepting = std::thread::spawn(move || {
        pipeline(
            &mut payee_calls,
            "/v1/commands",
            |wait| {
                let i = if wait {
                    offered.recv().ok()?
                } else {
                    offered.try_recv().ok()?
                };
                Some((i, accepts[i].take().expect("each offer is taken once")))
            },
            |_| Ok(()),
        )
    });
    let mut payer_calls = payer.calls().map_err(|e| e.to_string())?;
    let mut offers = offers.into_iter().enumerate();
    let offering = pipeline(
        &mut payer_calls,
        "/v1/offers",
        |_| offers.next(),
        |i| {
            taken
                .send(i)
                .map_err(|_| "the accepting thread stopped".to_owned())
        },
    );
    drop(taken);
    let accepted = accepting
        .join()
        .map_err(|_| "accept thread panicked".to_owned())?;
    offering.and(accepted)
}

/// Keeps up to [`WINDOW`] calls in flight on `calls`. `next(wait)` gives the next item (index
/// and body): with `wait` false it answers `None` when nothing is ready yet; with `wait` true
/// (nothing in flight) it blocks, and `None` means there is nothing more. `done` hears of each
/// item the node accepted; any refusal stops the run.
fn pipeline<B: serde::Serialize>(
    calls: &mut chit_client::Calls,
    path: &str,
    mut next: impl FnMut(bool) -> Option<(usize, B)>,
    mut done: impl FnMut(usize) -> Result<(), String>,
) -> Result<(), String> {
    let mut in_flight = std::collections::HashMap::new();
    loop {
        while in_flight.len() < WINDOW {
            match next(in_flight.is_empty()) {
                Some((i, body)) => {
                    let number = calls.send(path, &body).map_err(|e| e.to_string())?;
                    in_flight.insert(number, i);
                }
                None if in_flight.is_empty() => return Ok(()),
                None => break,
            }
        }
        let (number, outcome) = calls
            .recv::<serde::de::IgnoredAny>()
            .map_err(|e| e.to_string())?;
        outcome.map_err(|e| e.to_string())?;
        let i = in_flight
            .remove(&number)
            .ok_or_else(|| format!("a reply to call {number}, which is not in flight"))?;
        done(i)?;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What one core spends on the signature check every signed command needs: the ceiling that
/// explains the node figures (a payment is two checks and one receipt signature). Returns
/// checks/s one at a time and in full batches, as the node's checker does them under load.
pub fn signature_checks_per_second() -> (f64, f64) {
    let key = IdentitySecret::generate();
    let verifier = key.public().verifier().expect("own key");
    let batch = chit_node::auth::signatures::SIGNATURE_BATCH_MAX;
    let signed: Vec<(Vec<u8>, Signature)> = (0..batch)
        .map(|i| {
            let message = vec![i as u8; 200];
            let signature = key.sign(&message);
            (message, signature)
        })
        .collect();
    let rounds = 64;
    let start = Instant::now();
    for _ in 0..rounds {
        for (message, signature) in &signed {
            verifier
                .verify(std::hint::black_box(message), signature)
                .expect("verifies");
        }
    }
    let single = (rounds * batch) as f64 / start.elapsed().as_secs_f64();
    let items: Vec<_> = signed
        .iter()
        .map(|(message, signature)| (&verifier, message.as_slice(), signature))
        .collect();
    let start = Instant::now();
    for _ in 0..rounds {
        chit_proto::verify_batch(std::hint::black_box(&items)).expect("verifies");
    }
    let batched = (rounds * batch) as f64 / start.elapsed().as_secs_f64();
    (single, batched)
}

/// Paced sends over `latency_pairs` sender/receiver pairs, `rate` messages/s in all (each pair
/// its share, the pairs' sends interleaved evenly): what each message took from the start of its
/// send to its arrival at the receiver's live subscription. The pairs are new users named after
/// `who`. Returns the rate achieved and the percentiles' text. Many pairs, not one sender: a single
/// sequential sender hides a stalled commit, because the messages due during the stall go out
/// only after it and none of them is timed waiting (coordinated omission); with many senders
/// they queue at the node as real users' would.
fn latency(url: &str, options: &NodeOptions, who: &str) -> Result<(f64, String), String> {
    let pairs = options.latency_pairs.max(1);
    let per_pair = ((options.rate * options.latency_seconds) as usize / pairs).max(1);
    let count = per_pair * pairs;
    let mut senders = Vec::with_capacity(pairs);
    let mut receivers = Vec::with_capacity(pairs);
    for p in 0..pairs {
        let (mut sender_c, sender) = user(url, &format!("{who}_sender{p}"))?;
        let (receiver_c, receiver) = user(url, &format!("{who}_receiver{p}"))?;
        let requests: Vec<PostRequest> = (0..per_pair)
            .map(|_| sender_c.seal_say(&sender, &receiver.handle, b"ping", &chit_client::new_id()))
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let mut listener = receiver_c.listen().map_err(|e| e.to_string())?;
        listener
            .set_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        senders.push((sender_c, requests));
        receivers.push(listener);
    }
    let receiving: Vec<_> = receivers
        .into_iter()
        .map(|mut listener| {
            std::thread::spawn(move || {
                let mut arrivals = Vec::with_capacity(per_pair);
                while arrivals.len() < per_pair {
                    match listener.next_event() {
                        Ok(Event::Delivery(d)) => arrivals.push((d.message.id, Instant::now())),
                        _ => break,
                    }
                }
                arrivals
            })
        })
        .collect();
    // Pair p sends at start + p × tick + i × pairs × tick: one message every tick in all.
    let tick = Duration::from_nanos(1_000_000_000 / options.rate.max(1));
    let start = Instant::now() + Duration::from_millis(50);
    let sending: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(p, (client, requests))| {
            std::thread::spawn(move || {
                let mut sent_at = Vec::with_capacity(requests.len());
                for (i, request) in requests.iter().enumerate() {
                    let due = start + tick * (p + i * pairs) as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    sent_at.push((MessageId::from(request.command.id), Instant::now()));
                    client.post_request(request).map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(sent_at)
            })
        })
        .collect();
    let mut sent_at = std::collections::HashMap::with_capacity(count);
    for thread in sending {
        let sent = thread
            .join()
            .map_err(|_| "a sender panicked".to_owned())??;
        sent_at.extend(sent);
    }
    let mut latencies = Vec::with_capacity(count);
    for thread in receiving {
        let arrivals = thread
            .join()
            .map_err(|_| "a receiver panicked".to_owned())?;
        latencies.extend(
            arrivals
                .into_iter()
                .filter_map(|(id, at)| sent_at.get(&id).map(|s| at.saturating_duration_since(*s))),
        );
    }
    if latencies.len() < count {
        return Err(format!(
            "only {} of {count} messages reached their subscribers",
            latencies.len()
        ));
    }
    latencies.sort_unstable();
    let achieved = count as f64 / start.elapsed().as_secs_f64();
    let text = format!(
        "p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        percentile(&latencies, 0.999).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
    Ok((achieved, text))
}

/// Runs the three measurements on a fresh node over `target`.
pub fn run(
    target: &Target,
    options: NodeOptions,
    report: &mut dyn FnMut(&NodeFigure),
) -> Result<(), String> {
    let scratch = Scratch::new(target)?;
    let node = start_node(&scratch)?;
    let engine = target.name();
    let figure = |what: &str, value: String| NodeFigure {
        engine,
        what: what.to_owned(),
        value,
    };

    // Latency first, on the quiet node. (Right after the saturating runs below, the disk is
    // still flushing their writes.)
    let (achieved, text) = latency(&node.url, &options, "latency")?;
    report(&figure(
        &format!(
            "delivery latency at {} msg/s over {} pairs (achieved {achieved:.0}), send to subscriber",
            options.rate, options.latency_pairs
        ),
        text,
    ));

    // Pairs of users; payers funded from the sandbox rail.
    let mut pairs = Vec::new();
    for i in 0..options.pairs {
        let (payer_c, payer) = user(&node.url, &format!("payer{i}"))?;
        let (payee_c, payee) = user(&node.url, &format!("payee{i}"))?;
        payer_c
            .link(&Client::sign(
                &payer,
                Action::Link {
                    rail: "sandbox".into(),
                    reference: "DE89370400440532013000".into(),
                },
            ))
            .map_err(|e| e.to_string())?;
        payer_c
            .move_money(&Client::sign(
                &payer,
                Action::TopUp {
                    rail: "sandbox".into(),
                    amount: "EUR:10000.00".into(),
                },
            ))
            .map_err(|e| e.to_string())?;
        pairs.push((payer_c, payer, payee_c, payee));
    }

    // Settled payments: offer (payer) then accept (payee), each signed; then messages. Each
    // over HTTP (one request per command, waiting for each answer) and over the calls socket
    // (pipelined, `WINDOW` in flight per connection).
    for wire in [Wire::Http, Wire::Calls] {
        let per_pair = options.payments / options.pairs;
        let mut work = Vec::new();
        for (payer_c, payer, payee_c, payee) in pairs.iter_mut() {
            let mut items = Vec::with_capacity(per_pair);
            for _ in 0..per_pair {
                let id = chit_client::new_id();
                let offer = payer_c
                    .seal_offer(
                        payer,
                        &payee.handle,
                        "EUR:0.01",
                        chit_client::now_ms() + 3_600_000,
                        b"bench",
                        &id,
                    )
                    .map_err(|e| e.to_string())?;
                let accept = Client::sign(payee, Action::Accept { message: id.into() });
                items.push((offer, accept));
            }
            work.push((
                items,
                logged_in(&node.url, payer_c),
                logged_in(&node.url, payee_c),
            ));
        }
        let start = Instant::now();
        let threads: Vec<_> = work
            .into_iter()
            .map(|(items, payer, payee)| {
                std::thread::spawn(move || match wire {
                    Wire::Http => settle_over_http(&payer, &payee, items),
                    Wire::Calls => settle_over_calls(&payer, &payee, items),
                })
            })
            .collect();
        for t in threads {
            t.join()
                .map_err(|_| "payment thread panicked".to_owned())??;
        }
        let settled = per_pair * options.pairs;
        report(&figure(
            &format!(
                "settled payments/s {} ({} pairs × {} in flight)",
                wire.label(),
                options.pairs,
                wire.in_flight()
            ),
            format!("{:.0}", settled as f64 / start.elapsed().as_secs_f64()),
        ));

        // Messages: every pair's payer writes to its payee.
        let per_pair = options.messages / options.pairs;
        let mut work = Vec::new();
        for (payer_c, payer, _, payee) in pairs.iter_mut() {
            let mut items = Vec::with_capacity(per_pair);
            for _ in 0..per_pair {
                items.push(
                    payer_c
                        .seal_say(
                            payer,
                            &payee.handle,
                            b"hello from the benchmark",
                            &chit_client::new_id(),
                        )
                        .map_err(|e| e.to_string())?,
                );
            }
            work.push((items, logged_in(&node.url, payer_c)));
        }
        let start = Instant::now();
        let threads: Vec<_> = work
            .into_iter()
            .map(|(items, client)| {
                std::thread::spawn(move || -> Result<(), String> {
                    match wire {
                        Wire::Http => {
                            for request in items {
                                client.post_request(&request).map_err(|e| e.to_string())?;
                            }
                            Ok(())
                        }
                        Wire::Calls => {
                            let mut calls = client.calls().map_err(|e| e.to_string())?;
                            let mut items = items.into_iter().enumerate();
                            pipeline(&mut calls, "/v1/messages", |_| items.next(), |_| Ok(()))
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join()
                .map_err(|_| "message thread panicked".to_owned())??;
        }
        let sent = per_pair * options.pairs;
        report(&figure(
            &format!(
                "messages/s {} ({} senders × {} in flight)",
                wire.label(),
                options.pairs,
                wire.in_flight()
            ),
            format!("{:.0}", sent as f64 / start.elapsed().as_secs_f64()),
        ));
    }

    drop(node);
    Ok(())
}
