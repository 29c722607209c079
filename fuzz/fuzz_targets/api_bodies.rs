//! Every body the node's API decodes, on arbitrary bytes: decoding never panics, and whatever
//! decodes encodes to JSON that decodes to the same value (requests the node takes, and the
//! answers and deliveries wallets take from it). A command that decodes yields its canonical
//! signing bytes without panicking.
#![no_main]

use chit_proto::api::*;
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};

fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<T> {
    let value: T = serde_json::from_slice(data).ok()?;
    let again: T = serde_json::from_slice(&serde_json::to_vec(&value).unwrap()).unwrap();
    assert_eq!(again, value);
    Some(value)
}

fuzz_target!(|data: &[u8]| {
    round_trip::<RegisterRequest>(data);
    round_trip::<ChallengeRequest>(data);
    round_trip::<LoginRequest>(data);
    if let Some(post) = round_trip::<PostRequest>(data) {
        let _ = post.command.signing_bytes();
    }
    if let Some(signed) = round_trip::<SignedCommand>(data) {
        let _ = signed.command.signing_bytes();
    }
    round_trip::<Settings>(data);
    round_trip::<ReadMarker>(data);
    round_trip::<Call>(data);
    // What wallets decode from the node.
    round_trip::<Envelope>(data);
    round_trip::<Delivery>(data);
    round_trip::<MailboxPage>(data);
    round_trip::<Statement>(data);
    round_trip::<ConversationPage>(data);
    round_trip::<Reply>(data);
    round_trip::<ErrorBody>(data);
});
