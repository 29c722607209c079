//! A payment's amount is stored as the ledger counts it (minor units, currency, decimals). Rows
//! an older node wrote hold only the text a wallet signed, in whatever form it used then; the
//! node fills their columns in when it opens, reading the text with its currencies, and leaves
//! a row none of them can read as it was.

use std::sync::Arc;

use chit_core::Currencies;
use chit_ledger_tests::{engines, Engine, TestDb};
use chit_node::db::Value;
use chit_node::{store, Node};
use chit_proto::IdentitySecret;

fn open(engine: Engine, db: &TestDb, dir: &std::path::Path, key: &IdentitySecret) -> Arc<Node> {
    let at = match engine {
        Engine::Sqlite => chit_node::StorageAt::Directory(dir),
        Engine::Postgres => chit_node::StorageAt::Postgres(&db.location),
    };
    let (node_db, ledger) =
        chit_node::open_storage(at, Arc::new(chit_ledger::SystemClock)).unwrap();
    let key = IdentitySecret::from_seed(key.to_seed());
    Node::new(node_db, ledger, key, Currencies::default()).unwrap()
}

/// A payment row as a node before the amount columns wrote it.
fn old_row(node: &Node, id: &str, amount: &str) {
    node.db()
        .write(|c| {
            c.execute(
                "INSERT INTO payments (id, kind, conversation_id, payer, payee, amount, state, \
                 expires_at_ms, body_digest, created_at_ms) \
                 VALUES ($1, 'offer', 'direct:alice:bob', 'alice', 'bob', $2, 'declined', 0, '', 0)",
                &[Value::from(id), Value::from(amount)],
            )
        })
        .unwrap();
}

#[test]
fn amounts_an_older_node_stored_as_text_are_filled_in_when_the_node_opens() {
    for engine in engines() {
        let db = TestDb::new(engine);
        let dir = tempfile::tempdir().unwrap();
        let key = IdentitySecret::generate();
        let first = open(engine, &db, dir.path(), &key);
        let (loose, canonical, unknown) = (
            "0123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcde0",
            "0123456789abcdef0123456789abcde1",
        );
        old_row(&first, loose, "12.5");
        old_row(&first, canonical, "EUR:0.07");
        old_row(&first, unknown, "XAU:1");
        let payment = |node: &Node, id: &str| {
            let id = id.parse().unwrap();
            node.db().read(|c| store::payment(c, &id)).unwrap().unwrap()
        };
        assert_eq!(payment(&first, loose).amount, None);
        drop(first);

        let again = open(engine, &db, dir.path(), &key);
        let filled = payment(&again, loose);
        assert_eq!(
            filled.amount.unwrap().to_string(),
            "EUR:12.50",
            "{engine:?}"
        );
        assert_eq!(filled.amount.unwrap().minor(), 1_250);
        assert_eq!(
            filled.part.amount, "12.5",
            "the text stays as it was signed"
        );
        assert_eq!(payment(&again, canonical).amount.unwrap().minor(), 7);
        // No configured currency reads it: left as text, the node still opens.
        assert_eq!(payment(&again, unknown).amount, None, "{engine:?}");
    }
}
