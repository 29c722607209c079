//! Offline payments through a real node, on both engines: the five flows (device registration,
//! deposit and withdraw, offline pay, claim, collect) end to end with the SDK's wallet, and
//! every way a software device can cheat — cloned, rolled back, patched — caught at the first
//! claim or sync that makes it visible, revoked with its evidence, the people concerned told,
//! the loss booked by policy, and the audit clean after each.

use chit_client::offline::{OfflineWallet, Taken};
use chit_client::{Client, Identity};
use chit_ledger_tests::{engines, Engine};
use chit_node::offline::{offline_account, offline_losses_account, OfflineConfig};
use chit_offline::api::{ClaimOutcome, ClaimRequest, DeviceStatus};
use chit_offline::cover::LossPolicy;
use chit_offline::device::{SecureElement, SoftElement};
use chit_offline::entry::{Event, Voucher};
use chit_proto::api::direct_conversation;

use super::payments::{balance, funded};
use super::*;

fn wallet(node: &TestNode, me: &Identity) -> (OfflineWallet, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let _ = node;
    (OfflineWallet::new(dir.path(), me.clone()), dir)
}

fn pinned(node: &TestNode, client: &mut Client) {
    client.node_info().unwrap();
    assert_eq!(client.node_key(), Some(node.node.key().public()));
}

fn clean(node: &TestNode) -> chit_node::audit::NodeAudit {
    let report = chit_node::audit::audit(
        node.node.db(),
        node.node.ledger(),
        &node.node.key().public(),
    )
    .unwrap();
    assert!(
        report.is_clean(),
        "audit: {:?} {:?}",
        report.violations,
        report.ledger.violations
    );
    assert!(
        report.repairs_pending.is_empty(),
        "{:?}",
        report.repairs_pending
    );
    report
}

fn account_balance(node: &TestNode, id: chit_core::AccountId) -> i128 {
    node.node
        .ledger()
        .account(id)
        .unwrap()
        .map_or(0, |a| a.balance())
}

/// A payer with a device holding `deposit`, and a receiver.
struct Pair {
    alice: (Client, Identity),
    alice_wallet: (OfflineWallet, tempfile::TempDir),
    bob: (Client, Identity),
    bob_wallet: (OfflineWallet, tempfile::TempDir),
}

fn pair(node: &TestNode, deposit: &str) -> Pair {
    let mut alice = funded(node, "alice", "EUR:100.00");
    let mut bob = node.user("bob");
    pinned(node, &mut alice.0);
    pinned(node, &mut bob.0);
    let alice_wallet = wallet(node, &alice.1);
    let bob_wallet = wallet(node, &bob.1);
    alice_wallet.0.add_device(&alice.0, "phone").unwrap();
    let mut file = alice_wallet.0.device(None).unwrap();
    alice_wallet
        .0
        .deposit(&alice.0, &mut file, deposit)
        .unwrap();
    Pair {
        alice,
        alice_wallet,
        bob,
        bob_wallet,
    }
}

