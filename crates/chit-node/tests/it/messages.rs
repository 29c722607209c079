//! Sealed messages: posting, mailboxes, live delivery, retries, forgeries, and the node never
//! seeing a plaintext.

use std::time::Duration;

use chit_client::{Client, Event};
use chit_ledger_tests::engines;
use chit_node::db::Db;
use chit_node::store;
use chit_proto::{Handle, Signature};

use super::*;

#[test]
fn a_message_reaches_both_mailboxes_sealed_and_opens_for_each_member() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_client, alice) = node.user("alice");
        let (bob_client, bob) = node.user("bob");
        let bob_handle = Handle::new("bob").unwrap();
        let first = alice_client.say(&alice, &bob_handle, b"hello bob").unwrap();
        let second = alice_client.say(&alice, &bob_handle, b"lunch?").unwrap();
        assert_eq!((first.seq, second.seq), (1, 2), "{engine:?}");
        assert_eq!(first.conversation, "direct:alice:bob");
        let inbox = bob_client.mailbox(0, 100).unwrap();
        let texts: Vec<Vec<u8>> = inbox
            .iter()
            .map(|d| Client::open(&bob, &d.message).unwrap())
            .collect();
        assert_eq!(texts, [b"hello bob".to_vec(), b"lunch?".to_vec()]);
        assert!(inbox.windows(2).all(|w| w[0].cursor < w[1].cursor));
        // The sender's own devices can read what they sent.
        let sent = alice_client.mailbox(0, 100).unwrap();
        assert_eq!(
            Client::open(&alice, &sent[0].message).unwrap(),
            b"hello bob"
        );
        // Paging from a cursor.
        let after_first = bob_client.mailbox(inbox[0].cursor, 100).unwrap();
        assert_eq!(after_first.len(), 1);
    }
}

#[test]
fn a_retried_post_is_stored_once_and_a_reused_id_is_refused() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_client, alice) = node.user("alice");
        let (bob_client, _) = node.user("bob");
        let bob = Handle::new("bob").unwrap();
        let request = alice_client
            .seal_say(&alice, &bob, b"once", &chit_client::new_id())
            .unwrap();
        let first = alice_client.post_request(&request).unwrap();
        let again = alice_client.post_request(&request).unwrap();
        assert_eq!(first, again, "{engine:?}");
        assert_eq!(bob_client.mailbox(0, 100).unwrap().len(), 1);
        let other = alice_client
            .seal_say(&alice, &bob, b"different", &request.command.id)
            .unwrap();
        assert_eq!(
            alice_client.post_request(&other).unwrap_err().code(),
            Some("id_conflict")
        );
    }
}

#[test]
fn forged_or_mismatched_commands_are_rejected_and_change_nothing() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_client, alice) = node.user("alice");
        let (bob_client, _) = node.user("bob");
        let bob = Handle::new("bob").unwrap();
        let good = alice_client
            .seal_say(&alice, &bob, b"hi", &chit_client::new_id())
            .unwrap();
        let mut forged = good.clone();
        forged.signature = Signature([7; 64]);
        assert_eq!(
            alice_client.post_request(&forged).unwrap_err().code(),
            Some("bad_signature")
        );
        let mut swapped = good.clone();
        swapped.body = alice_client
            .seal_say(&alice, &bob, b"other", &good.command.id)
            .unwrap()
            .body;
        assert_eq!(
            alice_client.post_request(&swapped).unwrap_err().code(),
            Some("body_mismatch")
        );
        // Bob cannot post as Alice, even with Alice's valid signature.
        assert_eq!(
            bob_client.post_request(&good).unwrap_err().code(),
            Some("forbidden")
        );
        let nobody = Handle::new("nobody").unwrap();
        assert_eq!(
            alice_client.user(&nobody).unwrap_err().code(),
            Some("unknown_handle")
        );
        assert!(bob_client.mailbox(0, 100).unwrap().is_empty(), "{engine:?}");
    }
}

#[test]
fn a_live_subscriber_gets_the_message_at_once() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_client, alice) = node.user("alice");
        let (bob_client, bob) = node.user("bob");
        let mut listener = bob_client.listen().unwrap();
        listener.set_timeout(Some(Duration::from_secs(10))).unwrap();
        let sent = alice_client
            .say(&alice, &Handle::new("bob").unwrap(), b"live!")
            .unwrap();
        let Event::Delivery(delivery) = listener.next_event().unwrap() else {
            panic!("resync")
        };
        assert_eq!(delivery.message.id, sent.id, "{engine:?}");
        assert_eq!(Client::open(&bob, &delivery.message).unwrap(), b"live!");
    }
}

