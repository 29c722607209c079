//! The offline protocol's rules, end to end without a network: a device certified by the node,
//! deposits applied once and in order, vouchers checked by the receiver (PayVerify), collected
//! onto another device, withdrawn; and every way a software device can cheat — copied, rolled
//! back, patched — caught by the node's chain check at the first entry that shows it.

use chit_offline::chain::{DeviceChain, Fraud, Observed, Rejected};
use chit_offline::device::{DeviceError, SecureElement, SoftElement};
use chit_offline::entry::{Entry, Event, PaymentRequest, SignedEntry, Voucher};
use chit_offline::limits::{ClassLimits, OfflineLimits};
use chit_offline::pay_verify::{pay_verify, Receiver, VerifyError};
use chit_offline::statements::{
    Attestation, Confirmation, DeviceCertificate, DeviceRegistration, Movement,
};
use chit_proto::{Handle, IdentitySecret};

const LIMIT: u64 = 50_000;
const VOUCHER_LIMIT: u64 = 5_000;

fn handle(s: &str) -> Handle {
    Handle::new(s).unwrap()
}

struct World {
    node: IdentitySecret,
}

impl World {
    fn new() -> Self {
        Self {
            node: IdentitySecret::from_seed([9; 32]),
        }
    }

    /// A device of `owner`, registered by the owner's key and certified by the node.
    fn device(&self, owner: &str, seed: u8) -> SoftElement {
        let owner_key = IdentitySecret::from_seed([seed ^ 0x55; 32]);
        let device_key = IdentitySecret::from_seed([seed; 32]).public();
        let registration = DeviceRegistration {
            owner: handle(owner),
            device_key,
            attestation: Attestation::Software,
            label: "phone".into(),
            created_at_ms: 1,
        };
        let signature = registration.sign(&owner_key);
        owner_key
            .public()
            .verify(&registration.signing_bytes(), &signature)
            .unwrap();
        let cert = DeviceCertificate::issue(
            &registration,
            "EUR",
            ClassLimits {
                holding: LIMIT,
                voucher: VOUCHER_LIMIT,
            },
            2,
            &self.node,
        );
        SoftElement::new([seed; 32], cert)
    }

    fn deposit(&self, d: &mut SoftElement, i: u64, amount: u64) -> SignedEntry {
        let c = Confirmation::issue(
            d.device_key(),
            Movement::Deposit,
            i,
            amount,
            "EUR",
            &self.node,
        );
        d.deposit(&c, 10 + i).unwrap()
    }
}

fn request(to: &str, amount: u64, nonce: u8) -> PaymentRequest {
    PaymentRequest {
        receiver: handle(to),
        amount,
        currency: "EUR".into(),
        nonce: [nonce; 16],
        created_at_ms: 5,
    }
}

/// The node's view of `d`'s chain, knowing the deposits it confirmed.
fn chain_of(d: &SoftElement, deposits: &[(u64, u64)]) -> DeviceChain {
    let mut chain = DeviceChain::new(d.device_key(), "EUR");
    for (i, amount) in deposits {
        chain.confirmed_deposit(*i, *amount);
    }
    chain
}

#[test]
fn an_honest_device_deposits_pays_collects_and_withdraws_and_its_chain_verifies() {
    let w = World::new();
    let mut alice = w.device("alice", 1);
    let mut bob = w.device("bob", 2);
    let deposit = w.deposit(&mut alice, 1, 10_000);
    assert_eq!(alice.balance(), 10_000);

    let req = request("bob", 2_500, 7);
    let voucher = alice.pay(&req, 20).unwrap();
    assert_eq!(alice.balance(), 7_500);
    let mut receiver = Receiver::default();
    let amount = receiver
        .receive(&voucher, &w.node.public(), &handle("bob"), &req)
        .unwrap();
    assert_eq!(amount, 2_500);
    let collected = bob.collect(&voucher, 21).unwrap();
    assert_eq!(bob.balance(), 2_500);
    let withdrawn = alice.withdraw(1_000, 22).unwrap();
    assert_eq!(alice.balance(), 6_500);

    let mut chain = chain_of(&alice, &[(1, 10_000)]);
    // Out of order (the voucher claimed before the device syncs), then the rest.
    assert_eq!(
        chain.observe(&voucher.entry).unwrap(),
        Ok(Observed::New { verified_to: 0 })
    );
    assert_eq!(
        chain.observe(&deposit).unwrap(),
        Ok(Observed::New { verified_to: 2 })
    );
    assert_eq!(
        chain.observe(&withdrawn).unwrap(),
        Ok(Observed::New { verified_to: 3 })
    );
    assert_eq!(chain.observe(&voucher.entry).unwrap(), Ok(Observed::Known));
    assert_eq!(chain.verified_balance(), (3, 6_500));
    assert!(matches!(
        collected.entry.event,
        Event::Collect { amount: 2_500, .. }
    ));

    // The state survives being stored and read back.
    let again = SoftElement::from_state(alice.state().clone()).unwrap();
    assert_eq!(again.balance(), 6_500);
}