#[test]
fn the_five_flows_end_to_end() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let p = pair(&node, "EUR:50.00");
        let (aw, bw) = (&p.alice_wallet.0, &p.bob_wallet.0);
        assert_eq!(
            balance(&p.alice.0),
            ("EUR:50.00".into(), "EUR:50.00".into())
        );
        let mut file = aw.device(None).unwrap();
        assert_eq!(file.state.balance, 5_000);
        // Offline: bob asks, alice's device pays, bob verifies — no node involved.
        let request = bw.request(1_250, "EUR").unwrap();
        let voucher = aw.pay(&mut file, &request).unwrap();
        let text = chit_offline::uri::voucher_uri(&voucher);
        let voucher = chit_offline::uri::parse_voucher(&text).unwrap();
        let (amount, _) = bw
            .receive(&node.node.key().public(), voucher.clone())
            .unwrap();
        assert_eq!(amount, 1_250);
        assert!(
            bw.receive(&node.node.key().public(), voucher.clone())
                .is_err(),
            "received once"
        );
        // Online again: the claim credits bob once, with a payment message and receipt.
        let answer = bw.claim(&p.bob.0).unwrap();
        assert_eq!(
            answer.results[0].outcome,
            ClaimOutcome::Claimed,
            "{engine:?} {answer:?}"
        );
        assert_eq!(balance(&p.bob.0).0, "EUR:12.50");
        let again = p
            .bob
            .0
            .offline_claim(&ClaimRequest {
                vouchers: vec![voucher.clone()],
            })
            .unwrap();
        assert_eq!(again.results[0].outcome, ClaimOutcome::AlreadyClaimed);
        assert_eq!(
            balance(&p.bob.0).0,
            "EUR:12.50",
            "a claim retried credits nothing"
        );
        let conversation = direct_conversation(&p.alice.1.handle, &p.bob.1.handle);
        let page = p
            .bob
            .0
            .conversation(&conversation, chit_client::Page::Newest, 10)
            .unwrap();
        let message = &page.items.last().unwrap().message;
        assert_eq!(message.kind, "offline");
        assert_eq!(message.payment.as_ref().unwrap().state, "paid");
        let receipt = message.receipt.as_ref().unwrap();
        receipt.verify(&node.node.key().public()).unwrap();
        assert_eq!(receipt.amount, "EUR:12.50");
        // Withdraw the rest of a part, and sync: the node's view follows the device.
        let answer = aw.withdraw(&p.alice.0, &mut file, 1_000).unwrap();
        assert_eq!(answer.withdrawals.len(), 1);
        answer.withdrawals[0]
            .verify(&node.node.key().public())
            .unwrap();
        assert_eq!(balance(&p.alice.0).0, "EUR:60.00");
        let synced = aw.sync(&p.alice.0, &mut file).unwrap();
        assert_eq!(synced.device.held, 5_000 - 1_250 - 1_000);
        assert_eq!(synced.device.verified_to, 3);
        assert!(synced.fraud.is_none());
        // Collect: bob's own device takes a voucher to spend again.
        bw.add_device(&p.bob.0, "phone").unwrap();
        let request = bw.request(500, "EUR").unwrap();
        let voucher = aw.pay(&mut file, &request).unwrap();
        bw.receive(&node.node.key().public(), voucher).unwrap();
        let mut bob_file = bw.device(None).unwrap();
        assert_eq!(bw.collect(&mut bob_file).unwrap(), 500);
        let synced = bw.sync(&p.bob.0, &mut bob_file).unwrap();
        assert_eq!(synced.device.held, 500);
        assert_eq!(
            bw.book().unwrap().received.last().unwrap().status,
            Taken::Collected
        );
        let currency = node.node.currencies().default_currency();
        assert_eq!(account_balance(&node, offline_account(&currency)), 2_750);
        let report = clean(&node);
        assert_eq!((report.devices, report.vouchers), (2, 2));
    }
}

#[test]
fn deposits_are_idempotent_limited_and_in_step_with_the_device() {
    let node = TestNode::start(Engine::Sqlite);
    let p = pair(&node, "EUR:10.00");
    let aw = &p.alice_wallet.0;
    let mut file = aw.device(None).unwrap();
    let key = file.state.certificate.device_key;
    // The same command again: the same confirmation, charged once.
    let signed = Client::sign(
        &p.alice.1,
        chit_proto::Action::OfflineDeposit {
            device: key,
            amount: "EUR:5.00".into(),
            device_i: 1,
        },
    );
    let first = p.alice.0.offline_deposit(&signed).unwrap();
    let second = p.alice.0.offline_deposit(&signed).unwrap();
    assert_eq!(first.confirmation, second.confirmation);
    assert_eq!(balance(&p.alice.0).0, "EUR:85.00");
    let mut element = SoftElement::from_state(file.state.clone()).unwrap();
    element.deposit(&first.confirmation, 1).unwrap();
    assert!(
        element.deposit(&first.confirmation, 2).is_err(),
        "a replayed confirmation changes nothing"
    );
    assert_eq!(element.balance(), 1_500);
    // A wallet out of step is told to sync; over the holding limit is refused.
    let stale = Client::sign(
        &p.alice.1,
        chit_proto::Action::OfflineDeposit {
            device: key,
            amount: "EUR:1.00".into(),
            device_i: 1,
        },
    );
    assert_eq!(
        p.alice.0.offline_deposit(&stale).unwrap_err().code(),
        Some("device_out_of_sync")
    );
    let big = Client::sign(
        &p.alice.1,
        chit_proto::Action::OfflineDeposit {
            device: key,
            amount: "EUR:195.00".into(),
            device_i: 2,
        },
    );
    assert_eq!(
        p.alice.0.offline_deposit(&big).unwrap_err().code(),
        Some("limit_exceeded")
    );
    // Someone else's device is not found.
    let (bob_client, bob) = (&p.bob.0, &p.bob.1);
    let theirs = Client::sign(
        bob,
        chit_proto::Action::OfflineDeposit {
            device: key,
            amount: "EUR:1.00".into(),
            device_i: 2,
        },
    );
    assert_eq!(
        bob_client.offline_deposit(&theirs).unwrap_err().code(),
        Some("no_device")
    );
    file.state = element.state().clone();
    clean(&node);
}