#[test]
fn a_known_plaintext_never_reaches_the_database() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let (mut alice_client, alice) = node.user("alice");
        let _ = node.user("bob");
        let secret = b"the-plaintext-canary-7f3a9c";
        alice_client
            .say(&alice, &Handle::new("bob").unwrap(), secret)
            .unwrap();
        match engine {
            chit_ledger_tests::Engine::Sqlite => {
                let mut scanned = 0;
                for entry in std::fs::read_dir(node.data_dir()).unwrap() {
                    let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                    scanned += bytes.len();
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret),
                        "plaintext on disk"
                    );
                }
                assert!(scanned > 0);
            }
            chit_ledger_tests::Engine::Postgres => {
                let mut client =
                    postgres::Client::connect(&node.db.location, postgres::NoTls).unwrap();
                let tables: Vec<String> = client
                    .query(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                        &[],
                    )
                    .unwrap()
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                assert!(tables.contains(&"messages".to_owned()));
                for table in tables {
                    let sql = format!(
                        "SELECT count(*) FROM {table} t WHERE t::text LIKE '%' || $1 || '%'"
                    );
                    let n: i64 = client
                        .query_one(&sql, &[&std::str::from_utf8(secret).unwrap()])
                        .unwrap()
                        .get(0);
                    assert_eq!(n, 0, "plaintext in table {table}");
                }
            }
        }
    }
}