#[test]
fn a_deposit_applies_once_and_only_in_order_and_limits_hold() {
    let w = World::new();
    let mut d = w.device("alice", 1);
    let key = d.device_key();
    let c1 = Confirmation::issue(key, Movement::Deposit, 1, 100, "EUR", &w.node);
    let c2 = Confirmation::issue(key, Movement::Deposit, 2, 100, "EUR", &w.node);
    let c3 = Confirmation::issue(key, Movement::Deposit, 3, 100, "EUR", &w.node);
    assert_eq!(
        d.deposit(&c2, 1),
        Err(DeviceError::OutOfOrder { given: 2, next: 1 })
    );
    d.deposit(&c1, 1).unwrap();
    assert_eq!(
        d.deposit(&c1, 1),
        Err(DeviceError::Replayed { given: 1, at: 1 })
    );
    d.deposit(&c2, 1).unwrap();
    assert_eq!(d.balance(), 200);
    let forged = Confirmation::issue(
        key,
        Movement::Deposit,
        3,
        100,
        "EUR",
        &IdentitySecret::from_seed([3; 32]),
    );
    assert_eq!(d.deposit(&forged, 1), Err(DeviceError::NotForThisDevice));
    let other = w.device("bob", 2);
    let theirs = Confirmation::issue(
        other.device_key(),
        Movement::Deposit,
        3,
        100,
        "EUR",
        &w.node,
    );
    assert_eq!(d.deposit(&theirs, 1), Err(DeviceError::NotForThisDevice));
    let usd = Confirmation::issue(key, Movement::Deposit, 3, 100, "USD", &w.node);
    assert!(matches!(
        d.deposit(&usd, 1),
        Err(DeviceError::WrongCurrency { .. })
    ));
    let huge = Confirmation::issue(key, Movement::Deposit, 3, LIMIT, "EUR", &w.node);
    assert_eq!(
        d.deposit(&huge, 1),
        Err(DeviceError::OverLimit { limit: LIMIT })
    );
    d.deposit(&c3, 1).unwrap();
    assert_eq!(d.balance(), 300);
    assert!(matches!(
        d.pay(&request("bob", 301, 1), 2),
        Err(DeviceError::InsufficientFunds {
            balance: 300,
            wanted: 301
        })
    ));
    assert_eq!(d.withdraw(0, 2), Err(DeviceError::Zero));
    assert_eq!(d.balance(), 300, "refusals changed nothing");
}

#[test]
fn pay_verify_names_each_failure() {
    let w = World::new();
    let mut d = w.device("alice", 1);
    w.deposit(&mut d, 1, 1_000);
    let req = request("bob", 100, 4);
    let v = d.pay(&req, 3).unwrap();
    let node = w.node.public();
    let bob = handle("bob");
    assert_eq!(pay_verify(&v, &node, &bob, Some(&req)), Ok(100));
    assert_eq!(
        pay_verify(&v, &node, &handle("carol"), Some(&req)),
        Err(VerifyError::NotForMe("bob".into()))
    );
    assert_eq!(
        pay_verify(&v, &node, &bob, Some(&request("bob", 100, 5))),
        Err(VerifyError::WrongRequest)
    );
    assert!(matches!(
        pay_verify(&v, &node, &bob, Some(&request("bob", 200, 4))),
        Err(VerifyError::WrongAmount { .. })
    ));
    let other_node = IdentitySecret::from_seed([8; 32]).public();
    assert_eq!(
        pay_verify(&v, &other_node, &bob, Some(&req)),
        Err(VerifyError::BadCertificate)
    );
    let mut tampered = v.clone();
    if let Event::Pay { amount, .. } = &mut tampered.entry.entry.event {
        *amount = 900;
    }
    assert_eq!(
        pay_verify(&tampered, &node, &bob, None),
        Err(VerifyError::BadSignature)
    );
    let mut resigned = v.clone();
    resigned.entry.signature.0[0] ^= 1;
    assert_eq!(
        pay_verify(&resigned, &node, &bob, None),
        Err(VerifyError::BadSignature)
    );
    let mut receiver = Receiver::default();
    receiver.receive(&v, &node, &bob, &req).unwrap();
    assert_eq!(
        receiver.receive(&v, &node, &bob, &req),
        Err(VerifyError::AlreadyReceived)
    );
    let v2 = d.pay(&request("bob", 100, 6), 4).unwrap();
    receiver.set_revoked([d.device_key()]);
    assert_eq!(
        receiver.receive(&v2, &node, &bob, &request("bob", 100, 6)),
        Err(VerifyError::Revoked)
    );
    let json = serde_json::to_string(&v).unwrap();
    assert_eq!(serde_json::from_str::<Voucher>(&json).unwrap(), v);
}