/// Copies of one device state pay two receivers with the same entry number: the second claim
/// shows the fork.
fn cloned_payments(
    node: &TestNode,
    p: &Pair,
    carol: &(Client, Identity),
    amount: u64,
) -> (Voucher, Voucher) {
    let file = p.alice_wallet.0.device(None).unwrap();
    let mut one = SoftElement::from_state(file.state.clone()).unwrap();
    let mut two = SoftElement::from_state(file.state).unwrap();
    let to = |who: &Identity| chit_offline::entry::PaymentRequest {
        receiver: who.handle.clone(),
        amount,
        currency: "EUR".into(),
        nonce: chit_proto::keys::random_bytes(),
        created_at_ms: 1,
    };
    let _ = node;
    (
        one.pay(&to(&p.bob.1), 10).unwrap(),
        two.pay(&to(&carol.1), 10).unwrap(),
    )
}

#[test]
fn a_cloned_device_is_caught_at_the_second_claim_revoked_and_the_loss_booked() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let p = pair(&node, "EUR:40.00");
        let carol = node.user("carol");
        let (to_bob, to_carol) = cloned_payments(&node, &p, &carol, 3_000);
        let first = p
            .bob
            .0
            .offline_claim(&ClaimRequest {
                vouchers: vec![to_bob],
            })
            .unwrap();
        assert_eq!(first.results[0].outcome, ClaimOutcome::Claimed);
        assert!(first.results[0].code.is_none());
        let second = carol
            .0
            .offline_claim(&ClaimRequest {
                vouchers: vec![to_carol],
            })
            .unwrap();
        let r = &second.results[0];
        assert_eq!(
            (r.outcome, r.code.as_deref(), r.paid),
            (ClaimOutcome::Claimed, Some("double_spend"), 3_000),
            "{engine:?}"
        );
        // Paid by the operator: 10.00 the device still held, 20.00 from the losses account.
        let currency = node.node.currencies().default_currency();
        assert_eq!(
            account_balance(&node, offline_losses_account(&currency)),
            -2_000
        );
        assert_eq!(balance(&carol.0).0, "EUR:30.00");
        let devices = p.alice.0.devices().unwrap().devices;
        assert_eq!(devices[0].status, DeviceStatus::Revoked);
        assert!(devices[0].reason.as_deref().unwrap().contains("copied"));
        let key = devices[0].certificate.device_key;
        let evidence = node
            .node
            .db()
            .read(|c| chit_node::store::evidence(c, &key))
            .unwrap();
        assert_eq!(evidence.len(), 1);
        assert_eq!(evidence[0].kind, "fork");
        assert!(
            evidence[0].second.is_some(),
            "both conflicting vouchers are kept"
        );
        let list = p.bob.0.revocation_list().unwrap();
        assert_eq!(list.devices, vec![key]);
        // The owner and both receivers are told, in their conversations.
        for (who, with) in [(&p.bob, &p.alice.1), (&carol, &p.alice.1)] {
            let id = direct_conversation(&who.1.handle, &with.handle);
            let page = who
                .0
                .conversation(&id, chit_client::Page::Newest, 10)
                .unwrap();
            assert!(
                page.items
                    .iter()
                    .any(|i| i.message.kind == "offline_notice"),
                "{:?}",
                who.1.handle
            );
        }
        // The revoked device deposits no more, and a receiver with the list refuses it.
        let mut file = p.alice_wallet.0.device(None).unwrap();
        let err = p
            .alice_wallet
            .0
            .deposit(&p.alice.0, &mut file, "EUR:1.00")
            .unwrap_err();
        assert!(err.to_string().contains("revoked"), "{err}");
        p.bob_wallet.0.refresh_revocations(&p.bob.0).unwrap();
        let request = p.bob_wallet.0.request(100, "EUR").unwrap();
        let voucher = p.alice_wallet.0.pay(&mut file, &request).unwrap();
        let refused = p
            .bob_wallet
            .0
            .receive(&node.node.key().public(), voucher)
            .unwrap_err();
        assert!(refused.to_string().contains("revoked"), "{refused}");
        clean(&node);
    }
}