/// Group commit: many jobs share a transaction, yet a job that fails or panics undoes only its
/// own writes (the batch is redone with each job in a savepoint) and the others are committed
/// and answered.
#[test]
fn a_failing_job_in_a_batch_undoes_only_itself() {
    for engine in engines() {
        let node = TestNode::start(engine);
        let db = node.node.db().clone();
        let threads: Vec<_> = (0..64u8)
            .map(|i| {
                let db = db.clone();
                std::thread::spawn(move || {
                    db.write_batched(Vec::new(), move |c| {
                        c.execute(
                            "INSERT INTO sessions (token_hash, handle, expires_at_ms) VALUES ($1, $2, $3)",
                            &[vec![i].into(), "probe".into(), chit_node::db::Value::Int(i64::MAX)],
                        )?;
                        if i % 3 == 0 {
                            return Err(chit_ledger::StoreError::Backend("job refuses".into()));
                        }
                        assert_ne!(i, 5, "job 5 panics after writing");
                        Ok(i)
                    })
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i % 3 != 0 && i != 5, "{engine:?} job {i}: {r:?}");
        }
        let stored = db
            .read(|c| {
                c.query(
                    "SELECT token_hash FROM sessions WHERE handle = 'probe'",
                    &[],
                )
            })
            .unwrap();
        let mut nonces: Vec<u8> = stored.iter().map(|r| r.blob(0).unwrap()[0]).collect();
        nonces.sort_unstable();
        let expected: Vec<u8> = (0..64).filter(|i| i % 3 != 0 && *i != 5).collect();
        assert_eq!(nonces, expected, "{engine:?}");
        assert!(
            db.batches_redone() >= 1,
            "{engine:?}: failing jobs redo their batch"
        );
    }
}

/// Two writers on one database (two nodes sharing PostgreSQL; two processes on one SQLite
/// file), each group-committing posts into the same conversation at once: the conversation and
/// each member's mailbox are numbered 1..=N without a gap or a repeat, and a retried id is
/// neither numbered nor delivered again.
#[test]
fn two_writers_number_one_conversation_without_gaps() {
    const THREADS_PER_WRITER: usize = 4;
    const POSTS_PER_THREAD: usize = 25;
    for engine in engines() {
        let test_db = TestDb::new(engine);
        let writers = two_writers(engine, &test_db);
        let members = vec![Handle::new("alice").unwrap(), Handle::new("bob").unwrap()];
        let mut threads = Vec::new();
        for (w, db) in writers.iter().enumerate() {
            for t in 0..THREADS_PER_WRITER {
                let (db, members) = (db.clone(), members.clone());
                threads.push(std::thread::spawn(move || {
                    for i in 0..POSTS_PER_THREAD {
                        let id = format!("m-{w}-{t}-{i}");
                        let first = post(&db, &members, &id).unwrap();
                        assert!(first.created);
                        assert_eq!(first.deliveries.len(), 2);
                        let again = post(&db, &members, &id).unwrap();
                        assert!(!again.created, "a retry posts nothing new");
                        assert_eq!(again.envelope.seq, first.envelope.seq);
                    }
                }));
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        let n = 2 * THREADS_PER_WRITER * POSTS_PER_THREAD;
        for member in &members {
            let mailbox = writers[0]
                .read(|c| store::mailbox(c, member, 0, 10 * n))
                .unwrap();
            let cursors: Vec<u64> = mailbox.iter().map(|d| d.cursor).collect();
            assert_eq!(cursors, (1..=n as u64).collect::<Vec<_>>(), "{engine:?}");
            let mut seqs: Vec<u64> = mailbox.iter().map(|d| d.message.seq).collect();
            seqs.sort_unstable();
            assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>(), "{engine:?}");
        }
    }
}

/// Two handles on one fresh database, as two nodes (or two processes on one SQLite file) have.
fn two_writers(engine: Engine, test_db: &TestDb) -> [Db; 2] {
    let open = || match engine {
        Engine::Sqlite => Db::sqlite(std::path::Path::new(&test_db.location)).unwrap(),
        Engine::Postgres => Db::postgres(&test_db.location).unwrap(),
    };
    [open(), open()]
}

/// Posts a bodiless text from the first of `members` through the batch writer, as the node
/// posts: one attempt, no retry. Its id is derived from `name`: one name, one message id.
fn post(db: &Db, members: &[Handle], name: &str) -> Result<store::Posted, chit_ledger::StoreError> {
    use chit_node::store::NewMessage;
    let mut members = members.to_vec();
    let sender = members[0].clone();
    members.sort();
    let conversation = format!("{}|{}", members[0], members[1]);
    let id = chit_proto::PaymentId::from(chit_core::TransferId::new(1).unwrap()).step_message(name);
    db.write_batched(store::posting_locks(&members, &id), move |c| {
        store::post_message(
            c,
            &NewMessage {
                id: &id,
                conversation: &conversation,
                conversation_kind: "direct",
                members: &members,
                sender: &sender,
                kind: "text",
                time_ms: 1,
                body: &Default::default(),
                command: None,
                signature: None,
                signer: None,
                payment: None,
                receipt: None,
            },
        )
    })
}

/// Regression: two writers on one PostgreSQL database (two nodes, each with its writers)
/// group-committing posts into conversations that share members (user0–user1, user1–user2, …)
/// deadlocked, each batch holding one member's counter rows and waiting for another's;
/// PostgreSQL broke the tie only after a second, with an error. Each batch now takes its jobs'
/// locks in one order before it writes: every post succeeds at its first attempt (a deadlock
/// would surface here as a conflict error, or as a batch redone) and every mailbox is numbered
/// without a gap.
#[test]
fn writers_posting_to_overlapping_conversations_never_deadlock() {
    const USERS: usize = 5;
    const THREADS_PER_WRITER: usize = 8;
    const POSTS_PER_THREAD: usize = 40;
    for engine in engines() {
        let test_db = TestDb::new(engine);
        let writers = two_writers(engine, &test_db);
        let users: Vec<Handle> = (0..USERS)
            .map(|u| Handle::new(&format!("user{u}")).unwrap())
            .collect();
        let mut threads = Vec::new();
        for (w, db) in writers.iter().enumerate() {
            for t in 0..THREADS_PER_WRITER {
                let (db, users) = (db.clone(), users.clone());
                threads.push(std::thread::spawn(move || {
                    for i in 0..POSTS_PER_THREAD {
                        // Each thread walks the conversations in its own order, so batches
                        // meet the same members in every order.
                        let a = (w * THREADS_PER_WRITER + t + i) % USERS;
                        let b = (a + 1 + (t + i) % (USERS - 1)) % USERS;
                        let members = [users[a].clone(), users[b].clone()];
                        let posted = post(&db, &members, &format!("m-{w}-{t}-{i}")).unwrap();
                        assert!(posted.created);
                    }
                }));
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        let mut delivered = 0;
        for user in &users {
            let mailbox = writers[0]
                .read(|c| store::mailbox(c, user, 0, 100_000))
                .unwrap();
            let cursors: Vec<u64> = mailbox.iter().map(|d| d.cursor).collect();
            assert_eq!(cursors, (1..=mailbox.len() as u64).collect::<Vec<_>>());
            delivered += mailbox.len();
        }
        assert_eq!(
            delivered,
            2 * 2 * THREADS_PER_WRITER * POSTS_PER_THREAD,
            "{engine:?}: every post in both members' mailboxes"
        );
        let redone: u64 = writers.iter().map(Db::batches_redone).sum();
        assert_eq!(redone, 0, "{engine:?}: no batch failed and was redone");
    }
}

/// Regression: message ids are the clients', so two conversations can race for one. Two
/// batches inserting ids X then Y and Y then X waited for each other's uncommitted rows
/// (a deadlock), or one failed on the unique index and its batch was redone. With a lock per
/// id taken up front, the later post of an id finds the first committed and writes nothing: no
/// error, no batch redone, each id stored once.
#[test]
fn posts_racing_for_the_same_ids_from_two_writers_never_fail() {
    const THREADS_PER_WRITER: usize = 8;
    const IDS: usize = 40;
    for engine in engines() {
        let test_db = TestDb::new(engine);
        let writers = two_writers(engine, &test_db);
        let mut threads = Vec::new();
        for (w, db) in writers.iter().enumerate() {
            for t in 0..THREADS_PER_WRITER {
                let db = db.clone();
                threads.push(std::thread::spawn(move || {
                    // A conversation of this thread's own; the shared ids, half of the
                    // threads from the first, half from the last.
                    let k = w * THREADS_PER_WRITER + t;
                    let members = [
                        Handle::new(&format!("own{k}a")).unwrap(),
                        Handle::new(&format!("own{k}b")).unwrap(),
                    ];
                    let mut created = 0;
                    for i in 0..IDS {
                        let n = if k.is_multiple_of(2) { i } else { IDS - 1 - i };
                        let id = format!("shared-{n}");
                        if post(&db, &members, &id).unwrap().created {
                            created += 1;
                        }
                    }
                    created
                }));
            }
        }
        let created: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(created, IDS, "{engine:?}: each id created once");
        let stored = writers[0]
            .read(|c| c.query("SELECT count(*) FROM messages", &[]))
            .unwrap();
        assert_eq!(stored[0].int(0).unwrap(), IDS as i64, "{engine:?}");
        let redone: u64 = writers.iter().map(Db::batches_redone).sum();
        assert_eq!(
            redone, 0,
            "{engine:?}: no insert waited for another's and failed"
        );
    }
}

/// The event stream carries nothing from the client but pings and the close: a larger message
/// ends the stream instead of being buffered (the library would take up to 64 MiB), and a
/// small one is ignored with the stream still delivering.
#[test]
fn an_event_stream_refuses_large_client_messages() {
    let node = TestNode::start(Engine::Sqlite);
    let (mut alice_c, alice) = node.user("alice");
    let (bob_c, _) = node.user("bob");
    let bob = Handle::new("bob").unwrap();
    let url = format!(
        "{}/v1/events?token={}",
        node.url.replacen("http://", "ws://", 1),
        bob_c.token().unwrap()
    );
    let (mut small, _) = tungstenite::connect(url.as_str()).unwrap();
    small
        .send(tungstenite::Message::Text("hello".into()))
        .unwrap();
    let (mut large, _) = tungstenite::connect(url.as_str()).unwrap();
    let text = "x".repeat(chit_http::EVENTS_INCOMING_BYTES_MAX + 1);
    large.send(tungstenite::Message::Text(text.into())).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = large.get_mut() {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let closed = loop {
        match large.read() {
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break false
            }
            Ok(tungstenite::Message::Close(_)) | Err(_) => break true,
            Ok(_) => {}
        }
    };
    assert!(closed, "the large message ended the stream");
    let sent = alice_c.say(&alice, &bob, b"still here").unwrap();
    let event: serde_json::Value =
        serde_json::from_str(small.read().unwrap().to_text().unwrap()).unwrap();
    assert_eq!(event["message"]["id"], sent.id.as_str());
}