#[test]
fn a_copied_device_paying_two_receivers_with_one_index_is_caught_at_the_second_claim() {
    let w = World::new();
    let mut d = w.device("alice", 1);
    let dep = w.deposit(&mut d, 1, 1_000);
    let mut copy = SoftElement::from_state(d.state().clone()).unwrap();
    let to_bob = d.pay(&request("bob", 800, 1), 5).unwrap();
    let to_carol = copy.pay(&request("carol", 800, 2), 5).unwrap();
    // Each receiver alone sees a valid voucher.
    let node = w.node.public();
    assert!(pay_verify(&to_bob, &node, &handle("bob"), None).is_ok());
    assert!(pay_verify(&to_carol, &node, &handle("carol"), None).is_ok());
    let mut chain = chain_of(&d, &[(1, 1_000)]);
    chain.observe(&dep).unwrap().unwrap();
    assert!(chain.observe(&to_bob.entry).unwrap().is_ok());
    let found = chain.observe(&to_carol.entry).unwrap().unwrap_err();
    assert!(matches!(&found, Fraud::Fork { first, second }
        if first.as_ref() == &to_bob.entry && second.as_ref() == &to_carol.entry));
    assert!(found.describe().contains("copied"), "{}", found.describe());
}

#[test]
fn a_rolled_back_device_reusing_a_payment_number_is_caught() {
    let w = World::new();
    let mut d = w.device("alice", 1);
    let dep1 = w.deposit(&mut d, 1, 1_000);
    let saved = d.state().clone();
    let first = d.pay(&request("bob", 500, 1), 5).unwrap();
    // Rolled back to before the payment, then one more (real) deposit, then it pays again.
    let mut old = SoftElement::from_state(saved).unwrap();
    let dep2 = w.deposit(&mut old, 2, 100);
    let second = old.pay(&request("carol", 500, 2), 6).unwrap();
    let mut chain = chain_of(&d, &[(1, 1_000), (2, 100)]);
    chain.observe(&dep1).unwrap().unwrap();
    chain.observe(&first.entry).unwrap().unwrap();
    // The rollback's deposit lands on the number the payment took: a fork at once.
    assert!(matches!(
        chain.observe(&dep2).unwrap(),
        Err(Fraud::Fork { .. })
    ));
    // And its payment reuses j = 1 under another number.
    let mut fresh = chain_of(&d, &[(1, 1_000), (2, 100)]);
    fresh.observe(&first.entry).unwrap().unwrap();
    assert!(matches!(
        fresh.observe(&second.entry).unwrap(),
        Err(Fraud::ReusedIndex { .. })
    ));
}

#[test]
fn a_patched_balance_or_an_invented_deposit_does_not_follow() {
    let w = World::new();
    let mut d = w.device("alice", 1);
    let dep = w.deposit(&mut d, 1, 100);
    // Patch the stored state: ten times the money.
    let mut state = d.state().clone();
    state.balance = 1_000;
    let mut patched = SoftElement::from_state(state).unwrap();
    let v = patched.pay(&request("bob", 900, 1), 3).unwrap();
    let mut chain = chain_of(&d, &[(1, 100)]);
    chain.observe(&dep).unwrap().unwrap();
    let found = chain.observe(&v.entry).unwrap().unwrap_err();
    assert!(matches!(found, Fraud::Inflated { .. }), "{found:?}");

    // A deposit the node never confirmed (a forged confirmation accepted by a patched device
    // would still need the node's record).
    let mut e = w.device("carol", 3);
    let dep = w.deposit(&mut e, 1, 5_000);
    let mut chain = chain_of(&e, &[(1, 50)]);
    assert!(matches!(
        chain.observe(&dep).unwrap(),
        Err(Fraud::Inflated { .. })
    ));
}

