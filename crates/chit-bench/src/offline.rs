//! `chit bench offline`: PayVerify throughput in the wallet, on one core — vouchers from many
//! devices checked one by one and in batches (each certificate once, the signatures in one
//! batched verification), as a receiver or the node checking a claim does.

use std::time::Instant;

use chit_offline::device::{SecureElement, SoftElement};
use chit_offline::entry::{PaymentRequest, Voucher};
use chit_offline::limits::ClassLimits;
use chit_offline::pay_verify::{pay_verify, pay_verify_batch};
use chit_offline::statements::{
    Attestation, Confirmation, DeviceCertificate, DeviceRegistration, Movement,
};
use chit_proto::{Handle, IdentitySecret};

/// The figures of one run.
pub struct Figures {
    pub vouchers: usize,
    pub one_by_one_per_s: f64,
    pub batched_per_s: f64,
}

/// `devices` software devices each paying `per_device` vouchers to one receiver; every voucher
/// is then verified one by one and in batches of `batch`.
pub fn run(devices: usize, per_device: usize, batch: usize) -> Figures {
    let node = IdentitySecret::from_seed([9; 32]);
    let receiver = Handle::new("shop").expect("a handle");
    let mut vouchers: Vec<Voucher> = Vec::with_capacity(devices * per_device);
    for d in 0..devices {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(d as u64 + 1).to_be_bytes());
        let registration = DeviceRegistration {
            owner: Handle::new(&format!("payer{d}")).expect("a handle"),
            device_key: IdentitySecret::from_seed(seed).public(),
            attestation: Attestation::Software,
            label: String::new(),
            created_at_ms: 1,
        };
        let cert = DeviceCertificate::issue(
            &registration,
            "EUR",
            ClassLimits {
                holding: u64::MAX,
                voucher: u64::MAX,
            },
            2,
            &node,
        );
        let mut device = SoftElement::new(seed, cert);
        let c = Confirmation::issue(
            device.device_key(),
            Movement::Deposit,
            1,
            1 << 40,
            "EUR",
            &node,
        );
        device.deposit(&c, 3).expect("a deposit");
        for n in 0..per_device {
            let mut nonce = [0u8; 16];
            nonce[..8].copy_from_slice(&(n as u64).to_be_bytes());
            let request = PaymentRequest {
                receiver: receiver.clone(),
                amount: 1,
                currency: "EUR".into(),
                nonce,
                created_at_ms: 4,
            };
            vouchers.push(device.pay(&request, 5).expect("a payment"));
        }
    }
    let node_key = node.public();
    let started = Instant::now();
    for v in &vouchers {
        pay_verify(v, &node_key, &receiver, None).expect("valid");
    }
    let one_by_one = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for chunk in vouchers.chunks(batch.max(1)) {
        let results = pay_verify_batch(chunk, &node_key, &receiver);
        assert!(results.iter().all(Result::is_ok), "every voucher is valid");
    }
    let batched = started.elapsed().as_secs_f64();
    let n = vouchers.len() as f64;
    Figures {
        vouchers: vouchers.len(),
        one_by_one_per_s: n / one_by_one,
        batched_per_s: n / batched,
    }
}