#[test]
fn under_the_receiver_policy_a_double_spend_is_paid_only_what_the_device_held() {
    let node = TestNode::start(Engine::Sqlite);
    node.node.set_offline_config(OfflineConfig {
        loss_policy: LossPolicy::Receiver,
        ..Default::default()
    });
    let p = pair(&node, "EUR:40.00");
    let carol = node.user("carol");
    let (to_bob, to_carol) = cloned_payments(&node, &p, &carol, 3_000);
    p.bob
        .0
        .offline_claim(&ClaimRequest {
            vouchers: vec![to_bob],
        })
        .unwrap();
    let r = carol
        .0
        .offline_claim(&ClaimRequest {
            vouchers: vec![to_carol],
        })
        .unwrap()
        .results
        .remove(0);
    assert_eq!((r.outcome, r.paid), (ClaimOutcome::Claimed, 1_000));
    assert_eq!(balance(&carol.0).0, "EUR:10.00");
    let currency = node.node.currencies().default_currency();
    assert_eq!(account_balance(&node, offline_losses_account(&currency)), 0);
    clean(&node);
}

#[test]
fn a_rolled_back_device_reuses_a_payment_number_and_is_caught() {
    let node = TestNode::start(Engine::Sqlite);
    let p = pair(&node, "EUR:40.00");
    let carol = node.user("carol");
    let aw = &p.alice_wallet.0;
    let mut file = aw.device(None).unwrap();
    aw.sync(&p.alice.0, &mut file).unwrap();
    let saved = file.clone();
    let request = p.bob_wallet.0.request(1_000, "EUR").unwrap();
    let to_bob = aw.pay(&mut file, &request).unwrap();
    aw.sync(&p.alice.0, &mut file).unwrap();
    // Put the old state back, move on one entry, and pay again with the same j.
    let mut element = SoftElement::from_state(saved.state).unwrap();
    element.withdraw(100, 5).unwrap();
    let request = chit_offline::entry::PaymentRequest {
        receiver: carol.1.handle.clone(),
        amount: 1_000,
        currency: "EUR".into(),
        nonce: [7; 16],
        created_at_ms: 1,
    };
    let to_carol = element.pay(&request, 6).unwrap();
    assert!(matches!(
        to_carol.entry.entry.event,
        Event::Pay { j: 1, .. }
    ));
    assert_eq!(to_carol.entry.entry.seq, to_bob.entry.entry.seq + 1);
    p.bob
        .0
        .offline_claim(&ClaimRequest {
            vouchers: vec![to_bob],
        })
        .unwrap();
    let r = carol
        .0
        .offline_claim(&ClaimRequest {
            vouchers: vec![to_carol],
        })
        .unwrap()
        .results
        .remove(0);
    // The device still held enough: carol is paid in full and told the device is revoked.
    assert_eq!(
        (r.outcome, r.paid, r.code.as_deref()),
        (ClaimOutcome::Claimed, 1_000, Some("device_revoked"))
    );
    let key = file.state.certificate.device_key;
    let evidence = node
        .node
        .db()
        .read(|c| chit_node::store::evidence(c, &key))
        .unwrap();
    assert!(
        evidence.iter().any(|e| e.kind == "reused_index"),
        "{evidence:?}"
    );
    clean(&node);
}