#[test]
fn entries_of_another_device_or_badly_signed_are_rejected_without_blame() {
    let w = World::new();
    let mut d = w.device("alice", 1);
    let other = w.device("bob", 2);
    let dep = w.deposit(&mut d, 1, 100);
    let mut chain = chain_of(&other, &[]);
    assert_eq!(chain.observe(&dep), Err(Rejected::OtherDevice));
    let mut chain = chain_of(&d, &[(1, 100)]);
    let mut bad = dep.clone();
    bad.signature.0[5] ^= 1;
    assert_eq!(chain.observe(&bad), Err(Rejected::BadSignature));
    assert_eq!(
        chain.observe(&dep).unwrap(),
        Ok(Observed::New { verified_to: 1 })
    );
}

#[test]
fn batch_pay_verify_gives_each_voucher_the_verdict_pay_verify_gives() {
    let w = World::new();
    let node = w.node.public();
    let bob = handle("bob");
    let mut vouchers = Vec::new();
    for seed in 1..=4u8 {
        let mut d = w.device("alice", seed);
        w.deposit(&mut d, 1, 10_000);
        for n in 0..5u8 {
            vouchers.push(d.pay(&request("bob", 10 + u64::from(n), n), 3).unwrap());
        }
    }
    let all = chit_offline::pay_verify::pay_verify_batch(&vouchers, &node, &bob);
    assert!(all.iter().all(Result::is_ok));
    // Spoil some: a tampered amount, a voucher for carol, a certificate from another node.
    if let Event::Pay { amount, .. } = &mut vouchers[3].entry.entry.event {
        *amount += 1;
    }
    let mut d = w.device("alice", 9);
    w.deposit(&mut d, 1, 100);
    vouchers.push(d.pay(&request("carol", 5, 1), 3).unwrap());
    let rogue = World {
        node: IdentitySecret::from_seed([7; 32]),
    };
    let mut r = rogue.device("alice", 8);
    rogue.deposit(&mut r, 1, 100);
    vouchers.push(r.pay(&request("bob", 5, 1), 3).unwrap());
    let batch = chit_offline::pay_verify::pay_verify_batch(&vouchers, &node, &bob);
    let one_by_one: Vec<_> = vouchers
        .iter()
        .map(|v| pay_verify(v, &node, &bob, None))
        .collect();
    assert_eq!(batch, one_by_one);
    assert_eq!(batch[3], Err(VerifyError::BadSignature));
    assert_eq!(batch[20], Err(VerifyError::NotForMe("carol".into())));
    assert_eq!(batch[21], Err(VerifyError::BadCertificate));
}

#[test]
fn the_revocation_list_is_signed_versioned_and_warns_when_old() {
    use chit_offline::revocation::{Freshness, RevocationList};
    let w = World::new();
    let d = w.device("alice", 1);
    let e = w.device("bob", 2);
    let v1 = RevocationList::issue(1, 1_000, 86_400_000, vec![d.device_key()], &w.node);
    let v2 = RevocationList::issue(
        2,
        2_000,
        86_400_000,
        vec![e.device_key(), d.device_key(), d.device_key()],
        &w.node,
    );
    assert_eq!(v1.verify(&w.node.public()), Ok(()));
    assert_eq!(v2.devices.len(), 2, "sorted, once each");
    assert!(v1
        .verify(&IdentitySecret::from_seed([8; 32]).public())
        .is_err());
    let mut altered = v2.clone();
    altered.devices.pop();
    assert!(
        altered.verify(&w.node.public()).is_err(),
        "a device dropped from the list shows"
    );
    assert_eq!(v1.clone().newer(v2.clone()).version, 2);
    assert_eq!(
        v2.clone().newer(v1).version,
        2,
        "never back to an older list"
    );
    assert_eq!(v2.freshness(2_000 + 86_400_000), Freshness::Current);
    assert_eq!(
        v2.freshness(2_001 + 86_400_000),
        Freshness::Stale { age_ms: 86_400_001 }
    );
}

