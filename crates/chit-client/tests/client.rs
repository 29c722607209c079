//! The SDK against a real node (SQLite, on 127.0.0.1:0): what it promises its callers — the
//! node key pinned and checked, amounts in their one signed form, errors that say what went
//! wrong, sealed bodies only the members open, and a wallet that logs in again by itself.

use std::sync::Arc;

use chit_client::wallet::Wallet;
use chit_client::{new_id, now_ms, Client, ClientError, Identity};
use chit_core::Currencies;
use chit_proto::{Handle, IdentitySecret};

struct Node {
    server: chit_server::Background,
    _dir: tempfile::TempDir,
}

fn node() -> Node {
    let dir = tempfile::tempdir().unwrap();
    let at = chit_node::StorageAt::Directory(dir.path());
    let (db, ledger) = chit_node::open_storage(at, Arc::new(chit_ledger::SystemClock)).unwrap();
    let all = ["EUR/2", "JPY/0"]
        .iter()
        .map(|c| chit_core::Currency::parse_definition(c).unwrap())
        .collect();
    let currencies = Currencies::new(all, chit_core::CurrencyCode::new("EUR").unwrap()).unwrap();
    let node = chit_node::Node::new(db, ledger, IdentitySecret::generate(), currencies).unwrap();
    let config = chit_server::Config {
        workers: false,
        ..Default::default()
    };
    let server = chit_server::Background::start(node, config).unwrap();
    Node { server, _dir: dir }
}

fn user(node: &Node, name: &str) -> (Client, Identity) {
    let me = Identity::generate(Handle::new(name).unwrap());
    let mut client = Client::new(&node.server.url(), None);
    client.register(&me).unwrap();
    client.login(&me).unwrap();
    (client, me)
}

#[test]
fn the_node_key_is_pinned_at_first_contact_and_a_changed_key_is_refused() {
    let (one, other) = (node(), node());
    let mut client = Client::new(&one.server.url(), None);
    assert_eq!(client.node_key(), None);
    let info = client.node_info().unwrap();
    assert_eq!(client.node_key(), Some(info.node_key));
    // The same pin against another node (another key at the address it knew): refused.
    let mut moved = Client::new(&other.server.url(), client.node_key());
    match moved.node_info() {
        Err(ClientError::Untrusted(why)) => assert!(why.contains("node key changed"), "{why}"),
        other => panic!("a changed node key must be refused: {other:?}"),
    }
    let me = Identity::generate(Handle::new("alice").unwrap());
    assert!(matches!(
        moved.register(&me),
        Err(ClientError::Untrusted(_))
    ));
}

#[test]
fn amounts_are_signed_in_the_one_form_the_node_takes() {
    let node = node();
    let mut client = Client::new(&node.server.url(), None);
    for (typed, signed) in [
        ("5", "EUR:5.00"),
        ("5.5", "EUR:5.50"),
        ("EUR:0.01", "EUR:0.01"),
        ("JPY:300", "JPY:300"),
    ] {
        assert_eq!(client.canonical_amount(typed).unwrap(), signed, "{typed}");
    }
    for bad in ["5.555", "JPY:1.5", "USD:1", "0", "-1", "EUR:", "five"] {
        assert!(
            matches!(client.canonical_amount(bad), Err(ClientError::Amount(_))),
            "{bad} must be refused before anything is signed"
        );
    }
}

#[test]
fn errors_say_what_went_wrong() {
    let node = node();
    let mut client = Client::new(&node.server.url(), None);
    let stranger = Identity::generate(Handle::new("nobody").unwrap());
    match client.login(&stranger) {
        Err(ClientError::Api { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (401, "unauthorized"))
        }
        other => panic!("an unregistered login must be refused: {other:?}"),
    }
    assert!(matches!(
        client.balances(),
        Err(ClientError::Api { status: 401, .. })
    ));

    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", nowhere.local_addr().unwrap());
    drop(nowhere);
    let err = Client::new(&url, None).node_info().unwrap_err();
    assert!(matches!(err, ClientError::Transport(_)), "{err:?}");
    assert!(
        err.to_string().contains("cannot reach the node at"),
        "{err}"
    );
}

#[test]
fn a_sealed_message_opens_for_its_members_only() {
    let node = node();
    let (mut alice_c, alice) = user(&node, "alice");
    let (bob_c, bob) = user(&node, "bob");
    let (_, eve) = user(&node, "eve");
    let sent = alice_c.say(&alice, &bob.handle, b"meet at noon").unwrap();
    let got = bob_c.mailbox(0, 10).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message.id, sent.id);
    assert_eq!(
        Client::open(&bob, &got[0].message).unwrap(),
        b"meet at noon"
    );
    assert_eq!(Client::open(&alice, &sent).unwrap(), b"meet at noon");
    assert!(matches!(
        Client::open(&eve, &got[0].message),
        Err(ClientError::Seal(_))
    ));
    // The same signed request sent again is the same message, not a second one.
    let retry = alice_c
        .seal_say(&alice, &bob.handle, b"once", &new_id())
        .unwrap();
    let first = alice_c.post_request(&retry).unwrap();
    assert_eq!(alice_c.post_request(&retry).unwrap(), first);
    assert_eq!(bob_c.mailbox(0, 10).unwrap().len(), 2);
}

#[test]
fn ids_are_well_formed_and_ordered_in_time() {
    let ids: Vec<String> = (0..3)
        .map(|_| {
            let id = new_id().to_string();
            std::thread::sleep(std::time::Duration::from_millis(2));
            id
        })
        .collect();
    for id in &ids {
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{id}"
        );
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids, "later ids sort later");
    // The first 48 bits are the time they were made at.
    let ms = u64::from_str_radix(&ids[0][..12], 16).unwrap();
    assert!(ms <= now_ms() && now_ms() - ms < 60_000, "{ms}");
}

#[test]
fn a_wallet_logs_in_again_when_its_session_is_gone() {
    let node = node();
    let dir = tempfile::tempdir().unwrap();
    let url = node.server.url();
    let mut wallet = Wallet::register(dir.path(), &url, Handle::new("carol").unwrap()).unwrap();
    wallet.login().unwrap();
    // A session the node no longer knows (expired, swept, another node's database reset).
    wallet.client.set_token("not-a-session".into());
    let balances = wallet.with_session(|w| w.client.balances()).unwrap();
    let mut held: Vec<&str> = balances
        .balances
        .iter()
        .map(|b| b.balance.as_str())
        .collect();
    held.sort_unstable();
    assert_eq!(held, ["EUR:0.00", "JPY:0"]);
    // Opened again from its directory: same handle, same pinned node.
    let again = Wallet::open(dir.path(), None).unwrap();
    assert_eq!(again.identity.handle.as_str(), "carol");
    assert_eq!(again.client.node_key(), wallet.client.node_key());
}