#[test]
fn a_patched_balance_does_not_follow_and_is_caught_at_the_claim() {
    let node = TestNode::start(Engine::Sqlite);
    let p = pair(&node, "EUR:10.00");
    let aw = &p.alice_wallet.0;
    let mut file = aw.device(None).unwrap();
    aw.sync(&p.alice.0, &mut file).unwrap();
    file.state.balance = 20_000; // the patch
    let request = p.bob_wallet.0.request(5_000, "EUR").unwrap();
    let voucher = aw.pay(&mut file, &request).unwrap();
    let r = p
        .bob
        .0
        .offline_claim(&ClaimRequest {
            vouchers: vec![voucher],
        })
        .unwrap()
        .results
        .remove(0);
    assert_eq!((r.code.as_deref(), r.paid), (Some("double_spend"), 5_000));
    let devices = p.alice.0.devices().unwrap().devices;
    assert_eq!(devices[0].status, DeviceStatus::Revoked);
    assert!(devices[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("does not follow"));
    // The device's own withdrawal of the made-up money is credited nothing.
    let answer = aw.withdraw(&p.alice.0, &mut file, 1_000).unwrap();
    assert_eq!(answer.withdrawals.iter().map(|w| w.amount).sum::<u64>(), 0);
    clean(&node);
}

#[test]
fn bad_vouchers_are_refused_each_with_its_reason() {
    let node = TestNode::start(Engine::Sqlite);
    let p = pair(&node, "EUR:40.00");
    let carol = node.user("carol");
    let aw = &p.alice_wallet.0;
    let mut file = aw.device(None).unwrap();
    let request = p.bob_wallet.0.request(1_000, "EUR").unwrap();
    let voucher = aw.pay(&mut file, &request).unwrap();
    let claim = |client: &Client, v: Voucher| {
        client
            .offline_claim(&ClaimRequest { vouchers: vec![v] })
            .unwrap()
            .results
            .remove(0)
    };
    // Someone it does not pay: a replay.
    assert_eq!(
        claim(&carol.0, voucher.clone()).code.as_deref(),
        Some("not_yours")
    );
    // A tampered amount breaks the device's signature.
    let mut tampered = voucher.clone();
    if let Event::Pay { amount, .. } = &mut tampered.entry.entry.event {
        *amount = 4_000;
    }
    assert_eq!(
        claim(&p.bob.0, tampered).code.as_deref(),
        Some("bad_signature")
    );
    // A certificate the node never signed.
    let mut forged = voucher.clone();
    forged.certificate.holding_limit += 1;
    assert_eq!(
        claim(&p.bob.0, forged).code.as_deref(),
        Some("bad_certificate")
    );
    assert_eq!(balance(&p.bob.0).0, "EUR:0.00");
    // The real one still works, once; collecting it afterwards is a double spend.
    assert_eq!(
        claim(&p.bob.0, voucher.clone()).outcome,
        ClaimOutcome::Claimed
    );
    p.bob_wallet.0.add_device(&p.bob.0, "phone").unwrap();
    let mut bob_file = p.bob_wallet.0.device(None).unwrap();
    let mut element = SoftElement::from_state(bob_file.state.clone()).unwrap();
    bob_file
        .unsynced
        .push(element.collect(&voucher, 9).unwrap());
    bob_file.collected.push(voucher);
    bob_file.state = element.state().clone();
    let answer = p.bob_wallet.0.sync(&p.bob.0, &mut bob_file).unwrap();
    assert!(
        answer.fraud.as_deref().unwrap().contains("already claimed"),
        "{answer:?}"
    );
    assert_eq!(answer.device.held, 0);
    // Too many vouchers at once, or none.
    assert_eq!(
        p.bob
            .0
            .offline_claim(&ClaimRequest { vouchers: vec![] })
            .unwrap_err()
            .code(),
        Some("bad_batch")
    );
    clean(&node);
}

/// Two nodes on one PostgreSQL database: the same voucher claimed on both at once is credited
/// once; two clones' vouchers claimed at once on the two nodes are caught once.
#[test]
fn claims_racing_on_two_nodes_credit_each_voucher_once() {
    if !engines().contains(&Engine::Postgres) {
        return;
    }
    let node = TestNode::start(Engine::Postgres);
    let other = second_node(&node);
    let p = pair(&node, "EUR:40.00");
    let carol = node.user("carol");
    let (to_bob, to_carol) = cloned_payments(&node, &p, &carol, 3_000);
    let mut bob_there = Client::new(&other.url(), None);
    bob_there.set_token(p.bob.0.token().unwrap().to_owned());
    let mut carol_there = Client::new(&other.url(), None);
    carol_there.set_token(carol.0.token().unwrap().to_owned());
    let results = std::thread::scope(|s| {
        let claims = [
            (&p.bob.0, to_bob.clone()),
            (&bob_there, to_bob.clone()),
            (&carol.0, to_carol.clone()),
            (&carol_there, to_carol.clone()),
        ];
        let handles: Vec<_> = claims
            .into_iter()
            .map(|(client, v)| {
                s.spawn(move || {
                    client
                        .offline_claim(&ClaimRequest { vouchers: vec![v] })
                        .unwrap()
                        .results
                        .remove(0)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    let claimed = results
        .iter()
        .filter(|r| r.outcome == ClaimOutcome::Claimed)
        .count();
    let again = results
        .iter()
        .filter(|r| r.outcome == ClaimOutcome::AlreadyClaimed)
        .count();
    assert_eq!((claimed, again), (2, 2), "{results:?}");
    assert!(
        results
            .iter()
            .any(|r| r.code.as_deref() == Some("double_spend")),
        "the fork is caught: {results:?}"
    );
    assert_eq!(balance(&p.bob.0).0, "EUR:30.00");
    assert_eq!(balance(&carol.0).0, "EUR:30.00");
    let devices = p.alice.0.devices().unwrap().devices;
    assert_eq!(devices[0].status, DeviceStatus::Revoked);
    clean(&node);
}

/// A second node on the same PostgreSQL database and key, serving HTTP.
fn second_node(node: &TestNode) -> chit_server::Background {
    let (db, ledger) = chit_node::open_storage(
        chit_node::StorageAt::Postgres(&node.db.location),
        node.clock.clone(),
    )
    .unwrap();
    let key = IdentitySecret::from_seed(node.node.key().to_seed());
    let other =
        Node::with_clock(db, ledger, key, Currencies::default(), node.clock.clone()).unwrap();
    let config = chit_server::Config {
        workers: false,
        ..Default::default()
    };
    chit_server::Background::start(other, config).unwrap()
}

#[test]
fn a_retired_device_pays_what_it_signed_before_and_its_owner_gets_the_rest_later() {
    let node = TestNode::start(Engine::Sqlite);
    let p = pair(&node, "EUR:40.00");
    let aw = &p.alice_wallet.0;
    let mut file = aw.device(None).unwrap();
    let request = p.bob_wallet.0.request(1_000, "EUR").unwrap();
    let voucher = aw.pay(&mut file, &request).unwrap();
    let key = file.state.certificate.device_key;
    let retired = p
        .alice
        .0
        .retire_device(&Client::sign(
            &p.alice.1,
            chit_proto::Action::RetireDevice { device: key },
        ))
        .unwrap();
    assert_eq!(retired.status, DeviceStatus::Retired);
    assert_eq!(p.bob.0.revocation_list().unwrap().devices, vec![key]);
    // Signed before it retired: still paid.
    let r = p
        .bob
        .0
        .offline_claim(&ClaimRequest {
            vouchers: vec![voucher],
        })
        .unwrap()
        .results
        .remove(0);
    assert_eq!(r.paid, 1_000);
    assert_eq!(
        node.node.release_retired(10).unwrap(),
        0,
        "not before the claim window has passed"
    );
    node.clock
        .advance(std::time::Duration::from_secs(8 * 24 * 3600));
    assert_eq!(node.node.release_retired(10).unwrap(), 1);
    assert_eq!(node.node.release_retired(10).unwrap(), 0, "once");
    // (The session has expired by now: the node's own answer.)
    let b = node
        .block_on(node.node.balances(p.alice.1.handle.clone()))
        .unwrap();
    assert_eq!(b.balances[0].balance, "EUR:90.00");
    clean(&node);
}