#[test]
fn requests_and_vouchers_travel_as_chit_uris_a_qr_code_holds() {
    use chit_offline::uri::{
        parse_request, parse_voucher, request_uri, voucher_uri, UriError, URI_BYTES_MAX,
    };
    let w = World::new();
    let mut d = w.device("alice", 1);
    w.deposit(&mut d, 1, 1_000);
    let req = request("bob", 250, 3);
    let text = request_uri(&req);
    assert!(text.starts_with("chit://offline-request/"), "{text}");
    assert_eq!(parse_request(&format!(" {text}\n")).unwrap(), req);
    let v = d.pay(&req, 4).unwrap();
    let text = voucher_uri(&v);
    assert!(text.len() < URI_BYTES_MAX, "{} bytes", text.len());
    assert_eq!(parse_voucher(&text).unwrap(), v);
    assert!(matches!(
        parse_voucher(&request_uri(&req)),
        Err(UriError::WrongKind(..))
    ));
    assert!(matches!(
        parse_voucher("chit://offline-voucher/!!!"),
        Err(UriError::Damaged(_))
    ));
    assert_eq!(
        parse_request(&"x".repeat(URI_BYTES_MAX + 1)),
        Err(UriError::TooLong)
    );
}

#[test]
fn a_voucher_is_redeemed_once_a_retry_is_answered_and_anything_else_is_named() {
    use chit_offline::redeem::{Claimed, RedeemError, Redemptions};
    let w = World::new();
    let mut alice = w.device("alice", 1);
    let bob_device = w.device("bob", 2);
    w.deposit(&mut alice, 1, 1_000);
    let v = alice.pay(&request("bob", 100, 1), 3).unwrap();
    let mut r = Redemptions::default();
    assert_eq!(
        r.claim(&v, &handle("carol")),
        Err(RedeemError::NotYours {
            payee: "bob".into(),
            claimant: "carol".into()
        })
    );
    assert_eq!(r.claim(&v, &handle("bob")), Ok(Claimed::Now));
    assert_eq!(r.claim(&v, &handle("bob")), Ok(Claimed::Before));
    // Bob also collects it onto his device: spending it twice.
    assert!(matches!(
        r.collected(&v, bob_device.device_key(), &handle("bob")),
        Err(RedeemError::DoubleSpend { .. })
    ));
    let v2 = alice.pay(&request("bob", 100, 2), 4).unwrap();
    r.collected(&v2, bob_device.device_key(), &handle("bob"))
        .unwrap();
    r.collected(&v2, bob_device.device_key(), &handle("bob"))
        .unwrap();
    let found = r.claim(&v2, &handle("bob")).unwrap_err();
    assert_eq!(
        found,
        RedeemError::DoubleSpend {
            first: "collected onto a device".into()
        }
    );
}

#[test]
fn a_voucher_over_the_class_limit_is_refused_by_the_device_and_by_the_receiver() {
    let w = World::new();
    let mut d = w.device("alice", 1);
    w.deposit(&mut d, 1, 20_000);
    assert_eq!(
        d.pay(&request("bob", VOUCHER_LIMIT + 1, 1), 3),
        Err(DeviceError::OverVoucherLimit {
            limit: VOUCHER_LIMIT
        })
    );
    d.pay(&request("bob", VOUCHER_LIMIT, 2), 3).unwrap();
    // A patched device that signs past its limit anyway: the receiver refuses the voucher.
    let last = d.pay(&request("bob", 1, 3), 4).unwrap();
    let entry = Entry {
        seq: last.entry.entry.seq + 1,
        prev: last.entry.hash(),
        event: Event::Pay {
            j: 3,
            amount: VOUCHER_LIMIT + 1,
            receiver: handle("bob"),
            nonce: [4; 16],
        },
        balance_after: d.balance() - VOUCHER_LIMIT - 1,
        ..last.entry.entry.clone()
    };
    let forged = Voucher {
        certificate: d.certificate().clone(),
        entry: SignedEntry::sign(entry, &IdentitySecret::from_seed([1; 32])),
    };
    let node = w.node.public();
    assert_eq!(
        pay_verify(&forged, &node, &handle("bob"), None),
        Err(VerifyError::OverVoucherLimit)
    );
    assert_eq!(
        chit_offline::pay_verify::pay_verify_batch(&[forged], &node, &handle("bob")),
        vec![Err(VerifyError::OverVoucherLimit)]
    );
    // The operator's defaults: a software device is trusted with less than a hardware one.
    let limits = OfflineLimits::default();
    let (soft, hard) = (
        limits.for_class(Attestation::Software),
        limits.for_class(Attestation::Hardware),
    );
    assert!(soft.holding < hard.holding && soft.voucher < hard.voucher);
    assert!(soft.voucher <= soft.holding);
}
